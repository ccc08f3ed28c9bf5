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
//! The sync policy is DESIGN.md's, decided by the verifier crate's
//! [`Syncer`] exactly as at the edge and in the npm package; this crate only
//! performs the fetches it asks for:
//! - a token is checked only against state younger than `max_age`; past
//!   `refresh_ahead` the state is refreshed in a background task, so steady
//!   traffic never waits;
//! - one sync runs at a time; a request that must wait never waits past the
//!   fetch's deadline (which covers the body) nor past `fail_after`;
//! - with the issuer unreachable the last state serves until `fail_after`,
//!   then requests get 503 `revocation_state_stale`;
//! - a snapshot replaces the state only when all its pages have arrived, and
//!   a new key-set version on the feed refetches the JWKS before the next
//!   token is accepted;
//! - an unknown `kid` refetches the JWKS at most once per `jwks_cooldown`.

#![warn(missing_docs)]

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRef, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tollgate_verifier::{
    AccessClaims, Fetch, Outcome, Presented, Scheme, Step, SyncOptions, SyncStatus, Syncer,
    Verifier, VerifierOptions, VerifyError, dpop,
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
    /// Past this age the state is refreshed in the background (default, if
    /// `None`: half of `max_age`).
    pub refresh_ahead: Option<Duration>,
    /// Revocation state older than this is synced before a token is accepted.
    pub max_age: Duration,
    /// With the issuer unreachable, the last state serves this long.
    pub fail_after: Duration,
    /// How long one request to the issuer (headers and body) may take.
    pub request_timeout: Duration,
    /// At most one JWKS refetch on an unknown `kid` per this long.
    pub jwks_cooldown: Duration,
    /// Clock skew allowed on token times, in seconds.
    pub leeway_secs: u32,
    /// The base URLs clients address this service at (for DPoP, whose
    /// proofs name the URL): behind the edge, the edge's public URL, not
    /// this service's own. Empty: `http://` or `https://` plus the `Host`
    /// header.
    pub public_urls: Vec<String>,
}

impl TollgateConfig {
    /// DESIGN.md's defaults, from the verifier crate: 1 s max age (refresh
    /// ahead at half of it), 30 s fail-after, 5 s per request, 10 s JWKS
    /// cooldown, 30 s leeway.
    pub fn new(
        issuer_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        let defaults = SyncOptions::default();
        let ms = Duration::from_millis;
        TollgateConfig {
            issuer_url: issuer_url.into().trim_end_matches('/').to_owned(),
            issuer: issuer.into(),
            audience: audience.into(),
            refresh_ahead: None,
            max_age: ms(defaults.max_age_ms),
            fail_after: ms(defaults.fail_after_ms),
            request_timeout: ms(defaults.request_timeout_ms),
            jwks_cooldown: ms(defaults.jwks_cooldown_ms),
            leeway_secs: tollgate_verifier::DEFAULT_LEEWAY_SECS,
            public_urls: Vec::new(),
        }
    }

    /// The sync timing for the crate's [`Syncer`], which judges it.
    fn sync_options(&self) -> SyncOptions {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut options = SyncOptions::new(ms(self.max_age), ms(self.fail_after));
        if let Some(refresh_ahead) = self.refresh_ahead {
            options.refresh_ahead_ms = ms(refresh_ahead);
        }
        options.request_timeout_ms = ms(self.request_timeout);
        options.jwks_cooldown_ms = ms(self.jwks_cooldown);
        options
    }
}

/// The configuration is unusable, or the first sync failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SyncError(String);

struct Inner {
    config: TollgateConfig,
    client: Client<HttpConnector, Empty<Bytes>>,
    syncer: RwLock<Syncer>,
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

/// The wall clock in Unix milliseconds: token times are wall-clock times.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How long until `deadline_ms`, from now.
fn until(deadline_ms: u64) -> Duration {
    Duration::from_millis(deadline_ms.saturating_sub(now_ms()))
}

/// How often a request waiting for another's sync looks again.
const WAIT_STEP: Duration = Duration::from_millis(5);

impl Tollgate {
    /// Loads the JWKS and a full snapshot of the feed; fails if it cannot
    /// (within `fail_after`), since a service that never saw a snapshot must
    /// accept no token. Settings that would fail open are refused here.
    pub async fn connect(config: TollgateConfig) -> Result<Self, SyncError> {
        let mut options = VerifierOptions::new(&config.issuer, &config.audience);
        options.leeway_secs = config.leeway_secs;
        let syncer = Syncer::new(config.sync_options(), options)
            .map_err(|err| SyncError(format!("invalid configuration: {err}")))?;
        let tollgate = Tollgate(Arc::new(Inner {
            client: Client::builder(TokioExecutor::new()).build_http(),
            syncer: RwLock::new(syncer),
            config,
        }));
        tollgate
            .ready()
            .await
            .map_err(|err| SyncError(format!("first sync failed: {err}")))?;
        Ok(tollgate)
    }

    /// Verifies `token` (as Bearer, with no proof) after making sure the
    /// revocation state may be used. A DPoP-bound token fails here; see
    /// [`Self::verify_request`].
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let presented = Presented {
            scheme: Scheme::Bearer,
            token,
            proofs: &[],
            method: "",
            url: "",
        };
        self.verify_request(&presented).await
    }

    /// Verifies what a request presents, a DPoP proof included (the
    /// verifier crate's [`Verifier::verify_request`]), after making sure the
    /// revocation state may be used.
    pub async fn verify_request(
        &self,
        presented: &Presented<'_>,
    ) -> Result<AccessClaims, VerifyError> {
        self.ready()
            .await
            .map_err(|_| VerifyError::RevocationStateStale)?;
        let first = self.read().verify_request(presented, now_ms());
        match first {
            Err(VerifyError::UnknownKid) => {
                let Some(fetch) = self.write().refetch_keys(now_ms()) else {
                    return Err(VerifyError::UnknownKid);
                };
                self.drive(fetch).await;
                // The refetch took time: the state's age is the syncer's to judge again.
                self.ready()
                    .await
                    .map_err(|_| VerifyError::RevocationStateStale)?;
                self.read().verify_request(presented, now_ms())
            }
            other => other,
        }
        .map(|verified| verified.claims().clone())
    }

    /// Pulls the feed now, whatever the state's age; waits for a sync in
    /// flight instead if there is one.
    pub async fn sync(&self) -> Result<(), SyncError> {
        let fetch = self.write().sync_now(now_ms());
        match fetch {
            Some(fetch) => self.drive(fetch).await,
            None => {
                while self.read().in_flight(now_ms()) {
                    tokio::time::sleep(WAIT_STEP).await;
                }
            }
        }
        match self.read().status(now_ms()).last_error {
            None => Ok(()),
            Some(error) => Err(SyncError(error)),
        }
    }

    /// How many revocations are held.
    pub fn revoked_count(&self) -> usize {
        self.read().revocations().len()
    }

    /// Where the sync stands, for health pages: no keys, no tokens.
    pub fn status(&self) -> SyncStatus {
        self.read().status(now_ms())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Syncer> {
        self.0.syncer.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Syncer> {
        self.0
            .syncer
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Does what the syncer says until a token may be checked; `Err` with
    /// the reason when it must be refused as stale.
    async fn ready(&self) -> Result<(), String> {
        let arrived = now_ms();
        loop {
            if self.read().is_fresh(now_ms()) {
                return Ok(());
            }
            let step = self.write().step(now_ms(), arrived);
            match step {
                Step::Ready { refresh } => {
                    self.background(refresh);
                    return Ok(());
                }
                Step::Fetch(fetch) => self.drive(fetch).await,
                Step::Wait { until_ms } => tokio::time::sleep(until(until_ms).min(WAIT_STEP)).await,
                Step::Stale { reason, refresh } => {
                    self.background(refresh);
                    return Err(reason);
                }
            }
        }
    }

    fn background(&self, fetch: Option<Fetch>) {
        if let Some(fetch) = fetch {
            let this = self.clone();
            tokio::spawn(async move { this.drive(fetch).await });
        }
    }

    /// Performs `fetch` and the ones the syncer asks for after it.
    async fn drive(&self, mut fetch: Fetch) {
        loop {
            let url = format!("{}{}", self.0.config.issuer_url, fetch.path);
            let result = get(&self.0.client, &url, fetch.deadline_ms).await;
            let outcome = match &result {
                Ok(body) => match std::str::from_utf8(body) {
                    Ok(text) => Outcome::Body {
                        text,
                        observed_ms: None,
                    },
                    Err(_) => Outcome::Failed("the body is not UTF-8"),
                },
                Err(error) => {
                    tracing::warn!(%error, "tollgate sync failed");
                    Outcome::Failed(error)
                }
            };
            let next = self.write().on_response(fetch.id, now_ms(), outcome);
            match next {
                Some(next) => fetch = next,
                None => return,
            }
        }
    }
}

/// GETs `url`; the whole exchange, body included, must end by `deadline_ms`.
async fn get(
    client: &Client<HttpConnector, Empty<Bytes>>,
    url: &str,
    deadline_ms: u64,
) -> Result<Bytes, String> {
    let uri = url.parse().map_err(|err| format!("bad URL {url}: {err}"))?;
    let exchange = async {
        let response = client
            .get(uri)
            .await
            .map_err(|err| format!("GET {url}: {err}"))?;
        if response.status() != StatusCode::OK {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        Ok(response
            .into_body()
            .collect()
            .await
            .map_err(|err| format!("GET {url}: {err}"))?
            .to_bytes())
    };
    tokio::time::timeout(until(deadline_ms), exchange)
        .await
        .map_err(|_| format!("GET {url}: no complete answer by the deadline"))?
}

/// The verified claims of the request's access token (`Authorization:
/// Bearer` or `DPoP` with its proof, else the `access_token` cookie).
/// Rejects with a problem+json: 401 with `WWW-Authenticate`, or 503
/// `revocation_state_stale`.
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
            Rejection::Invalid(err) => (
                StatusCode::UNAUTHORIZED,
                err.code().as_str(),
                err.code().challenge(),
            ),
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

/// The token and its scheme, where [`Verifier::credentials`] finds them.
fn credentials(parts: &Parts) -> Option<(Scheme, &str)> {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    Verifier::credentials(header(header::AUTHORIZATION), header(header::COOKIE))
}

/// The URL the client addressed, for a DPoP proof's `htu`: one of the
/// configured public URLs (or this request's host) plus the path as the
/// client sent it (before any `Router::nest` stripped a prefix). A `Host`
/// that could bend the URL gives none, and the proof is refused.
fn public_url(config: &TollgateConfig, parts: &Parts, proof: &str) -> String {
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(parts.uri.path(), |original| original.path());
    if config.public_urls.is_empty() {
        let host = parts
            .uri
            .authority()
            .map(|authority| authority.as_str())
            .or_else(|| {
                parts
                    .headers
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
            })
            .filter(|host| dpop::is_host(host));
        let origins: Vec<String> = host
            .map(|host| vec![format!("http://{host}"), format!("https://{host}")])
            .unwrap_or_default();
        dpop::choose_url(proof, &origins, path)
    } else {
        dpop::choose_url(proof, &config.public_urls, path)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Claims
where
    Tollgate: FromRef<S>,
{
    type Rejection = Rejection;

    #[tracing::instrument(name = "tollgate", skip_all)]
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let (scheme, token) = credentials(parts).ok_or(Rejection::Missing)?;
        let tollgate = Tollgate::from_ref(state);
        // A value that is not text still counts, so two headers are refused.
        let proofs: Vec<&str> = parts
            .headers
            .get_all("dpop")
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        let url = proofs
            .first()
            .map(|proof| public_url(&tollgate.0.config, parts, proof))
            .unwrap_or_default();
        let presented = Presented {
            scheme,
            token,
            proofs: &proofs,
            method: parts.method.as_str(),
            url: &url,
        };
        tollgate
            .verify_request(&presented)
            .await
            .map(Claims)
            .map_err(Rejection::Invalid)
    }
}
