//! The isolate's verification state: the verifier crate's [`Syncer`], which
//! decides the sync policy down to each request's next step, and the I/O it
//! asks for. Nothing here decides whether a token may be checked; this
//! module only spawns fetches, sleeps, checks signatures with WebCrypto
//! ([`crypto`]) and reports back.
//!
//! Two workerd facts shape it:
//! - A request must not await another request's promise: workerd refuses to
//!   resume it ("promise resolved from a different request context") and it
//!   never answers. So a request waits by polling the syncer on its own
//!   timer, never on a fetch.
//! - A request whose client goes away is cancelled, its future never
//!   resumed; the promises it handed to `wait_until` go on. So every fetch,
//!   the ones a request waits for included, runs in the `wait_until` of the
//!   request that started it, and reports by itself: a client that hangs up
//!   takes nothing with it.
//!
//! State lives in a thread-local: an isolate runs one thread, and no borrow
//! is ever held across an `await`.

use std::cell::RefCell;
use std::time::Duration;

use futures_util::future::Either;
use tollgate_verifier::{
    Admission, Fetch, Next, Outcome, ReplayMode, Request, SharedLook, SyncStatus, Syncer, Verdicts,
    Verified, VerifierOptions, VerifyError,
};
use worker::{AbortController, Context, Date, Delay, Fetch as WorkerFetch, Method};

use crate::config::Config;
use crate::crypto::{self, Signer};
use crate::shared;

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
    let invalid = |err: tollgate_verifier::ConfigError| format!("invalid configuration: {err}");
    Syncer::new(config.sync.options().map_err(invalid)?, options).map_err(invalid)
}

/// Checks the configuration by building a syncer from it (once per isolate).
pub fn check(config: &Config) -> Result<(), String> {
    with(config, |_| ())
}

/// Verifies what the request presents (its token, and a DPoP proof for a
/// bound one), doing what the syncer says until it answers. A refusal comes
/// with a detail safe to show.
///
/// `replay`: whether an accepted DPoP proof is recorded as used. Not for
/// requests to the issuer, which checks (and records) the proof itself: a
/// full replay cache here must not refuse a logout.
pub async fn verify(
    config: &Config,
    ctx: &Context,
    request: Request,
    replay: ReplayMode,
) -> Result<Verified, VerifyError> {
    let mut admission = Admission::new(request, now_ms(), replay);
    loop {
        let next = with(config, |s| s.advance(&mut admission, now_ms()))
            .map_err(|_| VerifyError::RevocationStateStale)?;
        match next {
            Next::Spawn(fetch) => spawn(config, ctx, fetch),
            Next::Sleep { until_ms } => {
                let left = until_ms.saturating_sub(now_ms()).max(1);
                Delay::from(Duration::from_millis(left)).await;
            }
            Next::Check => {
                let verdicts = match admission.pending() {
                    Some(pending) => {
                        let token = match pending.token_check() {
                            Some(check) => Some(crypto::verify(check, Signer::KeySet).await),
                            None => None,
                        };
                        // A bad token signature is refused as such; its
                        // proof need not be checked.
                        let proof = match pending.proof_check() {
                            Some(check) if token != Some(false) => {
                                Some(crypto::verify(check, Signer::Client).await)
                            }
                            _ => None,
                        };
                        Verdicts { token, proof }
                    }
                    None => Verdicts::default(),
                };
                admission.checked(verdicts);
            }
            Next::Done(result) => return result,
        }
    }
}

/// Runs `fetch` (and every fetch the syncer asks for after it) in this
/// request's `wait_until`: it outlives the request, whether the request
/// answers first or its client goes away.
fn spawn(config: &Config, ctx: &Context, fetch: Fetch) {
    let config = config.clone();
    ctx.wait_until(async move { drive(&config, fetch).await });
}

/// Performs `fetch` and every fetch the syncer asks for after it: from the
/// data-center cache when the syncer allows a shared copy and the cache is
/// on, else from the issuer. A background fetch (nobody waits for it) may
/// stagger its first look at the cache (see [`shared::feed`]).
async fn drive(config: &Config, mut fetch: Fetch) {
    loop {
        let url = format!("{}{}", config.issuer_url, fetch.path);
        let look = SharedLook::new(&fetch).filter(|_| config.shared_feed);
        let (result, observed_ms, to_share) = match look {
            Some(look) => shared::feed(&url, look, || get(&url, fetch.deadline_ms)).await,
            None => (get(&url, fetch.deadline_ms).await, None, None),
        };
        let outcome = match &result {
            Ok(text) => Outcome::Body { text, observed_ms },
            Err(error) => Outcome::Failed(error),
        };
        let next = with(config, |s| s.on_response(fetch.id, now_ms(), outcome));
        // Reported first: the put must not make a timely answer late.
        if let (Ok(text), Some(started)) = (&result, to_share) {
            shared::share(&url, text, started).await;
        }
        match next {
            Ok(Some(next)) => fetch = next,
            _ => return,
        }
    }
}

/// GETs `url` and returns its body. The whole exchange, headers and body,
/// races one timer to `deadline_ms`; on expiry the request is aborted.
async fn get(url: &str, deadline_ms: u64) -> Result<String, String> {
    let request =
        worker::Request::new(url, Method::Get).map_err(|err| format!("bad URL {url}: {err}"))?;
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

/// Where the syncer stands: no keys, no tokens.
pub fn status(config: &Config) -> Option<SyncStatus> {
    with(config, |s| s.status(now_ms())).ok()
}
