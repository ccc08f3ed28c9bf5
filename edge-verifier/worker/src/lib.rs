//! The tollgate edge: a Cloudflare Worker in front of the origin. Every
//! request outside the public paths needs an access token, which the
//! verifier crate checks against the issuer's JWKS and the revocation state
//! this isolate keeps in memory. A refused request never reaches the origin.
//!
//! A request is judged on its normalized path (the verifier crate's
//! [`path`](tollgate_verifier::path) rules: dot segments resolved, slashes
//! merged; encoded slashes and `;` refused with 400), and the normalized
//! path is what the upstream receives. No client header that reads as
//! `x-tollgate-*` (with `_` for `-`) is forwarded.
//!
//! # Layout
//! - [`config`]: the `[vars]` of wrangler.toml.
//! - [`state`]: the isolate's keys and revocation set, and the I/O the sync
//!   policy asks for.
//! - [`proxy`]: forwarding to the issuer or the origin, and the answers.
//! - [`shared`]: the data-center cache that isolates share the feed through.
//! - [`crypto`]: signatures, checked by workerd's WebCrypto.

#![warn(missing_docs)]

mod config;
mod crypto;
mod proxy;
mod shared;
mod state;

use tollgate_verifier::json::Object;
use tollgate_verifier::{Refusal, ReplayMode, path};
use worker::{Context, Env, Request, Response, Result, event};

use crate::config::Config;
use crate::proxy::{ClientProof, forward, problem, refuse};

/// The fetch handler: normalize, route, authenticate, forward.
#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let config = match Config::from_env(&env).and_then(|config| {
        state::check(&config)?;
        Ok(config)
    }) {
        Ok(config) => config,
        Err(message) => {
            return problem(
                500,
                "invalid_config",
                "The edge is misconfigured.",
                &message,
            );
        }
    };
    let path = match path::normalize(&req.path()) {
        Ok(path) => path,
        Err(err) => {
            return problem(
                400,
                err.code(),
                "The request path is not accepted.",
                &err.to_string(),
            );
        }
    };
    if path == "/.tollgate/status" {
        return status(&req, &config);
    }
    let upstream = config.upstream_for(&path);
    let issuer_path = config.is_issuer_path(&path);
    let proof = match (&config.edge_secret, &config.client_ip_header) {
        (Some(secret), Some(header)) if issuer_path => Some(ClientProof { secret, header }),
        _ => None,
    };
    if config.is_public(&path) {
        return forward(req, upstream, &path, None, proof).await;
    }
    let (request, dpop) = proxy::presented(&req);
    let Some(request) = request else {
        return refuse(&Refusal::missing_token(dpop));
    };
    let replay = if issuer_path {
        ReplayMode::Skip
    } else {
        ReplayMode::Record
    };
    match state::verify(&config, &ctx, request, replay).await {
        Ok(verified) => forward(req, upstream, &path, Some(verified.claims()), proof).await,
        Err(err) => refuse(&Refusal::from_error(&err)),
    }
}

/// `GET /.tollgate/status`: whether the edge holds usable state, for
/// anybody; the syncer's details (cursor, entries held, key-set version,
/// the last error, which names the issuer) only for a request that carries
/// `Authorization: Bearer <STATUS_TOKEN>`.
fn status(req: &Request, config: &Config) -> Result<Response> {
    let Some(status) = state::status(config) else {
        let mut body = Object::new();
        body.bool("ready", false);
        return proxy::json(&body.finish());
    };
    let fail_after = config
        .sync
        .options()
        .map_or(0, |options| options.fail_after_ms);
    let ready = status.age_ms.is_some_and(|age| age <= fail_after);
    if proxy::may_see_status(req, config.status_token.as_deref()) {
        let mut detail = status.to_object();
        detail.bool("ready", ready);
        return proxy::json(&detail.finish());
    }
    let mut body = Object::new();
    body.bool("ready", ready).opt_uint("age_ms", status.age_ms);
    proxy::json(&body.finish())
}
