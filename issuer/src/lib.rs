//! The tollgate issuer: users log in here; it signs access and refresh
//! tokens per device and publishes every revocation on the feed that edge
//! verifiers pull.
//!
//! # Layout
//! - [`state`]: [`AppState`], what every handler shares (store, clock,
//!   settings, keys, limits, metrics), made at start; its upkeep.
//! - [`server`]: [`serve`] until a shutdown signal, with the upkeep beside it
//!   and a bounded drain.
//! - [`http`]: the routes ([`app`], [`routes`]), one file per area
//!   (accounts, sessions, oauth, feed, ops), each with its OpenAPI annotation.
//! - [`extract`]: the Bearer-authenticated caller, the client's address, and
//!   bodies whose rejections are problems.
//! - [`error`]: the one API error type, rendered as problem+json (a refused
//!   token as the verifier crate's `Refusal`).
//! - [`store`]: persistence behind the [`Store`](store::Store) trait, on
//!   SQLite or Postgres; the refresh decision.
//! - [`feed`]: the revocation feed's paging and cursor rules, and the
//!   snapshot cache.
//! - [`keys`]: signing keys, persisted, rotated with overlap, withdrawn; the JWKS.
//! - [`auth`]: Argon2id passwords, input rules, refresh tokens.
//! - [`dpop`]: DPoP proofs at the token routes, server nonces, the public URL.
//! - [`secret`], [`seal`]: the server's own keys; secrets sealed at rest.
//! - [`ratelimit`], [`slots`], [`metrics`]: login limits; how many
//!   anonymous requests work at once; OpenMetrics text.
//! - [`headers`]: the header names beyond HTTP's own.
//! - [`config`]: flags and environment; [`cli`]: the subcommands.
//! - [`upstream`]: trusted upstream identity providers: their keys,
//!   republished; their logout tokens and security events, received.
//! - [`openapi`]: the OpenAPI document (`GET /openapi.json`).

#![warn(missing_docs)]

pub mod auth;
pub mod cli;
pub mod config;
pub mod dpop;
pub mod error;
pub mod extract;
pub mod feed;
pub mod fields;
pub mod headers;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod seal;
pub mod secret;
pub mod server;
pub mod slots;
pub mod state;
pub mod store;
pub mod upstream;

pub use http::{BODY_LIMIT, BODY_TIMEOUT, app, routes};
pub use server::{DRAIN_TIMEOUT, serve, shutdown_signal};
pub use state::{
    AppState, Clock, Keys, SLOT_WAIT, StartError, SystemClock, UNAUTHENTICATED_SLOTS,
    UPSTREAM_SLOTS,
};
