//! The tollgate issuer: users log in here; it signs access and refresh
//! tokens per device and publishes every revocation on the feed that edge
//! verifiers pull.
//!
//! So far it holds the persistent revocation log and serves its feed, and
//! keeps and publishes its signing keys; users, sessions and tokens come next (see the README's status table).
//!
//! # Layout
//! - [`store`]: persistence behind the [`Store`](store::Store) trait, on SQLite or Postgres.
//! - [`feed`]: the revocation feed's paging and cursor rules, over any store.
//! - [`keys`]: signing keys, persisted in the store, rotated with overlap; the JWKS.
//! - [`app`]: the HTTP routes; [`AppState`] holds the cheap handles they share.
//! - [`error`]: the one API error type, rendered as problem+json.
//! - [`config`]: flags and environment; [`serve`] runs the app until shutdown.

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod feed;
pub mod keys;
pub mod store;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tollgate_verifier::{Jwks, RevocationFeed};

use crate::error::ApiError;
use crate::keys::KeyRing;
use crate::store::Store;

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

/// What every handler shares: cheap, cloneable handles.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The signing keys (replaced whole on rotation).
    pub keys: Arc<RwLock<Arc<KeyRing>>>,
}

impl AppState {
    /// The keys in force now.
    pub fn key_ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The issuer's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/revocations", get(revocations))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish (at most [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app(state)).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stopping_tx.send(());
    });
    let server = tokio::spawn(async move { server.await });
    // Requests may run on after the signal; give them a bounded time.
    tokio::select! {
        result = server => result.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        () = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => {
            tracing::warn!("drain timeout passed; closing open connections");
            Ok(())
        }
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
    Ok(Json(page))
}

async fn jwks(State(state): State<AppState>) -> Json<Jwks> {
    Json(state.key_ring().jwks(state.clock.now()))
}
