//! DPoP (RFC 9449): proofs that the caller holds the key a token is bound to.
//!
//! Like the rest of the crate this does no I/O and reads no clock. The
//! caller passes the request's method and URL, the time, and (at a resource
//! server) the access token; it keeps a [`ReplayCache`] for the proofs' `jti`.
//!
//! A proof is checked as RFC 9449 §4.3 says, in this order:
//! 1. at most [`MAX_PROOF_LEN`] bytes, a compact JWS;
//! 2. header: `typ` `dpop+jwt`, `alg` in [`PROOF_ALGORITHMS`] (never `none`
//!    or a MAC), no `crit`, a `jwk` holding a public key only, of the type
//!    `alg` calls for;
//! 3. the signature, with that `jwk`;
//! 4. claims: `jti`, `htm` equal to the method, `htu` equal to the URL
//!    (without query or fragment, after scheme and host normalisation), `iat`
//!    within [`ProofRequest::max_age_secs`] in the past and the leeway in the
//!    future, `ath` equal to the token's hash when a token is presented;
//! 5. `nonce`, when the server asks for one (`use_dpop_nonce` otherwise).
//!
//! What comes out is the key's RFC 7638 thumbprint ([`Proof::jkt`]), which a
//! bound token's `cnf.jkt` must equal.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::VerifyError;
use crate::claims::numeric_date_ceil;
use crate::keys::{Algorithm, Jwk, parse_jwk};
use crate::verify::{Parts, SignatureCheck, present};

/// Longest proof accepted, in bytes; longer ones are refused unread.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// How old a proof's `iat` may be by default, in seconds (the leeway is added).
pub const DEFAULT_PROOF_MAX_AGE_SECS: u32 = 60;

/// Signature algorithms a proof may use: the asymmetric ones every browser's
/// WebCrypto has. `none` and HS256 never.
pub const PROOF_ALGORITHMS: &[Algorithm] = &[Algorithm::Es256, Algorithm::EdDsa];

/// Longest `jti` accepted, in bytes.
const MAX_JTI_LEN: usize = 256;

/// The request a proof must belong to.
#[derive(Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The HTTP method, e.g. `GET` (compared exactly, as RFC 9110 methods are case-sensitive).
    pub method: &'a str,
    /// The URL the client sent the request to, as the client saw it (the
    /// public one, not the one behind a proxy). A query or fragment is ignored.
    pub url: &'a str,
    /// The access token presented with the proof, if any: the proof's `ath`
    /// must then be its SHA-256 hash.
    pub access_token: Option<&'a str>,
    /// How old `iat` may be, in seconds.
    pub max_age_secs: u32,
    /// Clock skew allowed on `iat`, both ways, in seconds.
    pub leeway_secs: u32,
    /// When the server requires nonces: whether a nonce is one it issued
    /// and still accepts. `None` accepts proofs without a nonce.
    pub nonce: Option<&'a dyn Fn(&str) -> bool>,
}

impl<'a> ProofRequest<'a> {
    /// A request for `method` on `url`, with the default window and leeway,
    /// no access token and no nonce.
    pub fn new(method: &'a str, url: &'a str) -> Self {
        ProofRequest {
            method,
            url,
            access_token: None,
            max_age_secs: DEFAULT_PROOF_MAX_AGE_SECS,
            leeway_secs: crate::DEFAULT_LEEWAY_SECS,
            nonce: None,
        }
    }
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url.
    pub jkt: String,
    /// The proof's unique id.
    pub jti: String,
    /// When the proof was made, Unix seconds.
    pub iat: i64,
    /// Until when the proof's `iat` passes the window: a replay cache must
    /// remember it until then, and may forget it after.
    pub replayable_until: i64,
}

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
    let header: ProofHeader =
        serde_json::from_slice(&parts.header).map_err(|_| Invalid("proof header is malformed"))?;
    if !header.typ.as_deref().is_some_and(is_proof_type) {
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
    if PRIVATE_MEMBERS
        .iter()
        .any(|member| jwk.contains_key(*member))
    {
        return Err(Invalid("proof jwk holds a private key"));
    }
    let jwk: Jwk = serde_json::from_value(serde_json::Value::Object(jwk))
        .map_err(|_| Invalid("proof jwk is malformed"))?;
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
    let claims: ProofClaims = serde_json::from_slice(&prepared.payload)
        .map_err(|_| Invalid("proof claims are malformed"))?;
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
        let expected = Base64UrlUnpadded::encode_string(&Sha256::digest(token.as_bytes()));
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
    let claims: ProofClaims = serde_json::from_slice(&parts.payload).ok()?;
    claims.htu
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

/// Whether a `Host` header (or URI authority) is safe to build a URL from:
/// a name or address and an optional port, nothing that could add a path,
/// a query or user info to the URL a proof is checked against.
pub fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// Whether two URLs name the same resource as DPoP compares them: after
/// normalisation, ignoring any query and fragment.
pub fn same_url(a: &str, b: &str) -> bool {
    normalise_url(strip_query(a)) == normalise_url(strip_query(b))
}

/// The RFC 7638 SHA-256 thumbprint of a public key, base64url: the value of
/// `cnf.jkt` in a token bound to it. Only the required members, in
/// lexicographic order, go into the hash.
pub fn thumbprint(jwk: &Jwk) -> String {
    let member = |value: &Option<String>| {
        serde_json::to_string(value.as_deref().unwrap_or_default()).unwrap_or_default()
    };
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
    Base64UrlUnpadded::encode_string(&Sha256::digest(canonical.as_bytes()))
}

/// When a remembered proof leaves the window: (`iat` + window, proof id,
/// key id).
type Expiry = (i64, [u8; 16], [u8; 16]);

/// The `jti`s of accepted proofs, remembered until their `iat` leaves the
/// window, so each proof is used once.
///
/// It never forgets a proof early: an old proof forgotten could be
/// replayed. So it is bounded twice, and refuses rather than forgets:
/// - one key may have at most `per_key` proofs inside the window (a device
///   making more requests than that in about 2 minutes is refused, alone);
/// - all keys together at most `capacity` (then every new proof is refused
///   until some leave the window).
///
/// Each proof is held as a 16-byte hash of `jkt` and `jti`, each key's
/// count under a 16-byte hash of `jkt`: about 80 bytes a proof.
#[derive(Debug)]
pub struct ReplayCache {
    seen: HashSet<[u8; 16]>,
    per_key: HashMap<[u8; 16], u32>,
    by_expiry: BinaryHeap<Reverse<Expiry>>,
    capacity: usize,
    per_key_cap: u32,
}

/// Default number of proofs a [`ReplayCache`] holds at once (about 16 MB).
pub const DEFAULT_REPLAY_CAPACITY: usize = 200_000;

/// Default number of proofs one key may have inside the window: 1,000 in
/// about 2 minutes, a sustained 8 requests a second from one device.
pub const DEFAULT_REPLAY_PER_KEY: u32 = 1_000;

impl Default for ReplayCache {
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_CAPACITY, DEFAULT_REPLAY_PER_KEY)
    }
}

fn hash16(parts: &[&str]) -> [u8; 16] {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so no two splits of one string collide.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&hasher.finalize()[..16]);
    out
}

impl ReplayCache {
    /// A cache of at most `capacity` proofs inside their window, and at
    /// most `per_key` of any one key.
    pub fn new(capacity: usize, per_key: u32) -> Self {
        ReplayCache {
            seen: HashSet::new(),
            per_key: HashMap::new(),
            by_expiry: BinaryHeap::new(),
            capacity,
            per_key_cap: per_key,
        }
    }

    /// Records `proof` as used at `now`; refuses it if it was used before,
    /// or if its key, or the cache, is full of proofs still inside their
    /// window.
    pub fn first_use(&mut self, proof: &Proof, now: i64) -> Result<(), VerifyError> {
        while let Some(Reverse((until, _, _))) = self.by_expiry.peek() {
            if *until >= now {
                break;
            }
            if let Some(Reverse((_, id, key))) = self.by_expiry.pop() {
                self.seen.remove(&id);
                if let Some(count) = self.per_key.get_mut(&key) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        self.per_key.remove(&key);
                    }
                }
            }
        }
        let key = hash16(&[&proof.jkt]);
        let id = hash16(&[&proof.jkt, &proof.jti]);
        if self.seen.contains(&id) {
            return Err(VerifyError::InvalidDpopProof("proof was already used"));
        }
        let count = self.per_key.get(&key).copied().unwrap_or(0);
        if count >= self.per_key_cap {
            return Err(VerifyError::InvalidDpopProof(
                "too many proofs of this key inside the replay window; retry shortly",
            ));
        }
        if self.seen.len() >= self.capacity {
            return Err(VerifyError::InvalidDpopProof(
                "too many proofs inside the replay window; retry shortly",
            ));
        }
        self.seen.insert(id);
        self.per_key.insert(key, count + 1);
        self.by_expiry
            .push(Reverse((proof.replayable_until, id, key)));
        Ok(())
    }

    /// How many proofs are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no proof is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// JWK members that only a private or symmetric key has (RFC 7518 §6).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[derive(Deserialize)]
struct ProofHeader {
    typ: Option<String>,
    alg: String,
    jwk: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    #[serde(default, deserialize_with = "numeric_date_ceil")]
    iat: Option<i64>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// `dpop+jwt`, optionally with the `application/` prefix, in any case.
fn is_proof_type(typ: &str) -> bool {
    let typ = typ
        .get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map_or(typ, |_| &typ[12..]);
    typ.eq_ignore_ascii_case("dpop+jwt")
}

/// `http://` or `https://` (any case) with a host after it.
fn is_http_url(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, rest)| {
        (scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http"))
            && !rest.is_empty()
            && !rest.starts_with('/')
    })
}

fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Syntax- and scheme-based normalisation (RFC 3986 §6.2.2 and §6.2.3, as
/// RFC 9449 §4.3 asks): scheme and host in lower case, the default port
/// dropped, an empty path as `/`, percent-escapes in upper case.
pub(crate) fn normalise_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    let authority = authority.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host.to_owned(),
        _ => authority,
    };
    let mut normal = String::with_capacity(url.len());
    normal.push_str(&scheme);
    normal.push_str("://");
    normal.push_str(&authority);
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        normal.push(c);
        if c == '%' {
            normal.extend(chars.by_ref().take(2).map(|c| c.to_ascii_uppercase()));
        }
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalise_scheme_host_port_and_escapes() {
        assert_eq!(
            normalise_url("HTTPS://Api.Example.com:443/a%2fb"),
            "https://api.example.com/a%2Fb"
        );
        assert_eq!(normalise_url("http://example.com"), "http://example.com/");
        assert_eq!(
            normalise_url("http://example.com:8080/x"),
            "http://example.com:8080/x"
        );
        assert_ne!(
            normalise_url("https://example.com/a"),
            normalise_url("https://example.com/A")
        );
    }

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

    #[test]
    fn the_replay_cache_forgets_only_after_the_window() {
        let proof = |jti: &str, until: i64| Proof {
            jkt: "k".into(),
            jti: jti.into(),
            iat: 0,
            replayable_until: until,
        };
        let mut cache = ReplayCache::new(2, 10);
        assert!(cache.first_use(&proof("a", 100), 0).is_ok());
        assert!(cache.first_use(&proof("a", 100), 50).is_err());
        assert!(cache.first_use(&proof("b", 100), 50).is_ok());
        // Full of live proofs: a third is refused, none is forgotten early.
        assert!(cache.first_use(&proof("c", 100), 60).is_err());
        assert!(cache.first_use(&proof("a", 100), 100).is_err());
        // Past the window both are gone.
        assert!(cache.first_use(&proof("c", 300), 101).is_ok());
        assert!(cache.first_use(&proof("a", 300), 101).is_ok());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn one_key_cannot_fill_the_replay_cache_for_the_others() {
        let proof = |jkt: &str, jti: &str| Proof {
            jkt: jkt.into(),
            jti: jti.into(),
            iat: 0,
            replayable_until: 100,
        };
        let mut cache = ReplayCache::new(100, 3);
        for jti in ["1", "2", "3"] {
            assert!(cache.first_use(&proof("greedy", jti), 0).is_ok());
        }
        assert!(cache.first_use(&proof("greedy", "4"), 0).is_err());
        assert!(cache.first_use(&proof("other", "1"), 0).is_ok());
        // Once the greedy key's proofs leave the window it may go on.
        assert!(cache.first_use(&proof("greedy", "5"), 101).is_ok());
    }
}
