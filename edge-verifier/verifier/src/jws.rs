//! Compact JWS (RFC 7515) as tokens and DPoP proofs use it: the three parts
//! split and decoded, the header members a verifier reads, and the
//! signature still to check ([`SignatureCheck`]), which the crate checks
//! itself with the `native` feature or hands to the platform's crypto.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use std::borrow::Cow;

use crate::algorithm::Algorithm;
use crate::bounds::MAX_TOKEN_LEN;
use crate::error::VerifyError;
use crate::json::{self, Reader};
use crate::keys::{Jwk, Key};

/// Refuses what is longer than [`MAX_TOKEN_LEN`] before anything reads it.
pub(crate) fn check_len(token: &str) -> Result<(), VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::TokenTooLarge { len: token.len() });
    }
    Ok(())
}

/// Refuses what cannot be a compact JWS at all (too long; a character
/// outside base64url; other than two dots) without decoding it, so a
/// request carrying it is answered before it waits for any sync: the
/// client's mistake is a 401, never a 503 while the state is stale.
pub(crate) fn check_shape(token: &str) -> Result<(), VerifyError> {
    check_len(token)?;
    let mut dots = 0;
    for &byte in token.as_bytes() {
        match SHAPE[usize::from(byte)] {
            Shape::Base64Url => {}
            Shape::Dot => dots += 1,
            Shape::Other => {
                return Err(VerifyError::Malformed(
                    "not a compact JWS: a character outside base64url",
                ));
            }
        }
    }
    if dots != 2 {
        return Err(VerifyError::Malformed("expected three dot-separated parts"));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Shape {
    Base64Url,
    Dot,
    Other,
}

/// What each byte is to [`check_shape`]: one load per byte, where a chain
/// of range tests cost a microsecond a token in wasm.
const SHAPE: [Shape; 256] = {
    let mut table = [Shape::Other; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = match byte as u8 {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => Shape::Base64Url,
            b'.' => Shape::Dot,
            _ => Shape::Other,
        };
        byte += 1;
    }
    table
};

/// A compact JWS split and decoded.
pub(crate) struct Parts<'a> {
    pub(crate) header: Vec<u8>,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
    /// `header.payload` as sent: what the signature covers.
    pub(crate) signing_input: &'a [u8],
}

impl<'a> Parts<'a> {
    pub(crate) fn split(token: &'a str) -> Result<Self, VerifyError> {
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or(VerifyError::Malformed("expected three dot-separated parts"))?;
        let (header, payload) = signing_input
            .split_once('.')
            .filter(|(_, payload)| !payload.contains('.'))
            .ok_or(VerifyError::Malformed("expected three dot-separated parts"))?;
        // The parts are public, so a table-driven decoder will do: base64ct's
        // constant-time one was the largest single cost of a first-seen
        // token in wasm. Unpadded, canonical only (no stray trailing bits).
        let decode = |part: &str, what| {
            BASE64URL
                .decode(part)
                .map_err(|_| VerifyError::Malformed(what))
        };
        Ok(Parts {
            header: decode(header, "header is not unpadded base64url")?,
            payload: decode(payload, "payload is not unpadded base64url")?,
            signature: decode(signature, "signature is not unpadded base64url")?,
            signing_input: signing_input.as_bytes(),
        })
    }
}

/// The JOSE header members a token verifier reads. Everything else,
/// including `jku`, `x5u`, `jwk` and `x5c`, is ignored: keys come only from
/// the key set.
pub(crate) struct Header<'a> {
    pub(crate) alg: Cow<'a, str>,
    pub(crate) kid: Option<Cow<'a, str>>,
    pub(crate) typ: Option<Cow<'a, str>>,
    /// Whether `crit` is present, whatever its value (`null` included).
    pub(crate) crit: bool,
    /// Whether `b64` is present, whatever its value.
    pub(crate) b64: bool,
}

impl<'a> Header<'a> {
    /// Reads a decoded header: a JSON object with a string `alg`; `kid`
    /// and `typ` strings or `null`; each member at most once.
    pub(crate) fn read(json: &'a [u8]) -> Result<Self, json::Error> {
        let mut alg = None;
        let (mut kid, mut typ, mut crit, mut b64) = (None, None, false, false);
        Reader::document(json, |r| {
            r.members(&["alg", "kid", "typ", "crit", "b64"], &mut |r, member| {
                match member {
                    0 => alg = Some(r.str()?),
                    1 => kid = optional(r)?,
                    2 => typ = optional(r)?,
                    3 => crit = !r.skip()?.is_empty(),
                    _ => b64 = !r.skip()?.is_empty(),
                }
                Ok(())
            })?;
            Ok(Header {
                alg: alg
                    .take()
                    .ok_or_else(|| r.fail("the header has no `alg`"))?,
                kid: kid.take(),
                typ: typ.take(),
                crit,
                b64,
            })
        })
    }

    /// The `kid` a compact JWS's header names, read without any check.
    pub(crate) fn peek_kid(token: &str) -> Option<String> {
        let (header, _) = token.split_once('.')?;
        let header = BASE64URL.decode(header).ok()?;
        Some(Header::read(&header).ok()?.kid?.into_owned())
    }
}

/// A string member that may be `null`.
fn optional<'a>(r: &mut Reader<'a>) -> Result<Option<Cow<'a, str>>, json::Error> {
    if r.null()? {
        return Ok(None);
    }
    r.str().map(Some)
}

/// A signature still to check: the key (pinned to its algorithm), the
/// signed bytes and the signature. The crate checks it itself with the
/// `native` feature ([`SignatureCheck::verify`]); a caller with faster
/// crypto at hand (WebCrypto in workerd and browsers) checks it there,
/// importing [`SignatureCheck::jwk`] for [`SignatureCheck::algorithm`].
#[derive(Clone)]
pub struct SignatureCheck {
    key: Key,
    message: Vec<u8>,
    signature: Vec<u8>,
}

impl SignatureCheck {
    pub(crate) fn new(key: Key, message: Vec<u8>, signature: Vec<u8>) -> Self {
        SignatureCheck {
            key,
            message,
            signature,
        }
    }

    /// The algorithm the signature must be of: the key's pinned one.
    pub fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    /// The key's JWK (public members; the secret `k` of an HS256 key).
    pub fn jwk(&self) -> &Jwk {
        self.key.jwk()
    }

    /// [`jwk`](Self::jwk) as JSON text, made once per key: a cheap map key
    /// for the platform keys a caller imports.
    pub fn jwk_json(&self) -> &str {
        self.key.jwk_json()
    }

    /// A number for the key, unique in this process and never reused (a
    /// key parsed again, from a refetched JWKS or another proof, gets a new
    /// one): a caller keys the platform keys it imported by it without
    /// reading [`jwk_json`](Self::jwk_json). Text keys equal JWKs alike.
    pub fn key_serial(&self) -> u64 {
        self.key.serial()
    }

    /// The signed bytes (`header.payload` as sent).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The signature: raw `r‖s` for ES256 (as WebCrypto takes it), 64 bytes
    /// for EdDSA, 32 for HS256, the modulus's length for RS256 and PS256.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Checks it with the crate's own implementations; `false` for an
    /// algorithm this build leaves to the platform ([`Self::verifiable_here`]).
    #[cfg(feature = "native")]
    pub fn verify(&self) -> bool {
        verify_signature(&self.key, &self.message, &self.signature)
    }

    /// Whether [`Self::verify`] can check this signature: not an RSA one
    /// in a build without the `rsa` feature.
    #[cfg(feature = "native")]
    pub fn verifiable_here(&self) -> bool {
        self.key.native().is_some()
    }
}

impl core::fmt::Debug for SignatureCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignatureCheck")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "native")]
fn verify_signature(key: &Key, message: &[u8], signature: &[u8]) -> bool {
    use crate::keys::NativeKey;
    use jwt_compact::{AlgorithmSignature, alg as jc};
    fn check<A: jwt_compact::Algorithm>(
        alg: &A,
        key: &A::VerifyingKey,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        if A::Signature::LENGTH.is_some_and(|len| len.get() != signature.len()) {
            return false;
        }
        A::Signature::try_from_slice(signature)
            .is_ok_and(|signature| alg.verify_signature(&signature, key, message))
    }
    let Some(native) = key.native() else {
        // This build cannot check the algorithm; the platform must.
        return false;
    };
    match native {
        NativeKey::EdDsa(key) => check(&jc::Ed25519, key, message, signature),
        NativeKey::Es256(key) => check(&jc::Es256, key, message, signature),
        NativeKey::Hs256(key) => check(&jc::Hs256, key, message, signature),
        #[cfg(feature = "rsa")]
        NativeKey::Rsa(rsa) => match key.algorithm() {
            Algorithm::Ps256 => check(&jc::Rsa::ps256(), rsa, message, signature),
            _ => check(&jc::Rsa::rs256(), rsa, message, signature),
        },
    }
}
