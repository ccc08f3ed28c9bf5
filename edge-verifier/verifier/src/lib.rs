//! Decides whether a tollgate access token is valid.
//!
//! This crate is the one place where token validity is decided: the issuer,
//! the edge worker, the npm package and any Rust service behind the edge all
//! call it. It does no I/O and reads no clock: keys, revocations and the
//! current time are handed in, so it compiles natively and to
//! `wasm32-unknown-unknown` alike.
//!
//! # Layout
//! - [`verify`](Verifier::verify): the token rules and the verified-token
//!   cache ([`Verifier`], [`VerifierOptions`], [`Verified`]); verification
//!   in two halves ([`Verifier::begin`], [`Verifier::finish`]) for callers
//!   that check signatures with the platform's crypto.
//! - `jws`: compact JWS parts and the signature to check ([`SignatureCheck`]).
//! - `request`: what an HTTP request presents ([`RequestParts`], [`Request`],
//!   [`credentials`]) and the URL its DPoP proof must name ([`proof_url`]).
//! - [`dpop`]: DPoP proofs (RFC 9449) and their replay cache.
//! - [`KeySet`], [`Jwks`], [`Jwk`]: keys from a JWKS, each pinned to one
//!   [`Algorithm`] and bound to one issuer: tollgate's, or an upstream
//!   identity provider's, whose tokens are read by its [`UpstreamRules`].
//! - [`RevocationSet`]: revoked sessions and tokens, fed by [`RevocationFeed`]
//!   pages through a [`Follower`], which swaps a snapshot in only when whole.
//! - [`Syncer`]: the sync policy every adapter follows, as a state machine
//!   without I/O: when to fetch the feed or the JWKS, when to serve, when to
//!   fail closed; and each request's way through it ([`Admission`], [`Next`]).
//! - [`Refusal`]: how every adapter answers a refused request over HTTP.
//! - [`json`]: the JSON reader every wire type's `from_json` is built on,
//!   and the writer adapters answer with ([`json::Object`]).
//! - [`HostOptions`]: the options a JavaScript host hands over as JSON.
//! - `event` (with `native`): upstream providers' logout announcements
//!   (Back-Channel Logout tokens, SSF/CAEP Security Event Tokens), judged
//!   and turned into the revocations they mean.
//! - [`path`]: the edge's request paths, normalized and matched to prefixes.
//! - [`identity_headers`]: the `x-tollgate-*` headers an edge passes on.
//! - [`AccessClaims`], [`RevocationFeed`], [`ErrorCode`]: the wire types every
//!   part of tollgate shares.
//!
//! # Example
//! ```
//! use tollgate_verifier::{KeySet, RevocationFeed, RevocationSet, Verifier, VerifierOptions};
//!
//! let keys = KeySet::from_json(r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1",
//!     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?;
//! let verifier = Verifier::new(VerifierOptions::new("https://issuer.example", "api"), keys);
//!
//! let mut revocations = RevocationSet::new();
//! let page = RevocationFeed::from_json(
//!     r#"{"cursor":"1:7","reset":true,"revoked":[{"sid":"6c9a1b0e-3c0f-4d4e-9a57-0f7f8f2c1d11","until":1763820330}]}"#,
//! )?;
//! revocations.apply(&page);
//!
//! let err = verifier.verify("eyJhbGciOiJub25lIn0.e30.", 1_763_820_000, &revocations).unwrap_err();
//! assert_eq!(err.code().as_str(), "unsupported_alg");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod algorithm;
mod audience;
mod bounds;
mod claims;
pub mod dpop;
mod entry_key;
mod error;
#[cfg(feature = "native")]
pub mod event;
mod feed;
mod follower;
mod id_sort;
mod identity;
pub mod json;
mod jws;
mod keys;
mod media_type;
mod options;
pub mod path;
mod percent;
mod refusal;
mod request;
mod revocation;
mod sync;
mod token_cache;
mod upstream;
mod verify;

pub use algorithm::Algorithm;
pub use audience::Audience;
pub use bounds::{ConfigError, DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS, MAX_TOKEN_LEN, check_leeway};
pub use claims::{AccessClaims, Confirmation};
pub use error::{ErrorCode, KeyError, VerifyError};
pub use feed::{RevocationEntry, RevocationFeed, Revoked};
pub use follower::Follower;
pub use identity::{identity_headers, is_identity_header};
pub use jws::SignatureCheck;
pub use keys::{Jwk, Jwks, KeySet, MIN_HS256_SECRET_LEN, MIN_RSA_BITS};
pub use options::{HostKind, HostOptions, OptionsError};
pub use refusal::{Refusal, problem_json};
pub use request::{
    Request, RequestParts, Scheme, credentials, host_origins, is_host, proof_url, proof_values,
};
pub use revocation::RevocationSet;
pub use sync::{
    Admission, Catchup, DEFAULT_FAIL_AFTER_MS, DEFAULT_MAX_AGE_MS, Fetch, FetchKind, LEASE_MS,
    LEASE_POLL_MS, Look, MIN_JWKS_COOLDOWN_MS, Next, Outcome, POLL_MS, RACE_MS, REPORT_GRACE_MS,
    ReplayMode, SHARE_ATTEMPTS, SHARED_MAX_AGE_SECS, SHARED_STAMP_AHEAD_MS, STAGGER_MS, SharedLook,
    Step, SyncOptions, SyncSettings, SyncStatus, Syncer, believable_stamp, replaces,
};
pub use upstream::{DEFAULT_MAX_TOKEN_LIFETIME_SECS, MAX_ROLE_LEN, MAX_ROLES, UpstreamRules};
pub use verify::{
    Begun, DEFAULT_CACHE_CAPACITY, Finished, Pending, Replay, Verdicts, Verified, Verifier,
    VerifierOptions,
};

/// Re-exported so callers name the same UUID type as the wire types.
pub use uuid::Uuid;
