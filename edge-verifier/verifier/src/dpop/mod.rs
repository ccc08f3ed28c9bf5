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

//!
//! # Layout
//! - `proof`: a proof's header, signature and claims ([`prepare_proof`],
//!   [`finish_proof`]), and the key thumbprint;
//! - [`ReplayCache`]: the `jti`s of accepted proofs, each usable once;
//! - [`same_url`]: how a proof's `htu` is compared with the request's URL.

mod proof;
mod replay;
mod url;

#[cfg(feature = "native")]
pub use proof::verify_proof;
pub use proof::{PreparedProof, choose_url, finish_proof, peek_htu, prepare_proof, thumbprint};
pub use replay::{DEFAULT_REPLAY_CAPACITY, DEFAULT_REPLAY_PER_KEY, ReplayCache};
pub use url::same_url;

use crate::algorithm::Algorithm;

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
            leeway_secs: crate::bounds::DEFAULT_LEEWAY_SECS,
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
