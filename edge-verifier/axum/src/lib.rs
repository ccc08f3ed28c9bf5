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
//! The sync policy is decided by the verifier crate's [`Syncer`], exactly
//! as at the edge and in the npm package: this crate only does what it says
//! ([`Next`]): it spawns each fetch as its own task (so a client that hangs
//! up takes nothing with it), sleeps, checks signatures natively, answers.
//!
//! # Layout
//! - [`TollgateConfig`], [`Clock`]: what it is told (`config`).
//! - [`Tollgate`]: the syncer and the loop that drives it (this file).
//! - [`Claims`], [`Rejection`]: the extractor and its refusals (`extract`).
//! - the issuer client, a `GET` with one deadline (`client`).

#![warn(missing_docs)]

mod client;
mod config;
mod extract;

pub use config::{Clock, SystemClock, TollgateConfig};
pub use extract::{Claims, Rejection};
/// The verified claims (tollgate's own or a trusted upstream's).
pub use tollgate_verifier::AccessClaims;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tollgate_verifier::{
    Admission, Catchup, Fetch, Next, Outcome, ReplayMode, Request, SyncStatus, Syncer, Verdicts,
    VerifierOptions, VerifyError,
};

use crate::client::IssuerClient;

/// The configuration is unusable, or the first sync failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SyncError(String);

struct Inner {
    config: TollgateConfig,
    client: IssuerClient,
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

impl Tollgate {
    /// Loads the JWKS and a full snapshot of the feed; fails if it cannot
    /// (within `fail_after`), since a service that never saw a snapshot must
    /// accept no token. Settings that would fail open are refused here.
    pub async fn connect(mut config: TollgateConfig) -> Result<Self, SyncError> {
        config.issuer_url = config.issuer_url.trim_end_matches('/').to_owned();
        let mut options = VerifierOptions::new(&config.issuer, &config.audience);
        options.leeway_secs = config.leeway_secs;
        let invalid = |err: tollgate_verifier::ConfigError| {
            SyncError(format!("invalid configuration: {err}"))
        };
        let syncer =
            Syncer::new(config.sync.options().map_err(invalid)?, options).map_err(invalid)?;
        let tollgate = Tollgate(Arc::new(Inner {
            client: IssuerClient::new(),
            syncer: RwLock::new(syncer),
            config,
        }));
        let now = tollgate.now();
        tollgate
            .catch_up(Catchup::usable(now))
            .await
            .map_err(|err| SyncError(format!("first sync failed: {err}")))?;
        Ok(tollgate)
    }

    /// The configuration in force.
    pub fn config(&self) -> &TollgateConfig {
        &self.0.config
    }

    /// Verifies `token` (as Bearer, with no proof). A DPoP-bound token
    /// fails here; see [`Self::verify_request`].
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        self.verify_request(Request::bearer(token)).await
    }

    /// Verifies what a request presents, a DPoP proof included, doing what
    /// the syncer says until it answers.
    pub async fn verify_request(&self, request: Request) -> Result<AccessClaims, VerifyError> {
        let mut admission = Admission::new(request, self.now(), ReplayMode::Record);
        loop {
            let now = self.now();
            // The common case under the shared lock; the rest under the
            // exclusive one. Neither guard lives past this statement.
            let shared = self.read().advance_shared(&mut admission, now);
            let next = match shared {
                Some(next) => next,
                None => self.write().advance(&mut admission, now),
            };
            match next {
                Next::Spawn(fetch) => self.spawn(fetch),
                Next::Sleep { until_ms } => self.sleep_until(until_ms).await,
                Next::Check => {
                    let verdicts = admission
                        .pending()
                        .map(Verdicts::native)
                        .unwrap_or_default();
                    admission.checked(verdicts);
                }
                Next::Done(result) => return result.map(|verified| verified.claims().clone()),
            }
        }
    }

    /// Pulls the feed now, whatever the state's age; waits for a sync in
    /// flight instead if there is one.
    pub async fn sync(&self) -> Result<(), SyncError> {
        let now = self.now();
        self.catch_up(Catchup::sync_now(now))
            .await
            .map_err(SyncError)
    }

    /// How many revocations are held.
    pub fn revoked_count(&self) -> usize {
        self.read().revocations().len()
    }

    /// Where the sync stands, for health pages: no keys, no tokens.
    pub fn status(&self) -> SyncStatus {
        self.read().status(self.now())
    }

    fn now(&self) -> u64 {
        self.0.config.clock.now_ms()
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

    /// Does what the syncer says for `catchup` until it answers.
    async fn catch_up(&self, mut catchup: Catchup) -> Result<(), String> {
        loop {
            let now = self.now();
            let next = self.write().advance_catchup(&mut catchup, now);
            match next {
                Next::Spawn(fetch) => self.spawn(fetch),
                Next::Sleep { until_ms } => self.sleep_until(until_ms).await,
                Next::Check => {}
                Next::Done(result) => return result,
            }
        }
    }

    /// Sleeps until `until_ms` by the configured clock.
    async fn sleep_until(&self, until_ms: u64) {
        let left = until_ms.saturating_sub(self.now()).max(1);
        tokio::time::sleep(Duration::from_millis(left)).await;
    }

    /// Runs `fetch`, and every fetch the syncer asks for after it, as a task
    /// of its own: whoever asked for it may go away meanwhile.
    fn spawn(&self, fetch: Fetch) {
        let this = self.clone();
        tokio::spawn(async move { this.drive(fetch).await });
    }

    async fn drive(&self, mut fetch: Fetch) {
        loop {
            let url = format!("{}{}", self.0.config.issuer_url, fetch.path);
            let budget = Duration::from_millis(fetch.deadline_ms.saturating_sub(self.now()));
            let result = self.0.client.get(&url, budget).await;
            let outcome = match &result {
                Ok(text) => Outcome::Body {
                    text,
                    observed_ms: None,
                },
                Err(error) => {
                    tracing::warn!(%error, "tollgate sync failed");
                    Outcome::Failed(error)
                }
            };
            let next = self.write().on_response(fetch.id, self.now(), outcome);
            match next {
                Some(next) => fetch = next,
                None => return,
            }
        }
    }
}
