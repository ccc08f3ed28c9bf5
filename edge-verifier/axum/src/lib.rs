//! tollgate for axum services: verify the access token natively, with the
//! same verifier crate as the edge, and keep your own revocation state in
//! sync from the issuer's feed. Defence in depth: the service trusts no
//! `x-tollgate-*` header alone.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tollgate_axum::{Claims, Tollgate, TollgateConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tollgate = Tollgate::connect(TollgateConfig::new(
//!     "http://127.0.0.1:8080", "tollgate", "tollgate-api",
//! )).await?;
//! let app: Router = Router::new()
//!     .route("/me", get(|Claims(claims): Claims| async move { claims.sub }))
//!     .with_state(tollgate);
//! # Ok(()) }
//! ```
//!
//! The sync policy is DESIGN.md's, as at the edge: a request that finds the
//! revocation state older than `max_age` syncs first (one sync at a time;
//! the others wait for it); if the issuer cannot be reached the last state
//! serves until `fail_after`, then requests get 503
//! `revocation_state_stale`. An unknown `kid` refetches the JWKS, at most
//! once per `jwks_cooldown`.

#![warn(missing_docs)]

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tollgate_verifier::{
    AccessClaims, KeySet, RevocationFeed, RevocationSet, Verifier, VerifierOptions, VerifyError,
};

/// Where the issuer is and what tokens must say.
#[derive(Debug, Clone)]
pub struct TollgateConfig {
    /// Base URL of the issuer (`http://` only: put TLS in front if needed).
    pub issuer_url: String,
    /// The `iss` tokens carry.
    pub issuer: String,
    /// The audience `aud` must contain.
    pub audience: String,
    /// Revocation state older than this is synced before a token is accepted.
    pub max_age: Duration,
    /// With the issuer unreachable, the last state serves this long.
    pub fail_after: Duration,
    /// At most one JWKS refetch on an unknown `kid` per this long.
    pub jwks_cooldown: Duration,
    /// Clock skew allowed on token times, in seconds.
    pub leeway_secs: u32,
}

impl TollgateConfig {
    /// DESIGN.md's defaults: 1 s max age, 30 s fail-after, 10 s JWKS cooldown, 30 s leeway.
    pub fn new(
        issuer_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        TollgateConfig {
            issuer_url: issuer_url.into().trim_end_matches('/').to_owned(),
            issuer: issuer.into(),
            audience: audience.into(),
            max_age: Duration::from_secs(1),
            fail_after: Duration::from_secs(30),
            jwks_cooldown: Duration::from_secs(10),
            leeway_secs: 30,
        }
    }
}

/// Fetching keys or the feed failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SyncError(String);

struct State {
    verifier: Verifier,
    revocations: RevocationSet,
    synced_at: Instant,
    jwks_at: Instant,
    last_error: Option<String>,
}

struct Inner {
    config: TollgateConfig,
    client: Client<HttpConnector, Empty<Bytes>>,
    state: RwLock<State>,
    /// Held while a sync runs, so there is one at a time.
    syncing: tokio::sync::Mutex<()>,
}

/// A verifier kept in sync with the issuer. Cheap to clone; put it in your
/// router state (directly, or in yours with `FromRef`).
#[derive(Clone)]
pub struct Tollgate(Arc<Inner>);

impl std::fmt::Debug for Tollgate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tollgate")
            .field("issuer_url", &self.0.config.issuer_url)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Tollgate {
    /// Loads the JWKS and a full snapshot of the feed; fails if it cannot,
    /// since a service that never saw a snapshot must accept no token.
    pub async fn connect(config: TollgateConfig) -> Result<Self, SyncError> {
        let client = Client::builder(TokioExecutor::new()).build_http();
        let keys = fetch_keys(&client, &config).await?;
        let mut options = VerifierOptions::new(&config.issuer, &config.audience);
        options.leeway_secs = config.leeway_secs;
        let now = Instant::now();
        let tollgate = Tollgate(Arc::new(Inner {
            state: RwLock::new(State {
                verifier: Verifier::new(options, keys),
                revocations: RevocationSet::new(),
                synced_at: now,
                jwks_at: now,
                last_error: None,
            }),
            config,
            client,
            syncing: tokio::sync::Mutex::new(()),
        }));
        tollgate.pull().await?;
        Ok(tollgate)
    }

    /// Verifies `token` after making sure the revocation state is fresh.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        self.ensure_fresh().await?;
        match self.verify_now(token) {
            Err(VerifyError::UnknownKid) if self.may_refetch_keys() => {
                self.refetch_keys().await;
                self.verify_now(token)
            }
            other => other,
        }
    }

    /// Pulls the feed now, whatever the state's age.
    pub async fn sync(&self) -> Result<(), SyncError> {
        let _turn = self.0.syncing.lock().await;
        self.pull().await
    }

    /// How many revocations are held.
    pub fn revoked_count(&self) -> usize {
        self.read().revocations.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.0.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.0.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn verify_now(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let state = self.read();
        state
            .verifier
            .verify(token, now_secs(), &state.revocations)
            .map(|verified| verified.claims().clone())
    }

    async fn ensure_fresh(&self) -> Result<(), VerifyError> {
        let max_age = self.0.config.max_age;
        if self.read().synced_at.elapsed() <= max_age {
            return Ok(());
        }
        let _turn = self.0.syncing.lock().await;
        // Another request may have synced while this one waited.
        if self.read().synced_at.elapsed() <= max_age {
            return Ok(());
        }
        if self.pull().await.is_ok() {
            return Ok(());
        }
        if self.read().synced_at.elapsed() <= self.0.config.fail_after {
            Ok(())
        } else {
            Err(VerifyError::RevocationStateStale)
        }
    }

    /// Follows the feed until caught up, then prunes.
    async fn pull(&self) -> Result<(), SyncError> {
        let started = Instant::now();
        let result: Result<(), SyncError> = async {
            loop {
                let cursor = self.read().revocations.cursor().map(str::to_owned);
                let path = RevocationFeed::request_path(cursor.as_deref());
                let body = get(&self.0.client, &self.0.config, &path).await?;
                let page: RevocationFeed = serde_json::from_slice(&body)
                    .map_err(|err| SyncError(format!("feed page does not parse: {err}")))?;
                self.write().revocations.apply(&page);
                if !page.more {
                    return Ok(());
                }
            }
        }
        .await;
        let mut state = self.write();
        match &result {
            Ok(()) => {
                state.synced_at = started;
                state.last_error = None;
                let leeway = i64::from(self.0.config.leeway_secs);
                state.revocations.prune(now_secs().saturating_sub(leeway));
            }
            Err(err) => {
                tracing::warn!(error = %err, "revocation sync failed");
                state.last_error = Some(err.to_string());
            }
        }
        result
    }

    fn may_refetch_keys(&self) -> bool {
        self.read().jwks_at.elapsed() >= self.0.config.jwks_cooldown
    }

    async fn refetch_keys(&self) {
        self.write().jwks_at = Instant::now();
        match fetch_keys(&self.0.client, &self.0.config).await {
            Ok(keys) => self.write().verifier.set_keys(keys),
            Err(err) => tracing::warn!(error = %err, "JWKS refetch failed"),
        }
    }
}

async fn get(
    client: &Client<HttpConnector, Empty<Bytes>>,
    config: &TollgateConfig,
    path: &str,
) -> Result<Bytes, SyncError> {
    let url = format!("{}{path}", config.issuer_url);
    let uri = url
        .parse()
        .map_err(|err| SyncError(format!("bad URL {url}: {err}")))?;
    let response = tokio::time::timeout(Duration::from_secs(5), client.get(uri))
        .await
        .map_err(|_| SyncError(format!("GET {url}: timed out")))?
        .map_err(|err| SyncError(format!("GET {url}: {err}")))?;
    if response.status() != StatusCode::OK {
        return Err(SyncError(format!("GET {url}: HTTP {}", response.status())));
    }
    Ok(response
        .into_body()
        .collect()
        .await
        .map_err(|err| SyncError(format!("GET {url}: {err}")))?
        .to_bytes())
}

async fn fetch_keys(
    client: &Client<HttpConnector, Empty<Bytes>>,
    config: &TollgateConfig,
) -> Result<KeySet, SyncError> {
    let body = get(client, config, "/.well-known/jwks.json").await?;
    let text = std::str::from_utf8(&body).map_err(|err| SyncError(err.to_string()))?;
    KeySet::from_json(text).map_err(|err| SyncError(format!("JWKS does not parse: {err}")))
}

/// The verified claims of the request's access token (`Authorization:
/// Bearer`, else the `access_token` cookie). Rejects with a problem+json:
/// 401 with `WWW-Authenticate`, or 503 `revocation_state_stale`.
#[derive(Debug, Clone)]
pub struct Claims(pub AccessClaims);

/// Why [`Claims`] refused a request.
#[derive(Debug)]
pub enum Rejection {
    /// No token at all.
    Missing,
    /// The verifier refused it.
    Invalid(VerifyError),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, code, challenge) = match &self {
            Rejection::Missing => (
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "Bearer".to_owned(),
            ),
            Rejection::Invalid(VerifyError::RevocationStateStale) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "revocation_state_stale",
                String::new(),
            ),
            Rejection::Invalid(err) => {
                let code = err.code().as_str();
                (
                    StatusCode::UNAUTHORIZED,
                    code,
                    format!("Bearer error=\"invalid_token\", error_description=\"{code}\""),
                )
            }
        };
        let body = serde_json::json!({
            "type": "about:blank",
            "title": "The request is not authenticated.",
            "status": status.as_u16(),
            "code": code,
        });
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            if !challenge.is_empty() {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// The access token, where [`Verifier::token_from_headers`] finds it.
fn token(parts: &Parts) -> Option<&str> {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    Verifier::token_from_headers(header(header::AUTHORIZATION), header(header::COOKIE))
}

impl<S: Send + Sync> FromRequestParts<S> for Claims
where
    Tollgate: FromRef<S>,
{
    type Rejection = Rejection;

    #[tracing::instrument(name = "tollgate", skip_all)]
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let token = token(parts).ok_or(Rejection::Missing)?;
        Tollgate::from_ref(state)
            .verify(token)
            .await
            .map(Claims)
            .map_err(Rejection::Invalid)
    }
}
