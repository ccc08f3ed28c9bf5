//! Token verification: the one place where tollgate decides validity.
//!
//! The order of checks is deliberate. Cheap structural checks come first and
//! the token's claims are only parsed once the signature has verified, so a
//! forged token costs at most one header parse and one signature check.
//!
//! 1. length (before any parsing), three base64url parts;
//! 2. whose token it claims to be: the payload's `iss` alone is read, to
//!    pick the rules and keys: tollgate's own (the configured issuer, or
//!    any issuer the key set has no rules for), or a trusted upstream's
//!    ([`UpstreamRules`](crate::UpstreamRules));
//! 3. header: `alg` allowed for that issuer, no `crit`/`b64`, `typ` as its
//!    rules say (`at+jwt` for tollgate), `kid` one of that issuer's keys,
//!    the key's pinned algorithm equal to `alg`;
//! 4. signature, by the crate or by the caller ([`Pending`]);
//! 5. claims: required ones present, `iss`, `aud`;
//! 6. time (`exp`, `nbf`, `iat` with leeway) and revocation (session, token
//!    and subject cut-offs, scoped to the issuer), which also run on a
//!    cache hit because they change while a token stays the same;
//! 7. binding (RFC 9449 §7): a token with `cnf.jkt` needs the DPoP scheme
//!    and one proof of that key for this request, used once.
//!
//! Verification comes in two halves for callers that check signatures with
//! the platform's crypto: [`Verifier::begin`] decides everything it can
//! before the signatures and says which remain ([`Pending`]);
//! [`Verifier::finish`] takes the caller's [`Verdicts`] and judges the rest.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::algorithm::Algorithm;
use crate::bounds::{ConfigError, DEFAULT_LEEWAY_SECS, check_leeway};
use crate::claims::{AccessClaims, RawClaims, peek_issuer, upstream_claims};
use crate::dpop::{PreparedProof, ProofRequest, ReplayCache};
use crate::error::VerifyError;
use crate::jws::{Header, Parts, SignatureCheck};
use crate::keys::KeySet;
use crate::media_type::is_type;
use crate::request::{Request, Scheme};
use crate::revocation::{RevocationSet, TokenIds, TokenKeys};
use crate::token_cache::TokenCache;
use crate::upstream::Upstream;

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

    /// Refuses options that would keep expired and revoked tokens alive for
    /// longer than any deployment needs: a leeway over
    /// [`MAX_LEEWAY_SECS`](crate::MAX_LEEWAY_SECS). Every entry point that
    /// takes options from outside asks this.
    pub fn check(&self) -> Result<(), ConfigError> {
        check_leeway(i64::from(self.leeway_secs)).map(|_| ())
    }
}

/// Whether an accepted DPoP proof is recorded as used.
#[derive(Debug)]
pub enum Replay<'a> {
    /// Record it in this cache, and refuse a proof the cache has seen.
    Record(&'a mut ReplayCache),
    /// Do not record it: only where a replay is harmless because the
    /// request is checked again downstream (the edge in front of the
    /// issuer's own routes, which records proofs itself: a full cache here
    /// must not refuse a logout).
    Skip,
}

/// The caller's verdict on each signature a [`Pending`] asked it to check:
/// `Some(true)` verified, `Some(false)` did not, `None` not checked. A
/// signature that was asked for and not checked counts as not verified,
/// so a caller cannot pass a check it skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// The token's signature ([`Pending::token_check`]).
    pub token: Option<bool>,
    /// The DPoP proof's signature ([`Pending::proof_check`]).
    pub proof: Option<bool>,
}

impl Verdicts {
    /// Checks both signatures a pending request asks for with the crate's
    /// own implementations.
    #[cfg(feature = "native")]
    pub fn native(pending: &Pending) -> Self {
        let token = pending.token_check().map(SignatureCheck::verify);
        // A bad token signature is refused as such; its proof need not be checked.
        let proof = match token {
            Some(false) => None,
            _ => pending.proof_check().map(SignatureCheck::verify),
        };
        Verdicts { token, proof }
    }
}

/// Numbers verifiers: each starts its key generations at its own number.
static NEXT_VERIFIER: AtomicU64 = AtomicU64::new(1);

/// Verified claims and the keys its revocations are looked up by.
#[derive(Debug, PartialEq, Eq)]
struct Judged {
    claims: AccessClaims,
    keys: TokenKeys,
}

impl Judged {
    /// The ids revocations name, from the claims: an upstream token's are
    /// scoped by its `iss` (which is the upstream's: checked before).
    fn ids(claims: &AccessClaims, upstream: bool) -> TokenIds<'_> {
        TokenIds {
            iss: upstream.then_some(claims.iss.as_str()),
            sid: claims.sid.as_deref(),
            jti: claims.jti.as_deref(),
            sub: &claims.sub,
            email: claims.email.as_deref(),
            iat: claims.iat,
        }
    }
}

/// A token before its signature is checked, or its cached claims.
enum TokenStage {
    Cached(Arc<Judged>),
    Unchecked {
        check: Box<SignatureCheck>,
        payload: Vec<u8>,
        /// The upstream issuer whose rules judge it; `None`: tollgate's own.
        upstream: Option<String>,
    },
}

impl TokenStage {
    fn check(&self) -> Option<&SignatureCheck> {
        match self {
            TokenStage::Cached(_) => None,
            TokenStage::Unchecked { check, .. } => Some(check),
        }
    }
}

/// A request between [`Verifier::begin`] and [`Verifier::finish`]: the
/// request itself and the signatures still to check. `Debug` shows neither
/// the token nor the proof.
pub struct Pending {
    request: Request,
    generation: u64,
    token: TokenStage,
    proof: Option<Result<Box<PreparedProof>, VerifyError>>,
}

impl core::fmt::Debug for Pending {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pending")
            .field("request", &self.request)
            .field("token_check", &self.token_check().is_some())
            .field("proof_check", &self.proof_check().is_some())
            .finish_non_exhaustive()
    }
}

impl Pending {
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

    /// The request being verified.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The request back, to begin again.
    pub fn into_request(self) -> Request {
        self.request
    }
}

/// How [`Verifier::begin`] ended.
#[derive(Debug)]
pub enum Begun {
    /// The signatures to check, and the rest to judge with their verdicts.
    Pending(Pending),
    /// Refused before any signature; the request comes back with why.
    Refused(Request, VerifyError),
}

/// How [`Verifier::finish`] ended.
#[derive(Debug)]
pub enum Finished {
    /// The verdict.
    Done(Result<Verified, VerifyError>),
    /// The keys were replaced since [`Verifier::begin`] (or another
    /// verifier began it): begin again with the request.
    KeysChanged(Request),
}

/// Claims that passed every check. Only a [`Verifier`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    judged: Arc<Judged>,
}

impl Verified {
    /// The verified claims.
    pub fn claims(&self) -> &AccessClaims {
        &self.judged.claims
    }
}

impl core::ops::Deref for Verified {
    type Target = AccessClaims;

    fn deref(&self) -> &AccessClaims {
        &self.judged.claims
    }
}

/// Verifies access tokens, tollgate's own and those of the upstream
/// issuers its key set trusts, against a key set and a revocation set.
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
    cache: Option<TokenCache<Arc<Judged>>>,
    /// Bumped whenever the keys are replaced, so a check begun under the
    /// old keys is not finished under the new ones.
    generation: u64,
}

impl Verifier {
    /// A verifier with these options and keys.
    pub fn new(options: VerifierOptions, keys: KeySet) -> Self {
        let cache = NonZeroUsize::new(options.cache_capacity).map(TokenCache::new);
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
            cache.clear();
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
        if verified.cnf.is_some() {
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
        if stage.check().is_some_and(|check| !check.verifiable_here()) {
            // RS256 or PS256 without the `rsa` feature: the caller's
            // platform must check it (begin/finish).
            return Err(VerifyError::UnsupportedAlg);
        }
        let ok = stage.check().is_none_or(SignatureCheck::verify);
        let claims = self.token_claims(token, stage, ok)?;
        self.check_live(claims, now, revocations)
    }

    /// Verifies what a request presents: the token as [`verify`](Self::verify)
    /// does, and its binding (RFC 9449 §7). A token with `cnf.jkt` needs the
    /// DPoP scheme and exactly one proof, made by that key for this method,
    /// URL and token, not used before (`replay` records it). A bound token
    /// sent as Bearer, or an unbound one sent as DPoP, is refused with
    /// `invalid_dpop_proof`. An unbound Bearer token needs no proof.
    ///
    /// The same as [`begin`](Self::begin), the signatures checked by the
    /// crate, then [`finish`](Self::finish).
    #[cfg(feature = "native")]
    pub fn verify_request(
        &self,
        request: Request,
        now: i64,
        revocations: &RevocationSet,
        replay: Replay<'_>,
    ) -> Result<Verified, VerifyError> {
        let pending = match self.begin(request) {
            Begun::Pending(pending) => pending,
            Begun::Refused(_, err) => return Err(err),
        };
        if pending
            .token_check()
            .is_some_and(|check| !check.verifiable_here())
        {
            return Err(VerifyError::UnsupportedAlg);
        }
        let verdicts = Verdicts::native(&pending);
        match self.finish(pending, verdicts, now, revocations, replay) {
            Finished::Done(result) => result,
            // Nothing replaced the keys in between: this is one call.
            Finished::KeysChanged(_) => Err(VerifyError::UnknownKid),
        }
    }

    /// The first half of [`verify_request`](Self::verify_request), for a
    /// caller that checks signatures with the platform's crypto (WebCrypto
    /// in workerd and browsers): everything that can be decided before the
    /// signatures, and the signatures still to check
    /// ([`Pending::token_check`], [`Pending::proof_check`]). A refusal gives
    /// the request back with its error.
    pub fn begin(&self, request: Request) -> Begun {
        let token = match self.token_stage(&request.token) {
            Ok(token) => token,
            Err(err) => return Begun::Refused(request, err),
        };
        let proof = match (request.scheme, request.proofs.as_slice()) {
            (Scheme::Dpop, [proof]) => Some(crate::dpop::prepare_proof(proof).map(Box::new)),
            _ => None,
        };
        Begun::Pending(Pending {
            request,
            generation: self.generation,
            token,
            proof,
        })
    }

    /// The second half of [`verify_request`](Self::verify_request), with the
    /// caller's verdicts on the signatures [`begin`](Self::begin) asked for.
    pub fn finish(
        &self,
        pending: Pending,
        verdicts: Verdicts,
        now: i64,
        revocations: &RevocationSet,
        replay: Replay<'_>,
    ) -> Finished {
        if pending.generation != self.generation {
            return Finished::KeysChanged(pending.request);
        }
        Finished::Done(self.judge(pending, verdicts, now, revocations, replay))
    }

    fn judge(
        &self,
        pending: Pending,
        verdicts: Verdicts,
        now: i64,
        revocations: &RevocationSet,
        replay: Replay<'_>,
    ) -> Result<Verified, VerifyError> {
        use VerifyError::InvalidDpopProof as Invalid;
        let Pending {
            request,
            token,
            proof,
            ..
        } = pending;
        let claims = self.token_claims(&request.token, token, verdicts.token == Some(true))?;
        let verified = self.check_live(claims, now, revocations)?;
        let jkt = match (request.scheme, &verified.judged.claims.cnf) {
            (Scheme::Bearer, None) => return Ok(verified),
            (Scheme::Bearer, Some(_)) => {
                return Err(Invalid(
                    "a DPoP-bound token must be sent with the DPoP scheme",
                ));
            }
            (Scheme::Dpop, None) => return Err(Invalid("the token is not DPoP-bound")),
            (Scheme::Dpop, Some(cnf)) => cnf.jkt.as_str(),
        };
        let Some(prepared) = proof else {
            return Err(Invalid(if request.proofs.is_empty() {
                "a DPoP proof is required"
            } else {
                "more than one DPoP proof"
            }));
        };
        let proof_request = ProofRequest {
            access_token: Some(&request.token),
            max_age_secs: self.options.proof_max_age_secs,
            leeway_secs: self.options.leeway_secs,
            ..ProofRequest::new(&request.method, &request.url)
        };
        let proof = crate::dpop::finish_proof(
            *prepared?,
            verdicts.proof == Some(true),
            &proof_request,
            now,
        )?;
        if proof.jkt != jkt {
            return Err(Invalid("the proof is not made by the token's key"));
        }
        if let Replay::Record(cache) = replay {
            cache.first_use(&proof, now)?;
        }
        Ok(verified)
    }

    /// Steps 1–3: the length, the cache, whose token it is, and the header;
    /// the signature to check if the token is not cached.
    fn token_stage(&self, token: &str) -> Result<TokenStage, VerifyError> {
        // Before the cache: hashing a hostile megabyte-long "token" to look it
        // up would cost more than refusing it.
        crate::jws::check_len(token)?;
        if let Some(judged) = self.cached(token) {
            return Ok(TokenStage::Cached(judged));
        }
        let parts = Parts::split(token)?;
        let header = Header::read(&parts.header)
            .map_err(|_| VerifyError::Malformed("header is not a JSON object of the JWS shape"))?;
        // Only an issuer the key set has rules for is judged as an upstream;
        // any other `iss` is judged as tollgate's, and refused as such.
        // Without upstreams there is nothing to find: the payload is read
        // once, in step 4, not also here.
        let upstream = if self.keys.has_upstreams() {
            peek_issuer(&parts.payload)
                .filter(|iss| *iss != self.options.issuer)
                .and_then(|iss| self.keys.upstream(&iss))
        } else {
            None
        };

        let alg = Algorithm::from_name(&header.alg)
            .filter(|alg| match upstream {
                Some(upstream) => upstream.allows(*alg),
                None => self.options.algorithms.contains(alg),
            })
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
        let typ = header.typ.as_deref();
        let typed = match upstream {
            Some(upstream) => upstream.accepts_type(typ),
            // RFC 9068 §4: `at+jwt`.
            None => typ.is_some_and(|typ| is_type(typ, "at+jwt")),
        };
        if !typed {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.as_deref().ok_or(VerifyError::UnknownKid)?;
        let key = self
            .keys
            .get(upstream.map(Upstream::issuer), kid)
            .ok_or(VerifyError::UnknownKid)?;
        if key.algorithm() != alg {
            return Err(VerifyError::UnsupportedAlg);
        }
        Ok(TokenStage::Unchecked {
            check: Box::new(SignatureCheck::new(
                key.clone(),
                parts.signing_input.to_vec(),
                parts.signature,
            )),
            payload: parts.payload,
            upstream: upstream.map(|u| u.issuer().to_owned()),
        })
    }

    /// Steps 4–5: with the signature's verdict, the claims that do not
    /// change while the token stays the same (remembered in the cache under
    /// `token`, the text the stage was made from).
    fn token_claims(
        &self,
        token: &str,
        stage: TokenStage,
        signature_ok: bool,
    ) -> Result<Arc<Judged>, VerifyError> {
        let (payload, upstream) = match stage {
            TokenStage::Cached(judged) => return Ok(judged),
            TokenStage::Unchecked {
                payload, upstream, ..
            } => (payload, upstream),
        };
        if !signature_ok {
            return Err(VerifyError::BadSignature);
        }
        let claims = match &upstream {
            None => {
                let claims = RawClaims::read(&payload).map_err(|_| {
                    VerifyError::Malformed("payload is not a JSON object of valid claims")
                })?;
                let claims = claims.require()?;
                if claims.iss != self.options.issuer {
                    return Err(VerifyError::WrongIssuer);
                }
                if !claims.aud.contains(&self.options.audience) {
                    return Err(VerifyError::WrongAudience);
                }
                claims
            }
            Some(iss) => {
                // The keys are those the stage was made under (the caller
                // checked the generation), so the rules are still there.
                let rules = self.keys.upstream(iss).ok_or(VerifyError::WrongIssuer)?;
                let claims = upstream_claims(&payload, rules)?;
                if claims.iss != *iss {
                    return Err(VerifyError::WrongIssuer);
                }
                if !rules.accepts_audience(&claims.aud) {
                    return Err(VerifyError::WrongAudience);
                }
                if !rules.accepts_lifetime(claims.iat, claims.exp) {
                    // Its revocations would be pruned while it still lived.
                    return Err(VerifyError::Expired);
                }
                claims
            }
        };
        let keys = TokenKeys::new(&Judged::ids(&claims, upstream.is_some()))
            .ok_or(VerifyError::Malformed("sid or jti is not a UUID"))?;
        let judged = Arc::new(Judged { claims, keys });
        self.remember(token, &judged);
        Ok(judged)
    }

    /// Step 6, on every call: time and revocation.
    fn check_live(
        &self,
        judged: Arc<Judged>,
        now: i64,
        revocations: &RevocationSet,
    ) -> Result<Verified, VerifyError> {
        self.check_time(&judged.claims, now)?;
        let ids = Judged::ids(&judged.claims, !judged.keys.is_own());
        if revocations.revokes(&judged.keys, &ids) {
            return Err(VerifyError::Revoked);
        }
        Ok(Verified { judged })
    }

    /// The key id a token names, if its header can be read at all. For
    /// adapters that refetch the JWKS on an unknown `kid`; it proves nothing.
    pub fn peek_kid(token: &str) -> Option<String> {
        crate::jws::check_len(token).ok()?;
        Header::peek_kid(token)
    }

    fn cached(&self, token: &str) -> Option<Arc<Judged>> {
        self.cache.as_ref()?.get(token)
    }

    fn remember(&self, token: &str, judged: &Arc<Judged>) {
        if let Some(cache) = &self.cache {
            cache.put(token, Arc::clone(judged));
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
