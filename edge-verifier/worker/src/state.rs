//! The isolate's verification state and the sync policy of DESIGN.md.
//!
//! - A fresh isolate (or one whose module was reset by a panic) has no
//!   state, and accepts no token until it has loaded the JWKS and a full
//!   snapshot of the revocation feed.
//! - Before a token is accepted the state must be younger than
//!   `REVOCATION_MAX_AGE_MS`; if it is older, the request syncs first. One
//!   sync runs per isolate; other requests that need it wait for it to end,
//!   each on its own timer. They must not await the syncing request's
//!   future: workerd refuses to resume a request from another request's
//!   context ("promise resolved from a different request context"), and the
//!   waiter then never answers.
//! - If a sync fails, the last state serves until `FAIL_AFTER_MS` after the
//!   last good sync; then requests get 503 `revocation_state_stale`.
//! - An unknown `kid` refetches the JWKS, at most once per
//!   `JWKS_COOLDOWN_MS`, then the token is tried again.
//!
//! State lives in a thread-local: an isolate runs one thread, and no borrow
//! is ever held across an `await`.

use std::cell::RefCell;

use std::time::Duration;

use futures_util::future::Either;
use serde::Serialize;
use tollgate_verifier::{
    KeySet, RevocationFeed, RevocationSet, Verified, Verifier, VerifierOptions, VerifyError,
};
use worker::{AbortController, Date, Delay, Fetch, Url};

use crate::config::Config;

/// How long one request to the issuer may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a request waiting for another's sync looks again.
const WAIT_STEP: Duration = Duration::from_millis(5);

#[derive(Default)]
struct Edge {
    verifier: Option<Verifier>,
    revocations: RevocationSet,
    /// When the last complete sync started (ms); `None` until the first.
    synced_at: Option<f64>,
    last_error: Option<String>,
    /// A sync is running (in some request).
    syncing: bool,
    jwks_at: f64,
}

thread_local! {
    static EDGE: RefCell<Edge> = RefCell::new(Edge::default());
}

fn now_ms() -> f64 {
    // Millisecond counts fit an f64 exactly for the next 280,000 years.
    #[allow(clippy::cast_precision_loss)]
    let ms = Date::now().as_millis() as f64;
    ms
}

fn now_secs() -> i64 {
    i64::try_from(Date::now().as_millis() / 1000).unwrap_or(i64::MAX)
}

/// Makes sure the state is fresh enough to accept a token; `Err` says why
/// it is not (the issuer has been unreachable for too long, or never was).
pub async fn ensure_fresh(config: &Config) -> Result<(), String> {
    let synced_at = EDGE.with(|edge| edge.borrow().synced_at);
    if synced_at.is_some_and(|at| now_ms() - at <= config.max_age_ms) {
        return Ok(());
    }
    let Err(error) = sync(config).await else {
        return Ok(());
    };
    match EDGE.with(|edge| edge.borrow().synced_at) {
        Some(at) if now_ms() - at <= config.fail_after_ms => Ok(()),
        Some(_) => Err(format!(
            "revocation state older than {} ms: {error}",
            config.fail_after_ms
        )),
        None => Err(format!("no revocation state loaded yet: {error}")),
    }
}

/// Clears the `syncing` flag when the sync ends, however it ends (a
/// cancelled request drops its future halfway).
struct SyncTurn;

impl Drop for SyncTurn {
    fn drop(&mut self) {
        EDGE.with(|edge| edge.borrow_mut().syncing = false);
    }
}

/// Runs a sync, or waits for the one in flight to end; either way returns
/// how the last sync went.
async fn sync(config: &Config) -> Result<(), String> {
    let started_here = EDGE.with(|edge| {
        let mut edge = edge.borrow_mut();
        !std::mem::replace(&mut edge.syncing, true)
    });
    if !started_here {
        let deadline = now_ms() + config.fail_after_ms.max(1000.0);
        while EDGE.with(|edge| edge.borrow().syncing) && now_ms() < deadline {
            Delay::from(WAIT_STEP).await;
        }
        return EDGE.with(|edge| {
            let edge = edge.borrow();
            match (&edge.last_error, edge.syncing) {
                (_, true) => Err("the sync in flight has not finished".to_owned()),
                (Some(error), false) => Err(error.clone()),
                (None, false) => Ok(()),
            }
        });
    }
    let _turn = SyncTurn;
    let started = now_ms();
    let result = pull(config).await;
    EDGE.with(|edge| {
        let mut edge = edge.borrow_mut();
        match &result {
            Ok(()) => {
                edge.synced_at = Some(started);
                edge.last_error = None;
            }
            Err(error) => edge.last_error = Some(error.clone()),
        }
    });
    result
}

/// Loads the JWKS if none is loaded, then follows the feed until caught up.
async fn pull(config: &Config) -> Result<(), String> {
    if EDGE.with(|edge| edge.borrow().verifier.is_none()) {
        load_jwks(config).await?;
    }
    loop {
        let cursor = EDGE.with(|edge| edge.borrow().revocations.cursor().map(str::to_owned));
        let url = format!(
            "{}{}",
            config.issuer_url,
            RevocationFeed::request_path(cursor.as_deref())
        );
        let page: RevocationFeed = serde_json::from_str(&get(&url).await?)
            .map_err(|err| format!("feed page does not parse: {err}"))?;
        EDGE.with(|edge| edge.borrow_mut().revocations.apply(&page));
        if !page.more {
            break;
        }
    }
    let before = now_secs().saturating_sub(i64::from(config.leeway_secs));
    EDGE.with(|edge| edge.borrow_mut().revocations.prune(before));
    Ok(())
}

async fn load_jwks(config: &Config) -> Result<(), String> {
    let text = get(&format!("{}/.well-known/jwks.json", config.issuer_url)).await?;
    let keys = KeySet::from_json(&text).map_err(|err| format!("JWKS does not parse: {err}"))?;
    EDGE.with(|edge| {
        let mut edge = edge.borrow_mut();
        edge.jwks_at = now_ms();
        match &mut edge.verifier {
            Some(verifier) => verifier.set_keys(keys),
            None => {
                let mut options = VerifierOptions::new(&config.issuer, &config.audience);
                options.leeway_secs = config.leeway_secs;
                edge.verifier = Some(Verifier::new(options, keys));
            }
        }
    });
    Ok(())
}

/// GETs `url` and returns its body, giving up after [`FETCH_TIMEOUT`]: a
/// hanging issuer must not hold the syncing request (and with it every
/// waiter) for ever.
async fn get(url: &str) -> Result<String, String> {
    let parsed = Url::parse(url).map_err(|err| format!("bad URL {url}: {err}"))?;
    let controller = AbortController::default();
    let request = Fetch::Url(parsed);
    let signal = controller.signal();
    let fetch = std::pin::pin!(request.send_with_signal(&signal));
    let timeout = std::pin::pin!(Delay::from(FETCH_TIMEOUT));
    let mut response = match futures_util::future::select(fetch, timeout).await {
        Either::Left((response, _)) => response.map_err(|err| format!("GET {url}: {err}"))?,
        Either::Right(((), _)) => {
            controller.abort();
            return Err(format!("GET {url}: no answer in {FETCH_TIMEOUT:?}"));
        }
    };
    if response.status_code() != 200 {
        return Err(format!("GET {url}: HTTP {}", response.status_code()));
    }
    response
        .text()
        .await
        .map_err(|err| format!("GET {url}: {err}"))
}

/// Verifies `token` against the state; on an unknown `kid`, refetches the
/// JWKS (at most once per cooldown) and tries once more.
pub async fn verify(config: &Config, token: &str) -> Result<Verified, VerifyError> {
    let attempt = || {
        EDGE.with(|edge| {
            let edge = edge.borrow();
            let verifier = edge
                .verifier
                .as_ref()
                .ok_or(VerifyError::RevocationStateStale)?;
            verifier.verify(token, now_secs(), &edge.revocations)
        })
    };
    match attempt() {
        Err(VerifyError::UnknownKid) => {
            let jwks_at = EDGE.with(|edge| edge.borrow().jwks_at);
            if now_ms() - jwks_at < config.jwks_cooldown_ms || load_jwks(config).await.is_err() {
                return Err(VerifyError::UnknownKid);
            }
            attempt()
        }
        other => other,
    }
}

/// What `GET /.tollgate/status` shows: no keys, no tokens.
#[derive(Serialize)]
pub struct Status {
    cursor: Option<String>,
    revoked: usize,
    state_age_ms: Option<f64>,
    last_sync_error: Option<String>,
}

/// The state's cursor, size, age and last sync error.
pub fn status() -> Status {
    EDGE.with(|edge| {
        let edge = edge.borrow();
        Status {
            cursor: edge.revocations.cursor().map(str::to_owned),
            revoked: edge.revocations.len(),
            state_age_ms: edge.synced_at.map(|at| now_ms() - at),
            last_sync_error: edge.last_error.clone(),
        }
    })
}
