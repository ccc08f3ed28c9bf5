//! The tollgate issuer: users log in here; it signs access and refresh
//! tokens per device and publishes every revocation on the feed that edge
//! verifiers pull.
//!
//! # Layout
//! - [`store`]: persistence behind the [`Store`](store::Store) trait, on SQLite or Postgres.
//! - [`api`]: the account handlers (signup, login, refresh, logout, sessions, admin, RFC 7009).
//! - [`auth`]: Argon2id passwords, input rules, refresh tokens.
//! - [`extract`]: the Bearer-authenticated caller and bodies whose rejections are problems.
//! - [`feed`]: the revocation feed's paging and cursor rules, over any store.
//! - [`keys`]: signing keys, persisted in the store, rotated with overlap; the JWKS.
//! - [`ratelimit`], [`metrics`]: login limits; Prometheus text.
//! - [`app`]: the HTTP routes; [`AppState`] holds the cheap handles they share.
//! - [`error`]: the one API error type, rendered as problem+json.
//! - [`config`]: flags and environment; [`serve`] runs the app until shutdown.

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod feed;
pub mod keys;
pub mod metrics;
pub mod ratelimit;
pub mod store;

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{HeaderName, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tollgate_verifier::{Jwks, RevocationFeed, Verifier, VerifierOptions};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{BadParams, Passwords};
use crate::config::Settings;
use crate::error::ApiError;
use crate::keys::{KeyError, KeyRing};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::store::Store;

/// Largest request body accepted; every body here is a small JSON object.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Tells the time in Unix seconds; tests substitute a fixed clock.
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// The signing keys in force, and a verifier that trusts exactly them.
#[derive(Debug)]
pub struct Keys {
    /// The keys.
    pub ring: KeyRing,
    /// Checks this issuer's own tokens (Bearer auth, RFC 7009).
    pub verifier: Verifier,
}

/// The issuer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The signing keys could not be loaded or made.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The Argon2 settings are invalid.
    #[error(transparent)]
    Passwords(#[from] BadParams),
}

/// What every handler shares: cheap, cloneable handles.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The settings.
    pub settings: Arc<Settings>,
    /// Password hashing.
    pub passwords: Arc<Passwords>,
    /// Login attempts per account (email).
    pub account_limit: Arc<RateLimiter>,
    /// Login and signup attempts per client address.
    pub address_limit: Arc<RateLimiter>,
    /// Counters and latencies for `/metrics`.
    pub metrics: Arc<Metrics>,
    keys: Arc<RwLock<Arc<Keys>>>,
}

impl AppState {
    /// Loads the signing keys (making the first if there are none) and sets
    /// everything up from `settings`.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Result<Self, StartError> {
        let ring =
            KeyRing::load_or_create(store.as_ref(), clock.now(), &settings.key_policy()).await?;
        let keys = Arc::new(RwLock::new(Arc::new(Self::keys_for(&settings, ring)?)));
        Ok(AppState {
            passwords: Passwords::new(&settings)?,
            account_limit: Arc::new(RateLimiter::new(
                settings.login_limit_per_account,
                settings.rate_window_secs,
            )),
            address_limit: Arc::new(RateLimiter::new(
                settings.login_limit_per_address,
                settings.rate_window_secs,
            )),
            metrics: Arc::default(),
            settings: Arc::new(settings),
            store,
            clock,
            keys,
        })
    }

    fn keys_for(settings: &Settings, ring: KeyRing) -> Result<Keys, KeyError> {
        let mut options = VerifierOptions::new(&settings.issuer, &settings.audience);
        options.leeway_secs = u32::try_from(settings.leeway_secs).unwrap_or(u32::MAX);
        let verifier = ring.verifier(options)?;
        Ok(Keys { ring, verifier })
    }

    /// The keys in force now.
    pub fn keys(&self) -> Arc<Keys> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reloads the signing keys from the store (another process may have
    /// rotated them) and puts them in force.
    pub async fn reload_keys(&self) -> Result<(), KeyError> {
        let ring = KeyRing::load(self.store.as_ref(), self.settings.key_policy().retention).await?;
        let keys = Arc::new(Self::keys_for(&self.settings, ring)?);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(())
    }

    /// One round of upkeep: reload the keys and prune revocations whose
    /// `until` has passed (never earlier).
    pub async fn maintain(&self) {
        if let Err(err) = self.reload_keys().await {
            tracing::warn!(error = %err, "reloading signing keys failed; keeping the loaded ones");
        }
        match self.store.prune_revocations(self.clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "pruned expired revocations"),
            Err(err) => tracing::warn!(error = %err, "pruning revocations failed"),
        }
    }
}

/// The issuer's routes, with request ids, tracing, latency metrics and a
/// body limit around them.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/v1/auth/signup", post(api::signup))
        .route("/v1/auth/login", post(api::login))
        .route("/v1/auth/refresh", post(api::refresh))
        .route("/v1/auth/logout", post(api::logout))
        .route("/v1/auth/logout-all", post(api::logout_all))
        .route("/v1/sessions", get(api::sessions))
        .route("/v1/sessions/{id}", delete(api::delete_session))
        .route("/v1/users/me", get(api::me))
        .route("/v1/admin/users/{id}/deactivate", post(api::deactivate))
        .route("/oauth/revoke", post(api::oauth_revoke))
        .route("/v1/revocations", get(revocations))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
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
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), route, request_id = id)
                }))
                .layer(PropagateRequestIdLayer::new(request_id)),
        )
        .with_state(state)
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

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Serves `app(state)` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish (at most [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let upkeep = tokio::spawn(upkeep(state.clone()));
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stopping_tx.send(());
    });
    let server = tokio::spawn(async move { server.await });
    // Requests may run on after the signal; give them a bounded time.
    let result = tokio::select! {
        result = server => result.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        () = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => {
            tracing::warn!("drain timeout passed; closing open connections");
            Ok(())
        }
    };
    upkeep.abort();
    result
}

/// Runs [`AppState::maintain`] every `key_reload_secs`.
async fn upkeep(state: AppState) {
    let period = Duration::from_secs(state.settings.key_reload_secs.max(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        ticks.tick().await;
        state.maintain().await;
    }
}

/// How long in-flight requests may run after a shutdown signal.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[derive(Deserialize)]
struct FeedQuery {
    since: Option<String>,
    limit: Option<String>,
}

async fn revocations(
    State(state): State<AppState>,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Json<RevocationFeed>, ApiError> {
    // Axum's own rejection is plain text; every failure here is problem+json.
    let Query(query) = query.map_err(|err| ApiError::invalid("query", err.body_text()))?;
    let limit = match query.limit.as_deref() {
        None => feed::DEFAULT_LIMIT,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=feed::MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("must be a whole number from 1 to {}", feed::MAX_LIMIT),
                )
            })?,
    };
    let page = feed::page(
        state.store.as_ref(),
        query.since.as_deref(),
        limit,
        state.clock.now(),
    )
    .await?;
    state.metrics.feed_poll(page.reset);
    Ok(Json(page))
}

async fn jwks(State(state): State<AppState>) -> Json<Jwks> {
    Json(state.keys().ring.jwks(state.clock.now()))
}
