//! One proof: its header and key, its signature (checked by the caller or
//! the crate), and its claims against the request it came with.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use sha2::{Digest, Sha256};

use super::url::{is_http_url, same_url};
use super::{MAX_JTI_LEN, MAX_PROOF_LEN, PROOF_ALGORITHMS, Proof, ProofRequest};
use crate::algorithm::Algorithm;
use crate::error::VerifyError;
use crate::json::{self, Reader};
use crate::jws::{Parts, SignatureCheck};
use crate::keys::{Jwk, parse_jwk};
use crate::media_type::is_type;

/// Checks one DPoP proof against the request it came with, at Unix time
/// `now`: [`prepare_proof`], the signature by the crate, [`finish_proof`].
#[cfg(feature = "native")]
pub fn verify_proof(
    proof: &str,
    request: &ProofRequest<'_>,
    now: i64,
) -> Result<Proof, VerifyError> {
    let prepared = prepare_proof(proof)?;
    let ok = prepared.check().verify();
    finish_proof(prepared, ok, request, now)
}

/// A proof whose header passed, with its signature still to check.
#[derive(Debug)]
pub struct PreparedProof {
    check: SignatureCheck,
    jwk: Jwk,
    payload: Vec<u8>,
}

impl PreparedProof {
    /// The proof's signature, by the key in its own `jwk` header.
    pub fn check(&self) -> &SignatureCheck {
        &self.check
    }
}

/// Everything about a proof that does not need the request: size, shape,
/// `typ`, `alg`, `crit`, and a public `jwk` of the type `alg` calls for.
pub fn prepare_proof(proof: &str) -> Result<PreparedProof, VerifyError> {
    use VerifyError::InvalidDpopProof as Invalid;
    if proof.len() > MAX_PROOF_LEN {
        return Err(Invalid("proof is larger than 8 KiB"));
    }
    let parts = Parts::split(proof).map_err(|_| Invalid("proof is not a compact JWS"))?;
    let header =
        ProofHeader::read(&parts.header).map_err(|_| Invalid("proof header is malformed"))?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|typ| is_type(typ, "dpop+jwt"))
    {
        return Err(Invalid("proof typ is not dpop+jwt"));
    }
    // `Ed25519` is RFC 9864's fully specified name for EdDSA over Ed25519,
    // which newer JOSE libraries write in proofs (panva's `dpop` does).
    // Access tokens keep the fixed allowlist's names only.
    let alg = (if header.alg == "Ed25519" {
        Some(Algorithm::EdDsa)
    } else {
        Algorithm::from_name(&header.alg)
    })
    .filter(|alg| PROOF_ALGORITHMS.contains(alg))
    .ok_or(Invalid("proof alg is not ES256 or EdDSA"))?;
    if header.crit {
        return Err(Invalid("proof has a critical header parameter"));
    }
    let jwk = header.jwk.ok_or(Invalid("proof header has no jwk"))?;
    if has_private_member(jwk) {
        return Err(Invalid("proof jwk holds a private key"));
    }
    let jwk = Reader::document(jwk, Jwk::read).map_err(|_| Invalid("proof jwk is malformed"))?;
    let key = parse_jwk(&jwk, "dpop")
        .ok()
        .flatten()
        .ok_or(Invalid("proof jwk is not a usable public key"))?;
    if key.algorithm() != alg {
        return Err(Invalid("proof alg does not match its jwk"));
    }
    Ok(PreparedProof {
        check: SignatureCheck::new(key, parts.signing_input.to_vec(), parts.signature),
        jwk,
        payload: parts.payload,
    })
}

/// The rest, once the caller knows whether the signature verified: the
/// claims against the request, and the nonce.
pub fn finish_proof(
    prepared: PreparedProof,
    signature_ok: bool,
    request: &ProofRequest<'_>,
    now: i64,
) -> Result<Proof, VerifyError> {
    use VerifyError::InvalidDpopProof as Invalid;
    if !signature_ok {
        return Err(Invalid("proof signature is invalid"));
    }
    let claims =
        ProofClaims::read(&prepared.payload).map_err(|_| Invalid("proof claims are malformed"))?;
    let jti = claims
        .jti
        .filter(|jti| !jti.is_empty() && jti.len() <= MAX_JTI_LEN)
        .ok_or(Invalid("proof has no usable jti"))?;
    if request.method.is_empty() || claims.htm.as_deref() != Some(request.method) {
        return Err(Invalid("proof htm does not match the request method"));
    }
    let htu = claims.htu.ok_or(Invalid("proof has no htu"))?;
    // An adapter that forgot the request's URL must not turn the check
    // into "any URL": both must be absolute http(s) URLs.
    if !is_http_url(&htu) || !is_http_url(request.url) {
        return Err(Invalid(
            "proof htu and the request URL must be absolute http(s) URLs",
        ));
    }
    if htu.contains(['?', '#']) {
        return Err(Invalid("proof htu has a query or fragment"));
    }
    if !same_url(&htu, request.url) {
        return Err(Invalid("proof htu does not match the request URL"));
    }
    let iat = claims.iat.ok_or(Invalid("proof has no iat"))?;
    let leeway = i64::from(request.leeway_secs);
    let oldest = now
        .saturating_sub(i64::from(request.max_age_secs))
        .saturating_sub(leeway);
    if iat < oldest || iat > now.saturating_add(leeway) {
        return Err(Invalid("proof iat is outside the accepted window"));
    }
    if let Some(token) = request.access_token {
        let expected = BASE64URL.encode(Sha256::digest(token.as_bytes()));
        if claims.ath.as_deref() != Some(expected.as_str()) {
            return Err(Invalid("proof ath does not match the access token"));
        }
    }
    if let Some(accepts) = request.nonce {
        if !claims.nonce.as_deref().is_some_and(accepts) {
            return Err(VerifyError::UseDpopNonce);
        }
    }
    Ok(Proof {
        jkt: thumbprint(&prepared.jwk),
        jti,
        iat,
        replayable_until: iat
            .saturating_add(i64::from(request.max_age_secs))
            .saturating_add(2 * leeway),
    })
}

/// The `htu` a proof names, read without any check. For a server reachable
/// at several URLs, to pick which one to check the proof against with
/// [`verify_proof`]; it proves nothing by itself.
pub fn peek_htu(proof: &str) -> Option<String> {
    if proof.len() > MAX_PROOF_LEN {
        return None;
    }
    let parts = Parts::split(proof).ok()?;
    ProofClaims::read(&parts.payload).ok()?.htu
}

/// The URL to check a proof for `path` against, for a server clients reach
/// at several public origins (`https://api.example.com`, the edge's, ...):
/// the origin plus path that the proof's `htu` names if it names one of
/// them, else the first. [`verify_proof`] then checks the proof against it,
/// so a proof naming any other URL still fails.
pub fn choose_url<S: AsRef<str>>(proof: &str, origins: &[S], path: &str) -> String {
    let candidate = |origin: &S| format!("{}{path}", origin.as_ref().trim_end_matches('/'));
    let named = peek_htu(proof).and_then(|htu| {
        origins
            .iter()
            .map(candidate)
            .find(|url| same_url(url, &htu))
    });
    named
        .or_else(|| origins.first().map(candidate))
        .unwrap_or_default()
}

/// The RFC 7638 SHA-256 thumbprint of a public key, base64url: the value of
/// `cnf.jkt` in a token bound to it. Only the required members, in
/// lexicographic order, go into the hash.
pub fn thumbprint(jwk: &Jwk) -> String {
    let member = |value: &Option<String>| json::string(value.as_deref().unwrap_or_default());
    let canonical = match jwk.kty.as_str() {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            member(&jwk.crv),
            member(&jwk.x),
            member(&jwk.y)
        ),
        "OKP" => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            member(&jwk.crv),
            member(&jwk.x)
        ),
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            member(&jwk.e),
            member(&jwk.n)
        ),
        _ => format!(r#"{{"k":{},"kty":"oct"}}"#, member(&jwk.k)),
    };
    BASE64URL.encode(Sha256::digest(canonical.as_bytes()))
}

/// JWK members that only a private or symmetric key has (RFC 7518 §6).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Whether a `jwk` header member (an object) has a member that only a
/// private or symmetric key has.
fn has_private_member(jwk: &[u8]) -> bool {
    let mut private = false;
    // The text was read whole as an object already.
    let _ = Reader::document(jwk, |r| {
        r.object(&mut |r, name| {
            private |= PRIVATE_MEMBERS.contains(&name);
            r.skip().map(drop)
        })
    });
    private
}

/// A proof's header: `alg` required; `typ` a string or `null`; `jwk` an
/// object (its text, read as a key once checked); `crit` present or not.
struct ProofHeader<'a> {
    typ: Option<String>,
    alg: String,
    jwk: Option<&'a [u8]>,
    crit: bool,
}

impl<'a> ProofHeader<'a> {
    fn read(json: &'a [u8]) -> Result<Self, json::Error> {
        let (mut typ, mut alg, mut jwk, mut crit) = (None, None, None, false);
        Reader::document(json, |r| {
            r.members(&["typ", "alg", "jwk", "crit"], &mut |r, member| {
                match member {
                    0 => typ = r.opt_string()?,
                    1 => alg = Some(r.string()?),
                    2 => {
                        if !r.null()? {
                            if r.kind()? != json::Kind::Object {
                                return Err(r.fail("`jwk` is not an object"));
                            }
                            jwk = Some(r.skip()?);
                        }
                    }
                    _ => crit = !r.skip()?.is_empty(),
                }
                Ok(())
            })?;
            Ok(ProofHeader {
                typ: typ.take(),
                alg: alg
                    .take()
                    .ok_or_else(|| r.fail("the proof header has no `alg`"))?,
                jwk,
                crit,
            })
        })
    }
}

/// A proof's claims: each optional, strings or `null`, `iat` a NumericDate.
#[derive(Default)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<i64>,
    ath: Option<String>,
    nonce: Option<String>,
}

impl ProofClaims {
    fn read(json: &[u8]) -> Result<Self, json::Error> {
        const NAMES: [&str; 6] = ["jti", "htm", "htu", "iat", "ath", "nonce"];
        let mut claims = ProofClaims::default();
        Reader::document(json, |r| {
            r.members(&NAMES, &mut |r, member| {
                let c = &mut claims;
                match member {
                    0 => c.jti = r.opt_string()?,
                    1 => c.htm = r.opt_string()?,
                    2 => c.htu = r.opt_string()?,
                    3 => c.iat = Some(r.numeric_date(true)?),
                    4 => c.ath = r.opt_string()?,
                    _ => c.nonce = r.opt_string()?,
                }
                Ok(())
            })
        })?;
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1's RSA example.
        let jwk = Jwk {
            kty: "RSA".into(),
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into()),
            e: Some("AQAB".into()),
            ..Jwk::default()
        };
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
