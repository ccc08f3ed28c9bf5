//! The tollgate edge: a Cloudflare Worker in front of the origin. Every
//! request outside the public paths needs an access token, which the
//! verifier crate checks against the issuer's JWKS and the revocation state
//! this isolate keeps in memory. A refused request never reaches the origin.
//!
//! # Layout
//! - [`config`]: the `[vars]` of wrangler.toml.
//! - [`state`]: the isolate's keys and revocation set, and the sync policy.
//! - [`proxy`]: forwarding to the issuer or the origin, and problem answers.

#![warn(missing_docs)]

mod config;
mod proxy;
mod state;

use tollgate_verifier::VerifyError;
use worker::{Context, Env, Request, Response, Result, event};

use crate::config::Config;
use crate::proxy::{forward, problem, reject};

/// The fetch handler: route, authenticate, forward.
#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let config = match Config::from_env(&env) {
        Ok(config) => config,
        Err(message) => return problem(500, "invalid_config", &message, None),
    };
    let path = req.path();
    if path == "/.tollgate/status" {
        return Response::from_json(&state::status());
    }
    let upstream = config.upstream_for(&path);
    if config.is_public(&path) {
        return forward(req, upstream, None).await;
    }
    let Some(token) = proxy::token(&req) else {
        return problem(
            401,
            "missing_token",
            "A bearer token is required.",
            Some("Bearer"),
        );
    };
    if let Err(stale) = state::ensure_fresh(&config).await {
        return reject(&VerifyError::RevocationStateStale, &stale);
    }
    match state::verify(&config, &token).await {
        Ok(verified) => forward(req, upstream, Some(verified.claims())).await,
        Err(err) => reject(&err, &err.to_string()),
    }
}
