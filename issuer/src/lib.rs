//! The tollgate issuer: users log in here; it signs access and refresh
//! tokens per device and publishes every revocation on the feed that edge
//! verifiers pull.
//!
//! # Layout
//! - [`store`]: persistence behind the [`Store`](store::Store) trait, on SQLite or Postgres.
//! - [`api`]: the account handlers (signup, login, refresh, logout, sessions, admin, RFC 7009).
//! - [`auth`]: Argon2id passwords, input rules, refresh tokens.
//! - [`dpop`]: DPoP proofs at the token routes, server nonces, the public URL.
//! - [`extract`]: the Bearer-authenticated caller and bodies whose rejections are problems.
//! - [`feed`]: the revocation feed's paging and cursor rules, over any store.
//! - [`keys`]: signing keys, persisted in the store, rotated with overlap; the JWKS.
//! - [`ratelimit`], [`metrics`]: login limits; Prometheus text.
//! - [`seal`]: signing-key seeds and the refresh key sealed at rest.
//! - [`app`]: the HTTP routes; [`AppState`] holds the cheap handles they share.
//! - [`error`]: the one API error type, rendered as problem+json.
//! - [`config`]: flags and environment; [`serve`] runs the app until shutdown.
//! - [`openapi`]: the OpenAPI document, generated from the routes (`GET /openapi.json`).

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod config;
pub mod dpop;
pub mod error;
pub mod extract;
pub mod feed;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod seal;
pub mod store;

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{HeaderName, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Deserialize;
use tollgate_verifier::{Jwks, Verifier, VerifierOptions};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{BadParams, Passwords, RefreshKey};
use crate::config::{Settings, SettingsError};
use crate::error::ApiError;
use crate::keys::{KeyError, KeyRing};
use crate::metrics::Metrics;
use crate::ratelimit::{Limiter, RateLimiter, limiter_for};
use crate::store::{Store, StoreError};

/// How many refresh and RFC 7009 requests do their database work at once;
/// more wait their turn (at most [`SLOT_WAIT`]), parked, so a flood of them
/// does not crowd out logouts and every other request for the CPU. A slot is
/// taken only once the body is read and the per-address limit has passed, so
/// slow or limited clients cannot hold one.
pub const UNAUTHENTICATED_SLOTS: usize = 4;

/// The longest a refresh or RFC 7009 request waits for a slot; then 429.
pub const SLOT_WAIT: Duration = Duration::from_secs(2);

/// The longest a client may take to send a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// A setting would fail open or makes no sense.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The signing keys could not be loaded or made.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The Argon2 settings are invalid.
    #[error(transparent)]
    Passwords(#[from] BadParams),
    /// A server secret could not be read or stored.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    pub account_limit: Arc<dyn Limiter>,
    /// Login and signup attempts per client address.
    pub address_limit: Arc<dyn Limiter>,
    /// Failed refreshes and RFC 7009 revocations per client address.
    pub token_limit: Arc<RateLimiter>,
    /// Counters and latencies for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Slots for the unauthenticated token routes ([`UNAUTHENTICATED_SLOTS`]).
    pub token_slots: Arc<tokio::sync::Semaphore>,
    /// The first snapshot page, serialized once per log head.
    pub snapshots: Arc<feed::SnapshotCache>,
    /// The key refresh-token successors are derived under (an HMAC key,
    /// shared by every replica through the database).
    pub refresh_key: Arc<RefreshKey>,
    /// The key DPoP server nonces are made under (shared like the refresh key).
    pub nonce_key: Arc<dpop::NonceKey>,
    /// DPoP proofs this process has accepted, each usable once.
    pub dpop_replays: Arc<dpop::Replays>,
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
        settings.check()?;
        let ring =
            KeyRing::load_or_create(store.as_ref(), clock.now(), &settings.key_policy()).await?;
        let keys = Arc::new(RwLock::new(Arc::new(Self::keys_for(&settings, ring)?)));
        let refresh_key = Arc::new(RefreshKey::load(store.as_ref()).await?);
        let nonce_key = Arc::new(dpop::NonceKey::load(store.as_ref()).await?);
        Ok(AppState {
            refresh_key,
            nonce_key,
            dpop_replays: Arc::default(),
            snapshots: Arc::default(),
            token_slots: Arc::new(tokio::sync::Semaphore::new(UNAUTHENTICATED_SLOTS)),
            passwords: Passwords::new(&settings)?,
            account_limit: limiter_for(
                &store,
                "account",
                settings.login_limit_per_account,
                settings.rate_window_secs,
            ),
            address_limit: limiter_for(
                &store,
                "address",
                settings.login_limit_per_address,
                settings.rate_window_secs,
            ),
            token_limit: Arc::new(RateLimiter::new(
                settings.token_failures_per_address,
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

    /// The keys this replica loaded last. To sign or check a token, use
    /// [`Self::current_keys`], which also notices a withdrawal made elsewhere.
    pub fn keys(&self) -> Arc<Keys> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The keys in force now: reloaded first if the database's key-set
    /// version moved (a rotation or a withdrawal by another process), so no
    /// replica signs with or trusts a withdrawn key. One indexed read.
    ///
    /// It returns the ring it checked or loaded itself, never what another
    /// task (the periodic reload) stored meanwhile, which may be older.
    pub async fn current_keys(&self) -> Result<Arc<Keys>, ApiError> {
        let version = self.store.keys_version().await?;
        let keys = self.keys();
        if keys.ring.version() == version {
            return Ok(keys);
        }
        self.reload_keys()
            .await
            .map_err(|err| ApiError::Internal(format!("reloading signing keys: {err}")))
    }

    /// Reloads the signing keys from the store (another process may have
    /// rotated them), puts them in force and returns them.
    pub async fn reload_keys(&self) -> Result<Arc<Keys>, KeyError> {
        let ring = KeyRing::load(self.store.as_ref(), self.settings.key_policy().retention).await?;
        let keys = Arc::new(Self::keys_for(&self.settings, ring)?);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&keys);
        Ok(keys)
    }

    /// One round of upkeep: reload the keys and prune revocations whose
    /// `until` passed more than the largest verifier leeway ago.
    pub async fn maintain(&self) {
        if let Err(err) = self.reload_keys().await {
            tracing::warn!(error = %err, "reloading signing keys failed; keeping the loaded ones");
        }
        // As in snapshots: kept for the most leeway a verifier may allow.
        let horizon = self
            .clock
            .now()
            .saturating_sub(i64::from(tollgate_verifier::MAX_LEEWAY_SECS));
        let window = self.settings.rate_window_secs;
        if let Err(err) = self
            .store
            .limit_sweep(self.clock.now().saturating_sub(window))
            .await
        {
            tracing::warn!(error = %err, "sweeping rate-limit windows failed");
        }
        match self.store.prune_revocations(horizon).await {
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
                        .get("x-request-id")
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
    utoipa_axum::router::OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(api::signup))
        .routes(routes!(api::login))
        .routes(routes!(api::refresh))
        .routes(routes!(api::logout))
        .routes(routes!(api::logout_all))
        .routes(routes!(api::sessions))
        .routes(routes!(api::delete_session))
        .routes(routes!(api::me))
        .routes(routes!(api::deactivate))
        .routes(routes!(api::oauth_revoke))
        .routes(routes!(revocations))
        .routes(routes!(jwks))
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi::document))
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

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

/// Prometheus text metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text exposition format", body = String, content_type = "application/openmetrics-text")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
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

/// The feed's query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FeedQuery {
    /// The cursor of the last page applied (`epoch:seq:digest`); none for a snapshot.
    since: Option<String>,
    /// Entries per page, 1 to 1000 (default 1000).
    limit: Option<String>,
}

/// The revocation feed: a snapshot without a cursor, else every entry
/// committed after it, paged.
#[utoipa::path(get, path = "/v1/revocations", tag = "feed", params(FeedQuery),
    responses((status = 200, description = "One page of the feed", body = openapi::FeedPage), openapi::Problem400))]
async fn revocations(
    State(state): State<AppState>,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
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
    let now = state.clock.now();
    // Whatever the cursor (none, garbage, another database's), a snapshot
    // comes from the one cached read of the log's head.
    let served = state
        .snapshots
        .serve(
            state.store.as_ref(),
            query.since.as_deref(),
            limit,
            now,
            || {
                state.metrics.snapshot_built();
            },
        )
        .await?;
    Ok(match served {
        feed::Served::Snapshot(body) => {
            state.metrics.feed_poll(metrics::FeedKind::Snapshot);
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    FEED_CACHE_CONTROL,
                ],
                body,
            )
                .into_response()
        }
        feed::Served::Delta(page) => {
            state.metrics.feed_poll(metrics::FeedKind::Delta);
            ([FEED_CACHE_CONTROL], Json(page)).into_response()
        }
    })
}

/// A cache between the issuer and a verifier (a CDN rule, a proxy) must
/// never answer for the feed: a stored page would be taken as news. The
/// JWKS may be stored but is revalidated each time, so a withdrawn key is
/// never served from a cache.
const FEED_CACHE_CONTROL: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-store");
const JWKS_CACHE_CONTROL: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-cache");

/// The signing keys' public parts, with the key-set version.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "feed",
    responses((status = 200, description = "The JWKS (RFC 7517), plus `keys_version`", body = openapi::JwksDocument)))]
async fn jwks(
    State(state): State<AppState>,
) -> Result<([(header::HeaderName, &'static str); 1], Json<Jwks>), ApiError> {
    let jwks = state.current_keys().await?.ring.jwks(state.clock.now());
    Ok(([JWKS_CACHE_CONTROL], Json(jwks)))
}
