//! The HTTP API: every route with its OpenAPI annotation, and the layers
//! around them (request ids, tracing, latency metrics, body limits).
//!
//! # Layout
//! - `accounts`: signup, login, refresh, the profile, admin deactivation.
//! - `sessions`: logout, logout-all, the caller's device sessions.
//! - `oauth`: RFC 7009 revocation.
//! - `feed`: the revocation feed and the JWKS.
//! - `upstreams`: upstream providers' logout tokens and security events.
//! - `ops`: liveness and metrics.

pub mod accounts;
mod feed;
mod oauth;
mod ops;
mod sessions;
mod upstreams;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::error::ApiError;

/// The longest a client may take to send a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request body accepted; every body here is a small JSON object.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The issuer's routes, with request ids, tracing, latency metrics and a
/// body limit around them.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static(crate::headers::REQUEST_ID);

    let (routes, document) = routes();
    routes
        .layer(axum::Extension(Arc::new(document)))
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            BODY_TIMEOUT,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                // The span names method, route and request id: never the
                // query, headers or body, where tokens and passwords travel.
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("-", MatchedPath::as_str);
                    let id = req
                        .headers()
                        .get(crate::headers::REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), route, request_id = id)
                }))
                .layer(PropagateRequestIdLayer::new(request_id)),
        )
        .with_state(state)
}

/// Every route, each registered together with its `#[utoipa::path]`
/// annotation, and the OpenAPI document built from those same
/// registrations: a route cannot be served without being documented.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi as _;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(accounts::signup))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::refresh))
        .routes(routes!(sessions::logout))
        .routes(routes!(sessions::logout_all))
        .routes(routes!(sessions::sessions))
        .routes(routes!(sessions::delete_session))
        .routes(routes!(accounts::me))
        .routes(routes!(accounts::deactivate))
        .routes(routes!(oauth::oauth_revoke))
        .routes(routes!(feed::revocations))
        .routes(routes!(feed::jwks))
        .routes(routes!(upstreams::backchannel_logout))
        .routes(routes!(upstreams::events))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::metrics))
        .routes(routes!(crate::openapi::document))
        .split_for_parts()
}

/// Records each routed request's latency under its route pattern.
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(req).await;
    if let Some(route) = route {
        state
            .metrics
            .observe(method.as_str(), &route, started.elapsed());
    }
    response
}
