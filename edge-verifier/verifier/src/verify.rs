//! Token verification: the one place where tollgate decides validity.
//!
//! The order of checks is deliberate. Cheap structural checks come first and
//! the token's claims are only parsed once the signature has verified, so a
//! forged token costs at most one header parse and one signature check.
//!
//! 1. length (before any parsing), three base64url parts;
//! 2. header: `alg` in the allowlist, no `crit`/`b64`, `typ` = `at+jwt`,
//!    `kid` known, the key's pinned algorithm equal to `alg`;
//! 3. signature, via jwt-compact's algorithm implementations;
//! 4. claims: required ones present, `iss`, `aud`;
//! 5. time (`exp`, `nbf`, `iat` with leeway) and revocation, which also run
//!    on a cache hit because they change while a token stays the same.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_compact::{AlgorithmSignature, alg as jc};
use lru::LruCache;
use serde::Deserialize;

use crate::claims::{AccessClaims, RawClaims};
use crate::keys::{Algorithm, Key, KeySet};
use crate::{RevocationSet, VerifyError};

/// Longest token accepted, in bytes. Longer ones are refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Default clock-skew allowance, in seconds.
pub const DEFAULT_LEEWAY_SECS: u32 = 30;

/// Default number of verified tokens remembered.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// What a [`Verifier`] accepts. Build with [`VerifierOptions::new`] and
/// adjust the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifierOptions {
    /// The only accepted `iss`.
    pub issuer: String,
    /// The audience that `aud` must contain.
    pub audience: String,
    /// Algorithms accepted; a token must also match its key's algorithm.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: u32,
    /// How many verified tokens to remember (0 turns the cache off).
    pub cache_capacity: usize,
}

impl VerifierOptions {
    /// Options for tokens from `issuer` meant for `audience`, with every
    /// compiled-in algorithm, 30 s leeway and a 10,000-token cache.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        VerifierOptions {
            issuer: issuer.into(),
            audience: audience.into(),
            algorithms: Algorithm::ALL.to_vec(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }
}

/// Claims that passed every check. Only [`Verifier::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    claims: Arc<AccessClaims>,
}

impl Verified {
    /// The verified claims.
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }
}

impl core::ops::Deref for Verified {
    type Target = AccessClaims;

    fn deref(&self) -> &AccessClaims {
        &self.claims
    }
}

/// Verifies tollgate access tokens against a key set and a revocation set.
///
/// ```
/// use tollgate_verifier::{KeySet, RevocationSet, Verifier, VerifierOptions};
///
/// let options = VerifierOptions::new("https://issuer.example", "api");
/// let verifier = Verifier::new(options, KeySet::new());
/// let err = verifier.verify("not.a.token", 1_700_000_000, &RevocationSet::new()).unwrap_err();
/// assert_eq!(err.code().as_str(), "malformed");
/// ```
#[derive(Debug)]
pub struct Verifier {
    options: VerifierOptions,
    keys: KeySet,
    /// Tokens whose signature and static claims were verified, by exact text.
    cache: Option<Mutex<LruCache<Box<str>, Arc<AccessClaims>>>>,
}

impl Verifier {
    /// A verifier with these options and keys.
    pub fn new(options: VerifierOptions, keys: KeySet) -> Self {
        let cache = NonZeroUsize::new(options.cache_capacity).map(|n| Mutex::new(LruCache::new(n)));
        Verifier {
            options,
            keys,
            cache,
        }
    }

    /// The options in force.
    pub fn options(&self) -> &VerifierOptions {
        &self.options
    }

    /// The keys in force.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Replaces the keys (after a JWKS refetch). The cache is emptied, so a
    /// token signed by a key that was withdrawn stops verifying at once.
    pub fn set_keys(&mut self, keys: KeySet) {
        self.keys = keys;
        if let Some(cache) = &self.cache {
            cache.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }

    /// Verifies `token` at Unix time `now` (seconds), refusing it if its
    /// session or id is in `revocations`.
    pub fn verify(
        &self,
        token: &str,
        now: i64,
        revocations: &RevocationSet,
    ) -> Result<Verified, VerifyError> {
        // Before the cache: hashing a hostile megabyte-long "token" to look it
        // up would cost more than refusing it.
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TokenTooLarge { len: token.len() });
        }
        let claims = match self.cached(token) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.verify_uncached(token)?);
                self.remember(token, &claims);
                claims
            }
        };
        self.check_time(&claims, now)?;
        if revocations.is_revoked(&claims.sid, &claims.jti) {
            return Err(VerifyError::Revoked);
        }
        Ok(Verified { claims })
    }

    /// Where a tollgate access token travels in a request: `Authorization:
    /// Bearer <token>`, else the `access_token` cookie (for pages that cannot
    /// set headers). An `Authorization` header with another scheme means no
    /// token. The edge and the axum extractor both ask this.
    ///
    /// ```
    /// use tollgate_verifier::Verifier;
    /// assert_eq!(Verifier::token_from_headers(Some("Bearer abc"), None), Some("abc"));
    /// assert_eq!(Verifier::token_from_headers(None, Some("a=1; access_token=xyz")), Some("xyz"));
    /// assert_eq!(Verifier::token_from_headers(Some("Basic dXNlcg=="), Some("access_token=xyz")), None);
    /// ```
    pub fn token_from_headers<'a>(
        authorization: Option<&'a str>,
        cookie: Option<&'a str>,
    ) -> Option<&'a str> {
        if let Some(value) = authorization {
            let (scheme, token) = value.split_once(' ')?;
            return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
        }
        cookie?.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == "access_token").then_some(value)
        })
    }

    /// The key id a token names, if its header can be read at all. For
    /// adapters that refetch the JWKS on an unknown `kid`; it proves nothing.
    pub fn peek_kid(token: &str) -> Option<String> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (header, _) = token.split_once('.')?;
        let header: Header =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(header).ok()?).ok()?;
        header.kid
    }

    fn cached(&self, token: &str) -> Option<Arc<AccessClaims>> {
        let mut cache = self
            .cache
            .as_ref()?
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache.get(token).cloned()
    }

    fn remember(&self, token: &str, claims: &Arc<AccessClaims>) {
        if let Some(cache) = &self.cache {
            let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
            cache.put(token.into(), Arc::clone(claims));
        }
    }

    /// Everything that does not change while the token stays the same.
    /// The caller has checked the length.
    fn verify_uncached(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let parts = Parts::split(token)?;
        let header: Header = serde_json::from_slice(&parts.header)
            .map_err(|_| VerifyError::Malformed("header is not a JSON object of the JWS shape"))?;

        let alg = Algorithm::from_name(&header.alg)
            .filter(|alg| self.options.algorithms.contains(alg))
            .ok_or(VerifyError::UnsupportedAlg)?;
        if header.crit {
            // We implement no JWS extension, so any critical one is unknown (RFC 7515 §4.1.11).
            return Err(VerifyError::Malformed(
                "unsupported critical header parameter",
            ));
        }
        if header.b64 {
            return Err(VerifyError::Malformed(
                "unencoded payloads (b64) are not supported",
            ));
        }
        if !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.as_deref().ok_or(VerifyError::UnknownKid)?;
        let key = self.keys.get(kid).ok_or(VerifyError::UnknownKid)?;
        if key.algorithm() != alg {
            return Err(VerifyError::UnsupportedAlg);
        }
        if !verify_signature(key, parts.signing_input, &parts.signature) {
            return Err(VerifyError::BadSignature);
        }

        let claims: RawClaims = serde_json::from_slice(&parts.payload)
            .map_err(|_| VerifyError::Malformed("payload is not a JSON object of valid claims"))?;
        let claims = claims.require()?;
        if claims.iss != self.options.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if !claims.aud.contains(&self.options.audience) {
            return Err(VerifyError::WrongAudience);
        }
        Ok(claims)
    }

    fn check_time(&self, claims: &AccessClaims, now: i64) -> Result<(), VerifyError> {
        let leeway = i64::from(self.options.leeway_secs);
        // Valid while now < exp + leeway (RFC 7519 §4.1.4: "before" the expiry).
        if now >= claims.exp.saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        let latest_start = now.saturating_add(leeway);
        if claims.iat > latest_start || claims.nbf.is_some_and(|nbf| nbf > latest_start) {
            return Err(VerifyError::NotYetValid);
        }
        Ok(())
    }
}

/// RFC 9068 §4: `at+jwt`, optionally with the `application/` prefix (RFC 7515 §4.1.9).
fn is_access_token_type(typ: &str) -> bool {
    let typ = typ
        .get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    typ.eq_ignore_ascii_case("at+jwt")
}

/// The JOSE header members this verifier reads. Everything else, including
/// `jku`, `x5u`, `jwk` and `x5c`, is ignored: keys come only from the key set.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    b64: bool,
}

/// `true` for any value, `null` included: the member's presence is what counts.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// A compact JWS split and decoded.
struct Parts<'a> {
    header: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
    /// `header.payload` as sent: what the signature covers.
    signing_input: &'a [u8],
}

impl<'a> Parts<'a> {
    fn split(token: &'a str) -> Result<Self, VerifyError> {
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or(VerifyError::Malformed("expected three dot-separated parts"))?;
        let (header, payload) = signing_input
            .split_once('.')
            .filter(|(_, payload)| !payload.contains('.'))
            .ok_or(VerifyError::Malformed("expected three dot-separated parts"))?;
        let decode = |part: &str, what| {
            Base64UrlUnpadded::decode_vec(part).map_err(|_| VerifyError::Malformed(what))
        };
        Ok(Parts {
            header: decode(header, "header is not unpadded base64url")?,
            payload: decode(payload, "payload is not unpadded base64url")?,
            signature: decode(signature, "signature is not unpadded base64url")?,
            signing_input: signing_input.as_bytes(),
        })
    }
}

fn verify_signature(key: &Key, message: &[u8], signature: &[u8]) -> bool {
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
    match key {
        Key::EdDsa(key) => check(&jc::Ed25519, key, message, signature),
        Key::Es256(key) => check(&jc::Es256, key, message, signature),
        Key::Hs256(key) => check(&jc::Hs256, key, message, signature),
        #[cfg(feature = "rs256")]
        Key::Rs256(key) => check(&jc::Rsa::rs256(), key, message, signature),
    }
}
