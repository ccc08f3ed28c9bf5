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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use lru::LruCache;
use serde::Deserialize;

use crate::claims::{AccessClaims, RawClaims};
use crate::dpop::{ProofRequest, ReplayCache};
use crate::keys::{Algorithm, Jwk, Key, KeySet};
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
    /// How old a DPoP proof's `iat` may be, in seconds (the leeway is added).
    pub proof_max_age_secs: u32,
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
            proof_max_age_secs: crate::dpop::DEFAULT_PROOF_MAX_AGE_SECS,
        }
    }
}

/// The authorization scheme a token came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750), or the `access_token` cookie.
    Bearer,
    /// `Authorization: DPoP` (RFC 9449): a proof must come with it.
    Dpop,
}

/// What a request presents, for [`Verifier::verify_request`]. Its `Debug`
/// shows neither the token nor the proofs.
#[derive(Clone, Copy)]
pub struct Presented<'a> {
    /// How the token came.
    pub scheme: Scheme,
    /// The access token.
    pub token: &'a str,
    /// Every `DPoP` header value of the request (exactly one is required
    /// with the DPoP scheme).
    pub proofs: &'a [&'a str],
    /// The request method.
    pub method: &'a str,
    /// The URL the client addressed, as it saw it (the public one).
    pub url: &'a str,
}

impl core::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Presented")
            .field("scheme", &self.scheme)
            .field("proofs", &self.proofs.len())
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
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

    /// The signed bytes (`header.payload` as sent).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The signature: raw `r‖s` for ES256 (as WebCrypto takes it), 64 bytes
    /// for EdDSA, 32 for HS256.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Checks it with the crate's own implementations.
    #[cfg(feature = "native")]
    pub fn verify(&self) -> bool {
        verify_signature(&self.key, &self.message, &self.signature)
    }
}

impl core::fmt::Debug for SignatureCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignatureCheck")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// Numbers verifiers: each starts its key generations at its own number.
static NEXT_VERIFIER: AtomicU64 = AtomicU64::new(1);

/// A token before its signature is checked, or its cached claims.
enum TokenStage {
    Cached(Arc<AccessClaims>),
    Unchecked {
        check: Box<SignatureCheck>,
        payload: Vec<u8>,
        /// The token as begun: what the cache remembers the claims under,
        /// and what finishing checks the request still presents.
        token: Box<str>,
    },
}

// By hand: the token is a credential, and Debug output must not carry it.
impl core::fmt::Debug for TokenStage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TokenStage::Cached(_) => "Cached",
            TokenStage::Unchecked { .. } => "Unchecked",
        })
    }
}

impl TokenStage {
    fn check(&self) -> Option<&SignatureCheck> {
        match self {
            TokenStage::Cached(_) => None,
            TokenStage::Unchecked { check, .. } => Some(check),
        }
    }
}

/// A request between [`Verifier::begin_request`] and
/// [`Verifier::finish_request`]: the signatures still to check.
#[derive(Debug)]
pub struct PendingRequest {
    generation: u64,
    token: TokenStage,
    proof: Option<Result<crate::dpop::PreparedProof, VerifyError>>,
}

impl PendingRequest {
    /// The token's signature, unless the token was verified before (cached).
    pub fn token_check(&self) -> Option<&SignatureCheck> {
        self.token.check()
    }

    /// The DPoP proof's signature, if the request carries one proof that
    /// parsed far enough to have one.
    pub fn proof_check(&self) -> Option<&SignatureCheck> {
        match &self.proof {
            Some(Ok(proof)) => Some(proof.check()),
            _ => None,
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
    /// Bumped whenever the keys are replaced, so a check begun under the
    /// old keys is not finished under the new ones.
    generation: u64,
}

impl Verifier {
    /// A verifier with these options and keys.
    pub fn new(options: VerifierOptions, keys: KeySet) -> Self {
        let cache = NonZeroUsize::new(options.cache_capacity).map(|n| Mutex::new(LruCache::new(n)));
        Verifier {
            options,
            keys,
            cache,
            // Unique across verifiers, so a pending request cannot be
            // finished by a verifier other than the one that began it.
            generation: NEXT_VERIFIER.fetch_add(1, Ordering::Relaxed) << 32,
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
        self.generation = self.generation.wrapping_add(1);
        if let Some(cache) = &self.cache {
            cache.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }

    /// Verifies `token`, presented as a Bearer token, at Unix time `now`
    /// (seconds), refusing it if its session or id is in `revocations`. A
    /// DPoP-bound token (one with `cnf.jkt`) is refused with
    /// `invalid_dpop_proof`: it is worth nothing without a proof of its key,
    /// which [`verify_request`](Self::verify_request) checks.
    #[cfg(feature = "native")]
    pub fn verify(
        &self,
        token: &str,
        now: i64,
        revocations: &RevocationSet,
    ) -> Result<Verified, VerifyError> {
        let verified = self.inspect(token, now, revocations)?;
        if verified.claims.cnf.is_some() {
            return Err(VerifyError::InvalidDpopProof(
                "a DPoP-bound token must be sent with the DPoP scheme and a proof",
            ));
        }
        Ok(verified)
    }

    /// Checks the token alone: signature, claims, time and revocation, but
    /// not how it was presented, so a DPoP-bound token passes without its
    /// proof. For an authorization server acting on a token it is handed
    /// (RFC 7009 revocation, introspection); a resource server uses
    /// [`verify`](Self::verify) or [`verify_request`](Self::verify_request).
    #[cfg(feature = "native")]
    pub fn inspect(
        &self,
        token: &str,
        now: i64,
        revocations: &RevocationSet,
    ) -> Result<Verified, VerifyError> {
        let stage = self.token_stage(token)?;
        let ok = stage.check().is_none_or(SignatureCheck::verify);
        let claims = self.token_claims(stage, ok)?;
        self.check_live(claims, now, revocations)
    }

    /// Verifies what a request presents: the token as [`verify`](Self::verify)
    /// does, and its binding (RFC 9449 §7). A token with `cnf.jkt` needs the
    /// DPoP scheme and exactly one proof, made by that key for this method,
    /// URL and token, not used before (`replay` remembers it). A bound token
    /// sent as Bearer, or an unbound one sent as DPoP, is refused with
    /// `invalid_dpop_proof`. An unbound Bearer token needs no proof.
    ///
    /// The same as [`begin_request`](Self::begin_request), the signatures
    /// checked by the crate, then [`finish_request`](Self::finish_request).
    #[cfg(feature = "native")]
    pub fn verify_request(
        &self,
        presented: &Presented<'_>,
        now: i64,
        revocations: &RevocationSet,
        replay: &mut ReplayCache,
    ) -> Result<Verified, VerifyError> {
        let pending = self.begin_request(presented)?;
        let token_ok = pending.token_check().is_none_or(SignatureCheck::verify);
        let proof_ok = pending.proof_check().is_none_or(SignatureCheck::verify);
        // Nothing replaced the keys in between: this is one call.
        self.finish_request(
            presented,
            pending,
            token_ok,
            proof_ok,
            now,
            revocations,
            replay,
        )
        .unwrap_or(Err(VerifyError::UnknownKid))
    }

    /// The first half of [`verify_request`](Self::verify_request), for a
    /// caller that checks signatures with the platform's crypto (WebCrypto
    /// in workerd and browsers): everything that can be decided before the
    /// signatures, and the signatures still to check
    /// ([`PendingRequest::token_check`], [`PendingRequest::proof_check`]).
    /// Pass their results to [`finish_request`](Self::finish_request).
    pub fn begin_request(&self, presented: &Presented<'_>) -> Result<PendingRequest, VerifyError> {
        let token = self.token_stage(presented.token)?;
        let proof = match (presented.scheme, presented.proofs) {
            (Scheme::Dpop, [proof]) => Some(crate::dpop::prepare_proof(proof)),
            _ => None,
        };
        Ok(PendingRequest {
            generation: self.generation,
            token,
            proof,
        })
    }

    /// The second half of [`verify_request`](Self::verify_request), with
    /// whether the signatures [`begin_request`](Self::begin_request) asked
    /// for verified (pass `true` for one it did not ask for). `None` if the
    /// keys were replaced in between: begin again.
    #[allow(clippy::too_many_arguments)] // The request, its two signatures, the time and the state.
    pub fn finish_request(
        &self,
        presented: &Presented<'_>,
        pending: PendingRequest,
        token_ok: bool,
        proof_ok: bool,
        now: i64,
        revocations: &RevocationSet,
        replay: &mut ReplayCache,
    ) -> Option<Result<Verified, VerifyError>> {
        if pending.generation != self.generation {
            return None;
        }
        Some(self.judge(
            presented,
            pending,
            token_ok,
            proof_ok,
            now,
            revocations,
            replay,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        presented: &Presented<'_>,
        pending: PendingRequest,
        token_ok: bool,
        proof_ok: bool,
        now: i64,
        revocations: &RevocationSet,
        replay: &mut ReplayCache,
    ) -> Result<Verified, VerifyError> {
        use VerifyError::InvalidDpopProof as Invalid;
        if let TokenStage::Unchecked { token, .. } = &pending.token {
            // A caller's mistake, but one that would teach the cache the
            // wrong claims for a token.
            if **token != *presented.token {
                return Err(VerifyError::Malformed(
                    "finish_request was given another token than begin_request",
                ));
            }
        }
        let claims = self.token_claims(pending.token, token_ok)?;
        let verified = self.check_live(claims, now, revocations)?;
        let jkt = match (presented.scheme, &verified.claims.cnf) {
            (Scheme::Bearer, None) => return Ok(verified),
            (Scheme::Bearer, Some(_)) => {
                return Err(Invalid(
                    "a DPoP-bound token must be sent with the DPoP scheme",
                ));
            }
            (Scheme::Dpop, None) => return Err(Invalid("the token is not DPoP-bound")),
            (Scheme::Dpop, Some(cnf)) => cnf.jkt.as_str(),
        };
        let Some(prepared) = pending.proof else {
            return Err(Invalid(if presented.proofs.is_empty() {
                "a DPoP proof is required"
            } else {
                "more than one DPoP proof"
            }));
        };
        let request = ProofRequest {
            access_token: Some(presented.token),
            max_age_secs: self.options.proof_max_age_secs,
            leeway_secs: self.options.leeway_secs,
            ..ProofRequest::new(presented.method, presented.url)
        };
        let proof = crate::dpop::finish_proof(prepared?, proof_ok, &request, now)?;
        if proof.jkt != jkt {
            return Err(Invalid("the proof is not made by the token's key"));
        }
        replay.first_use(&proof, now)?;
        Ok(verified)
    }

    /// Steps 1–7: the length, the cache, and the header; the signature to
    /// check if the token is not cached.
    fn token_stage(&self, token: &str) -> Result<TokenStage, VerifyError> {
        // Before the cache: hashing a hostile megabyte-long "token" to look it
        // up would cost more than refusing it.
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TokenTooLarge { len: token.len() });
        }
        if let Some(claims) = self.cached(token) {
            return Ok(TokenStage::Cached(claims));
        }
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
        Ok(TokenStage::Unchecked {
            check: Box::new(SignatureCheck {
                key: key.clone(),
                message: parts.signing_input.to_vec(),
                signature: parts.signature,
            }),
            payload: parts.payload,
            token: token.into(),
        })
    }

    /// Steps 8–11: with the signature's verdict, the claims that do not
    /// change while the token stays the same (remembered in the cache).
    fn token_claims(
        &self,
        stage: TokenStage,
        signature_ok: bool,
    ) -> Result<Arc<AccessClaims>, VerifyError> {
        let (payload, token) = match stage {
            TokenStage::Cached(claims) => return Ok(claims),
            TokenStage::Unchecked { payload, token, .. } => (payload, token),
        };
        if !signature_ok {
            return Err(VerifyError::BadSignature);
        }
        let claims: RawClaims = serde_json::from_slice(&payload)
            .map_err(|_| VerifyError::Malformed("payload is not a JSON object of valid claims"))?;
        let claims = claims.require()?;
        if claims.iss != self.options.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if !claims.aud.contains(&self.options.audience) {
            return Err(VerifyError::WrongAudience);
        }
        let claims = Arc::new(claims);
        self.remember(token, &claims);
        Ok(claims)
    }

    /// Steps 12–13, on every call: time and revocation.
    fn check_live(
        &self,
        claims: Arc<AccessClaims>,
        now: i64,
        revocations: &RevocationSet,
    ) -> Result<Verified, VerifyError> {
        self.check_time(&claims, now)?;
        if revocations.is_revoked(&claims.sid, &claims.jti) {
            return Err(VerifyError::Revoked);
        }
        Ok(Verified { claims })
    }

    /// Where a token travels in a request, and with which scheme:
    /// `Authorization: Bearer <token>` or `Authorization: DPoP <token>`, else
    /// the `access_token` cookie (as Bearer, for pages that cannot set
    /// headers). Another scheme means no token.
    ///
    /// ```
    /// use tollgate_verifier::{Scheme, Verifier};
    /// assert_eq!(Verifier::credentials(Some("DPoP abc"), None), Some((Scheme::Dpop, "abc")));
    /// assert_eq!(Verifier::credentials(None, Some("access_token=xyz")), Some((Scheme::Bearer, "xyz")));
    /// ```
    pub fn credentials<'a>(
        authorization: Option<&'a str>,
        cookie: Option<&'a str>,
    ) -> Option<(Scheme, &'a str)> {
        if let Some(value) = authorization {
            let (scheme, token) = value.split_once(' ')?;
            let token = token.trim();
            if scheme.eq_ignore_ascii_case("bearer") {
                return Some((Scheme::Bearer, token));
            }
            return scheme
                .eq_ignore_ascii_case("dpop")
                .then_some((Scheme::Dpop, token));
        }
        Self::token_from_headers(None, cookie).map(|token| (Scheme::Bearer, token))
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
        let header: Header = serde_json::from_slice(&BASE64URL.decode(header).ok()?).ok()?;
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

    fn remember(&self, token: Box<str>, claims: &Arc<AccessClaims>) {
        if let Some(cache) = &self.cache {
            let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
            cache.put(token, Arc::clone(claims));
        }
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
pub(crate) fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

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

#[cfg(feature = "native")]
pub(crate) fn verify_signature(key: &Key, message: &[u8], signature: &[u8]) -> bool {
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
    match key.native() {
        NativeKey::EdDsa(key) => check(&jc::Ed25519, key, message, signature),
        NativeKey::Es256(key) => check(&jc::Es256, key, message, signature),
        NativeKey::Hs256(key) => check(&jc::Hs256, key, message, signature),
        #[cfg(feature = "rs256")]
        NativeKey::Rs256(key) => check(&jc::Rsa::rs256(), key, message, signature),
    }
}
