//! The tollgate edge: a Cloudflare Worker in front of the origin. Every
//! request outside the public paths needs an access token, which the
//! verifier crate checks against the issuer's JWKS and the revocation state
//! this isolate keeps in memory. A refused request never reaches the origin.
//!
//! # Layout
//! - [`config`]: the `[vars]` of wrangler.toml.
//! - [`state`]: the isolate's keys and revocation set, and the sync policy.
//! - [`proxy`]: forwarding to the issuer or the origin, and problem answers.
//! - [`shared`]: the data-center cache that isolates share the feed through.
//! - [`crypto`]: signatures, checked by workerd's WebCrypto.

#![warn(missing_docs)]

mod config;
mod crypto;
mod proxy;
mod shared;
mod state;

use worker::{Context, Env, Request, Response, Result, event};

use crate::config::Config;
use crate::proxy::{forward, problem, reject};

/// The fetch handler: route, authenticate, forward.
#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let config = match Config::from_env(&env).and_then(|config| {
        state::check(&config)?;
        Ok(config)
    }) {
        Ok(config) => config,
        Err(message) => return problem(500, "invalid_config", &message, None),
    };
    let path = req.path();
    if path == "/.tollgate/status" {
        return Response::from_json(&state::status(&config));
    }
    let upstream = config.upstream_for(&path);
    let proof = config
        .edge_secret
        .as_deref()
        .filter(|_| config.is_issuer_path(&path))
        .map(|secret| proxy::ClientProof { secret });
    if config.is_public(&path) {
        return forward(req, upstream, None, proof).await;
    }
    let Some((scheme, token)) = proxy::credentials(&req) else {
        return problem(
            401,
            "missing_token",
            "A bearer token is required.",
            Some("Bearer"),
        );
    };
    // The proof names the URL the client addressed: this one, at the edge.
    let proofs = proxy::proofs(&req);
    let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
    let method = req.inner().method();
    let url = req.inner().url();
    let presented = tollgate_verifier::Presented {
        scheme,
        token: &token,
        proofs: &proofs,
        method: &method,
        url: &url,
    };
    let remember = !config.is_issuer_path(&path);
    match state::verify(&config, &ctx, &presented, remember).await {
        Ok(verified) => forward(req, upstream, Some(verified.claims()), proof).await,
        Err((err, detail)) => reject(&err, &detail),
    }
}
