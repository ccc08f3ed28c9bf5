//! The isolate's verification state: the verifier crate's [`Syncer`], which
//! decides the sync policy, and the I/O it asks for. Nothing here decides
//! whether a token may be checked; this module only fetches, waits and
//! reports back.
//!
//! Two workerd facts shape it:
//! - A request must not await another request's promise: workerd refuses to
//!   resume it ("promise resolved from a different request context") and it
//!   never answers. So a request told to wait polls the syncer on its own
//!   timer, and a background refresh runs in the `wait_until` of the request
//!   that started it.
//! - A request may be cancelled (its client went away) with its fetch in
//!   flight, and its future is then never resumed. The syncer treats a fetch
//!   past its deadline as failed whether or not anybody reports it, so a
//!   cancelled sync cannot block the isolate.
//!
//! State lives in a thread-local: an isolate runs one thread, and no borrow
//! is ever held across an `await`.

use std::cell::RefCell;
use std::time::Duration;

use futures_util::future::Either;
use tollgate_verifier::{
    Fetch, Outcome, Presented, Step, SyncOptions, SyncStatus, Syncer, Verified, VerifierOptions,
    VerifyError,
};
use worker::{AbortController, Context, Date, Delay, Fetch as WorkerFetch, Method, Request};

use crate::config::Config;
use crate::{crypto, shared};

/// How often a request waiting for another's sync looks again.
const WAIT_STEP: Duration = Duration::from_millis(5);

thread_local! {
    static SYNCER: RefCell<Option<Syncer>> = const { RefCell::new(None) };
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// Runs `f` on the isolate's syncer, made on first use from `config`.
fn with<T>(config: &Config, f: impl FnOnce(&mut Syncer) -> T) -> Result<T, String> {
    SYNCER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(syncer(config)?);
        }
        // Just filled if it was empty.
        slot.as_mut().map(f).ok_or_else(|| "no syncer".to_owned())
    })
}

fn syncer(config: &Config) -> Result<Syncer, String> {
    let mut options = VerifierOptions::new(&config.issuer, &config.audience);
    options.leeway_secs = config.leeway_secs;
    let mut sync = SyncOptions::new(config.max_age_ms, config.fail_after_ms);
    if let Some(ms) = config.refresh_ahead_ms {
        sync.refresh_ahead_ms = ms;
    }
    if let Some(ms) = config.jwks_cooldown_ms {
        sync.jwks_cooldown_ms = ms;
    }
    Syncer::new(sync, options).map_err(|err| format!("invalid configuration: {err}"))
}

/// Checks the configuration by building a syncer from it (once per isolate).
pub fn check(config: &Config) -> Result<(), String> {
    with(config, |_| ())
}

/// Verifies what the request presents (its token, and a DPoP proof for a
/// bound one) once the syncer says the state may be used; fetches what it
/// asks for on the way. The signatures are checked by WebCrypto
/// ([`crypto`](crate::crypto)), everything else by the verifier crate. A
/// refusal comes with a detail safe to show.
///
/// `remember`: whether an accepted DPoP proof is recorded as used. Not for
/// requests to the issuer, which checks (and records) the proof itself:
/// a full replay cache here must not refuse a logout.
pub async fn verify(
    config: &Config,
    ctx: &Context,
    presented: &Presented<'_>,
    remember: bool,
) -> Result<Verified, (VerifyError, String)> {
    let stale = |reason: String| (VerifyError::RevocationStateStale, reason);
    let detail = |err: VerifyError| {
        let detail = err.to_string();
        (err, detail)
    };
    ready(config, ctx, now_ms()).await.map_err(stale)?;
    let mut refetched = false;
    // A JWKS reload while the signatures were being checked makes the crate
    // ask for a fresh start; twice in a row would be a storm of reloads.
    let mut restarts = 0;
    loop {
        let result = match verify_once(config, presented, remember).await {
            Some(result) => result,
            None if restarts < 2 => {
                restarts += 1;
                continue;
            }
            None => Err(VerifyError::UnknownKid),
        };
        match result {
            Err(VerifyError::UnknownKid) if !refetched => {
                refetched = true;
                match with(config, |s| s.refetch_keys(now_ms())).ok().flatten() {
                    Some(fetch) => {
                        drive(config, fetch, false).await;
                        // The refetch took time: the syncer judges the state again.
                        ready(config, ctx, now_ms()).await.map_err(stale)?;
                    }
                    None => return Err(detail(VerifyError::UnknownKid)),
                }
            }
            other => return other.map_err(detail),
        }
    }
}

/// One pass: the crate prepares, WebCrypto checks the signatures, the crate
/// judges. `None` when the keys changed in between.
async fn verify_once(
    config: &Config,
    presented: &Presented<'_>,
    remember: bool,
) -> Option<Result<Verified, VerifyError>> {
    let pending = match with(config, |s| s.begin_request(presented, now_ms())) {
        Ok(Ok(pending)) => pending,
        Ok(Err(err)) => return Some(Err(err)),
        Err(_) => return Some(Err(VerifyError::RevocationStateStale)),
    };
    let token_ok = match pending.token_check() {
        Some(check) => crypto::verify(check).await,
        None => true,
    };
    // A bad token signature is refused as such; its proof need not be checked.
    let proof_ok = match pending.proof_check() {
        Some(check) if token_ok => crypto::verify(check).await,
        _ => true,
    };
    with(config, |s| {
        s.finish_request(presented, pending, token_ok, proof_ok, now_ms(), remember)
    })
    .unwrap_or(Some(Err(VerifyError::RevocationStateStale)))
}

/// Does what the syncer says until a token may be checked; `Err` with the
/// reason when the request must be refused as stale.
async fn ready(config: &Config, ctx: &Context, arrived: u64) -> Result<(), String> {
    loop {
        let step = with(config, |s| {
            if s.is_fresh(now_ms()) {
                Step::Ready { refresh: None }
            } else {
                s.step(now_ms(), arrived)
            }
        })?;
        match step {
            Step::Ready { refresh } => {
                background(config, ctx, refresh);
                return Ok(());
            }
            Step::Fetch(fetch) => drive(config, fetch, false).await,
            Step::Wait { until_ms } => {
                let left = Duration::from_millis(until_ms.saturating_sub(now_ms()));
                Delay::from(left.min(WAIT_STEP)).await;
            }
            Step::Stale { reason, refresh } => {
                background(config, ctx, refresh);
                return Err(reason);
            }
        }
    }
}

/// Drives `fetch` after this request has answered, in its `wait_until`.
fn background(config: &Config, ctx: &Context, fetch: Option<Fetch>) {
    if let Some(fetch) = fetch {
        let config = config.clone();
        ctx.wait_until(async move { drive(&config, fetch, true).await });
    }
}

/// Performs `fetch` and every fetch the syncer asks for after it: from the
/// data-center cache when the syncer allows a shared copy and the cache is
/// on, else from the issuer. `background`: nobody waits for it, so it may
/// stagger its first look at the cache (see [`shared::feed`]).
async fn drive(config: &Config, mut fetch: Fetch, background: bool) {
    loop {
        let url = format!("{}{}", config.issuer_url, fetch.path);
        let shared = fetch
            .shared_fresh_ms
            .zip(fetch.shared_useful_ms)
            .filter(|_| config.shared_feed);
        let (result, observed_ms) = match shared {
            Some((fresh, useful)) => {
                shared::feed(&url, fresh, useful, fetch.deadline_ms, background, || {
                    get(&url, fetch.deadline_ms)
                })
                .await
            }
            None => (get(&url, fetch.deadline_ms).await, None),
        };
        let outcome = match &result {
            Ok(text) => Outcome::Body { text, observed_ms },
            Err(error) => Outcome::Failed(error),
        };
        let next = with(config, |s| s.on_response(fetch.id, now_ms(), outcome));
        match next {
            Ok(Some(next)) => fetch = next,
            _ => return,
        }
    }
}

/// GETs `url` and returns its body. The whole exchange, headers and body,
/// races one timer to `deadline_ms`; on expiry the request is aborted.
async fn get(url: &str, deadline_ms: u64) -> Result<String, String> {
    let request = Request::new(url, Method::Get).map_err(|err| format!("bad URL {url}: {err}"))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let mut response = WorkerFetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|err| format!("GET {url}: {err}"))?;
        if response.status_code() != 200 {
            return Err(format!("GET {url}: HTTP {}", response.status_code()));
        }
        response
            .text()
            .await
            .map_err(|err| format!("GET {url}: {err}"))
    };
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms()));
    let exchange = std::pin::pin!(exchange);
    let timer = std::pin::pin!(Delay::from(left));
    match futures_util::future::select(exchange, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => {
            controller.abort();
            Err(format!("GET {url}: no complete answer by the deadline"))
        }
    }
}

/// What `GET /.tollgate/status` shows: no keys, no tokens.
pub fn status(config: &Config) -> Option<SyncStatus> {
    with(config, |s| s.status(now_ms())).ok()
}
