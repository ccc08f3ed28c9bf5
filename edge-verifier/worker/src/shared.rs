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
//! themselves. What to take, wait for and put is the verifier crate's
//! decision (`SharedLook`, `replaces`); this file reads and writes the
//! cache, sleeps and fetches.
//!
//! Cache operations that fail are treated as misses: the cache is an
//! optimisation, never a dependency.

use std::time::Duration;

use tollgate_verifier::{
    LEASE_POLL_MS, Look, SHARE_ATTEMPTS, SHARED_MAX_AGE_SECS, SharedLook, replaces,
};
use worker::{Cache, Date, Delay, Headers, Response};

/// The response header that stamps when an answer was fetched (Unix ms).
const OBSERVED: &str = "x-tollgate-observed-ms";

const POLL: Duration = Duration::from_millis(LEASE_POLL_MS);

fn now_ms() -> u64 {
    Date::now().as_millis()
}

fn lease_key(url: &str) -> String {
    let glue = if url.contains('?') { '&' } else { '?' };
    format!("{url}{glue}tollgate-lease")
}

/// The cached answer for `url`, its body unread, and when it was
/// observed, if there is one.
async fn cached(cache: &Cache, url: &str) -> Option<(Response, u64)> {
    let hit = cache.get(url, false).await.ok()??;
    let observed = hit.headers().get(OBSERVED).ok()??.parse().ok()?;
    Some((hit, observed))
}

/// When the cached answer (or lease) under `url` was stamped, if one is.
async fn stamp(cache: &Cache, url: &str) -> Option<u64> {
    cached(cache, url).await.map(|(_, observed)| observed)
}

/// Puts `text` under `key`, stamped `observed`; whether the cache took it.
async fn put(cache: &Cache, key: &str, text: &str, observed: u64) -> bool {
    let headers = Headers::new();
    let stamped = headers.set(OBSERVED, &observed.to_string()).is_ok()
        && headers
            .set(
                "cache-control",
                &format!("public, max-age={SHARED_MAX_AGE_SECS}"),
            )
            .is_ok()
        && headers.set("content-type", "application/json").is_ok();
    if !stamped {
        return false;
    }
    match Response::ok(text).map(|r| r.with_headers(headers)) {
        Ok(response) => cache.put(key, response).await.is_ok(),
        Err(_) => false,
    }
}

/// The answer for `url`, looked for in the cache as `look` decides: a copy
/// another isolate observed (with its stamp), possibly after waiting on
/// its lease; else the issuer's (fetched with `fetch`, after leaving a
/// lease). An answer from the issuer comes with the time it was fetched:
/// pass both to [`share`] once the answer is reported, so the put never
/// delays the report past the fetch's deadline.
pub async fn feed<F, Fut>(
    url: &str,
    mut look: SharedLook,
    fetch: F,
) -> (Result<String, String>, Option<u64>, Option<u64>)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let cache = Cache::default();
    let stagger = look.stagger_ms(js_sys::Math::random());
    if stagger > 0 {
        Delay::from(Duration::from_millis(stagger)).await;
    }
    loop {
        let hit = cached(&cache, url).await;
        let copy = hit.as_ref().map(|(_, observed)| *observed);
        let look_now = match copy {
            Some(observed) if look.takes(observed, now_ms()) => Look::Take,
            _ => look.after_lease(copy, stamp(&cache, &lease_key(url)).await, now_ms()),
        };
        match (look_now, hit) {
            (Look::Wait, _) => Delay::from(POLL).await,
            // Its body is read only now: a snapshot page can weigh
            // megabytes, and a look that waits on a lease reads none.
            (Look::Take, Some((mut copy, observed))) => match copy.text().await {
                Ok(text) => return (Ok(text), Some(observed), None),
                Err(_) => break,
            },
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
/// the other isolates of the data center, where [`replaces`] allows.
pub async fn share(url: &str, text: &str, started: u64) {
    let cache = Cache::default();
    for attempt in 0..SHARE_ATTEMPTS {
        if attempt > 0 {
            Delay::from(POLL).await;
        }
        if !replaces(stamp(&cache, url).await, started, now_ms())
            || put(&cache, url, text, started).await
        {
            return;
        }
    }
}
