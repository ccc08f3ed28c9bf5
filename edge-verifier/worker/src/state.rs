//! The isolate's verification state and the sync policy of DESIGN.md.
//!
//! - A fresh isolate (or one whose module was reset by a panic) has no
//!   state, and accepts no token until it has loaded the JWKS and a full
//!   snapshot of the revocation feed.
//! - Before a token is accepted the state must be younger than
//!   `REVOCATION_MAX_AGE_MS`; if it is older, the request syncs first. One
//!   sync runs per isolate and every request that needs it awaits the same
//!   one.
//! - If a sync fails, the last state serves until `FAIL_AFTER_MS` after the
//!   last good sync; then requests get 503 `revocation_state_stale`.
//! - An unknown `kid` refetches the JWKS, at most once per
//!   `JWKS_COOLDOWN_MS`, then the token is tried again.
//!
//! State lives in a thread-local: an isolate runs one thread, and no borrow
//! is ever held across an `await`.

use std::cell::RefCell;

use futures_util::FutureExt as _;
use futures_util::future::{LocalBoxFuture, Shared};
use serde::Serialize;
use tollgate_verifier::{
    AccessClaims, KeySet, RevocationFeed, RevocationSet, Verifier, VerifierOptions, VerifyError,
};
use worker::{Date, Fetch, Url};

use crate::config::Config;

type SyncFuture = Shared<LocalBoxFuture<'static, Result<(), String>>>;

#[derive(Default)]
struct Edge {
    verifier: Option<Verifier>,
    revocations: RevocationSet,
    /// When the last complete sync started (ms); `None` until the first.
    synced_at: Option<f64>,
    last_error: Option<String>,
    syncing: Option<SyncFuture>,
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

/// The sync in flight, or a new one.
fn sync(config: &Config) -> SyncFuture {
    EDGE.with(|edge| {
        let mut edge = edge.borrow_mut();
        if let Some(running) = &edge.syncing {
            return running.clone();
        }
        let config = config.clone();
        let future = async move {
            let started = now_ms();
            let result = pull(&config).await;
            EDGE.with(|edge| {
                let mut edge = edge.borrow_mut();
                edge.syncing = None;
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
        .boxed_local()
        .shared();
        edge.syncing = Some(future.clone());
        future
    })
}

/// Loads the JWKS if none is loaded, then follows the feed until caught up.
async fn pull(config: &Config) -> Result<(), String> {
    if EDGE.with(|edge| edge.borrow().verifier.is_none()) {
        load_jwks(config).await?;
    }
    loop {
        let cursor = EDGE.with(|edge| edge.borrow().revocations.cursor().map(str::to_owned));
        let url = match cursor {
            Some(cursor) => format!(
                "{}/v1/revocations?since={}",
                config.issuer_url,
                percent_encode(&cursor)
            ),
            None => format!("{}/v1/revocations", config.issuer_url),
        };
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

async fn get(url: &str) -> Result<String, String> {
    let parsed = Url::parse(url).map_err(|err| format!("bad URL {url}: {err}"))?;
    let mut response = Fetch::Url(parsed)
        .send()
        .await
        .map_err(|err| format!("GET {url}: {err}"))?;
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
pub async fn verify(config: &Config, token: &str) -> Result<AccessClaims, VerifyError> {
    let attempt = || {
        EDGE.with(|edge| {
            let edge = edge.borrow();
            let verifier = edge
                .verifier
                .as_ref()
                .ok_or(VerifyError::RevocationStateStale)?;
            verifier
                .verify(token, now_secs(), &edge.revocations)
                .map(|verified| verified.claims().clone())
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

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
