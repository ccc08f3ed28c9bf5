//! The data-center cache: isolates of one data center share the issuer's
//! feed answers through the Cache API (`caches.default` is local to a data
//! center), so the issuer's load grows with data centers, not isolates.
//!
//! What is shared is the issuer's answer to one exact request (the feed
//! path with its cursor), stamped with when it was fetched. The verifier
//! crate's `Syncer` says which copies it may use (`Fetch::shared_fresh_ms`,
//! `Fetch::shared_useful_ms`) and counts the state's age from the stamp, so
//! a shared copy can never make an isolate look fresher than its data is,
//! go backwards (an answer to `since=X` is everything after X, as of the
//! stamp), or skip an entry. A copy older than fresh but newer than the
//! isolate's state is used too: the syncer then asks again at once, from
//! the copy's cursor, so an isolate lagging on an old cursor catches up
//! through the cache, and only the newest cursor costs an issuer fetch.
//!
//! To keep one issuer fetch per data center rather than one per isolate
//! whose state turned old in the same instant, the isolate that goes to the
//! issuer first puts a short lease next to the answer; others that see a
//! fresh lease poll the cache for the answer instead of fetching
//! themselves, until the lease would have expired or their own deadline.
//!
//! An answer is shared only if no newer one is cached already, so a slow
//! fetch cannot put the copy back in time (the check and the put are two
//! operations, so two puts in the same few milliseconds can still land in
//! either order). A copy stamped in the future (by a clock that runs
//! ahead; the crate's `believable_stamp` says how far is too far) is a
//! miss, and any answer replaces it: taken, it would count as fresh for
//! as long as it stayed cached.
//!
//! Cache operations that fail are treated as misses: the cache is an
//! optimisation, never a dependency.

use std::time::Duration;

use tollgate_verifier::believable_stamp;
use worker::{Cache, Date, Delay, Headers, Response};

/// The response header that stamps when an answer was fetched (Unix ms).
const OBSERVED: &str = "x-tollgate-observed-ms";

/// How long a lease holds other isolates back, at most: a little more than
/// a far issuer's round trip. A lease whose answer has landed holds nobody.
const LEASE_MS: u64 = 300;

/// Leases taken this close after an answer's fetch started are one race
/// (isolates that each missed the other's lease, a cache write or two
/// apart): that answer serves those waiting on them. It may be the older
/// one, put last; waiting out the newer lease for an answer at most this
/// much fresher would stall every waiter for the lease's life.
const RACE_MS: u64 = 50;

/// The longest a background refresh waits before its first look.
const STAGGER_MS: u64 = 40;

/// How often an isolate waiting on another's lease looks again.
const POLL: Duration = Duration::from_millis(10);

fn now_ms() -> u64 {
    Date::now().as_millis()
}

fn lease_key(url: &str) -> String {
    let glue = if url.contains('?') { '&' } else { '?' };
    format!("{url}{glue}tollgate-lease")
}

/// The cached answer for `url` and when it was observed, if there is one.
async fn cached(cache: &Cache, url: &str) -> Option<(String, u64)> {
    let mut hit = cache.get(url, false).await.ok()??;
    let observed = hit.headers().get(OBSERVED).ok()??.parse().ok()?;
    let text = hit.text().await.ok()?;
    Some((text, observed))
}

/// When the live lease on `url` was taken, if one is. A lease stamped
/// further ahead than a lease lives comes from a clock that runs ahead,
/// and holds nobody.
async fn lease(cache: &Cache, url: &str) -> Option<u64> {
    let (_, taken) = cached(cache, &lease_key(url)).await?;
    let now = now_ms();
    (now < taken.saturating_add(LEASE_MS) && taken <= now.saturating_add(LEASE_MS)).then_some(taken)
}

/// Puts `text` under `key`, stamped `observed`; whether the cache took it.
async fn put(cache: &Cache, key: &str, text: &str, observed: u64) -> bool {
    let headers = Headers::new();
    let stamped = headers.set(OBSERVED, &observed.to_string()).is_ok()
        && headers.set("cache-control", "public, max-age=5").is_ok()
        && headers.set("content-type", "application/json").is_ok();
    if !stamped {
        return false;
    }
    match Response::ok(text).map(|r| r.with_headers(headers)) {
        Ok(response) => cache.put(key, response).await.is_ok(),
        Err(_) => false,
    }
}

/// The answer for `url`: a copy another isolate observed at or after
/// `fresh` (with its stamp); else, after waiting on another isolate's
/// lease, that isolate's answer; else a copy at least `useful`; else the
/// issuer's (fetched with `fetch`). Never past `deadline_ms` of waiting on
/// others. An answer from the issuer comes with the time it was fetched:
/// pass both to [`share`] once the answer is reported, so the put never
/// delays the report past the fetch's deadline.
///
/// A background refresh (`stagger`) first waits a random moment of up to
/// [`STAGGER_MS`]: isolates that took the same shared copy go stale at the
/// same instant, and without it they would all miss the cache, find no
/// lease and fetch together before any lease is visible.
pub async fn feed<F, Fut>(
    url: &str,
    fresh: u64,
    useful: u64,
    deadline_ms: u64,
    stagger: bool,
    fetch: F,
) -> (Result<String, String>, Option<u64>, Option<u64>)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let cache = Cache::default();
    if stagger {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let wait = (js_sys::Math::random() * STAGGER_MS as f64) as u64;
        Delay::from(Duration::from_millis(wait)).await;
    }
    let mut waiting_on = None;
    // However a lease is stamped (an isolate's clock can run ahead), it
    // holds this isolate no longer than a lease lives, from now.
    let wait_until = now_ms().saturating_add(LEASE_MS).min(deadline_ms);
    loop {
        // A copy stamped in the future (a clock ahead) is a miss.
        let hit = cached(&cache, url)
            .await
            .filter(|(_, o)| believable_stamp(*o, now_ms()));
        let observed = hit.as_ref().map(|(_, observed)| *observed);
        // Fresh enough; or the answer of the lease this isolate waited on,
        // stamped when that fetch started, so a little older than asked
        // (the Syncer counts the state's age from the stamp).
        let wanted =
            |o: u64| o >= fresh || waiting_on.is_some_and(|t| o.saturating_add(RACE_MS) >= t);
        if let Some((text, o)) = hit.as_ref().filter(|(_, o)| wanted(*o)) {
            return (Ok(text.clone()), Some(*o), None);
        }
        let pending_lease = match lease(&cache, url).await {
            // A lease whose answer has not landed yet.
            Some(taken)
                if observed.is_none_or(|o| o.saturating_add(RACE_MS) < taken)
                    && now_ms() < wait_until.min(taken.saturating_add(LEASE_MS)) =>
            {
                Some(taken)
            }
            _ => None,
        };
        match (hit, pending_lease) {
            (_, Some(taken)) => {
                waiting_on = Some(taken);
                Delay::from(POLL).await;
            }
            // Older than fresh, newer than the isolate's state: moves it on.
            (Some((text, o)), None) if o >= useful => return (Ok(text), Some(o), None),
            _ => break,
        }
    }
    let started = now_ms();
    let _ = put(&cache, &lease_key(url), "", started).await;
    let result = fetch().await;
    let fetched = result.is_ok().then_some(started);
    (result, None, fetched)
}

/// Shares the issuer's answer `text` for `url`, fetched at `started`, with
/// the other isolates of the data center, unless the cache holds a newer
/// answer already. A slow fetch whose lease expired must not overwrite the
/// answer of the isolate that fetched after it: the others would take the
/// older copy for stale and wait on that newer lease, whose answer is gone,
/// until it expired (seen as a 300 ms stall in bench/scale.js). A newer
/// lease alone does not hold an answer back: that fetch may fail. A put the
/// cache refuses (a local stand-in's storage busy) is tried once more.
pub async fn share(url: &str, text: &str, started: u64) {
    let cache = Cache::default();
    for attempt in 0..2 {
        if attempt > 0 {
            Delay::from(POLL).await;
        }
        // A newer answer stays; one stamped in the future is replaced.
        if stamp(&cache, url)
            .await
            .is_some_and(|at| at > started && believable_stamp(at, now_ms()))
        {
            return;
        }
        if put(&cache, url, text, started).await {
            return;
        }
    }
}

/// When the cached answer for `url` was fetched, if one is cached (its
/// body left unread).
async fn stamp(cache: &Cache, url: &str) -> Option<u64> {
    let hit = cache.get(url, false).await.ok()??;
    hit.headers().get(OBSERVED).ok()??.parse().ok()
}
