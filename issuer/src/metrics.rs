//! Prometheus text metrics: counters for logins, refreshes, revocations and
//! feed polls, and a latency histogram per route. A handful of atomics and a
//! small map; no registry crate needed for this few.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Outcome labels of `tollgate_logins_total`.
pub const LOGIN_RESULTS: [&str; 5] = [
    "success",
    "invalid_credentials",
    "account_disabled",
    "rate_limited",
    "invalid_request",
];
/// Outcome labels of `tollgate_refreshes_total`.
pub const REFRESH_RESULTS: [&str; 4] = ["rotated", "repeated", "reused", "invalid"];

/// The issuer's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    logins: [AtomicU64; LOGIN_RESULTS.len()],
    refreshes: [AtomicU64; REFRESH_RESULTS.len()],
    revocations: AtomicU64,
    feed_snapshots: AtomicU64,
    feed_deltas: AtomicU64,
    snapshot_builds: AtomicU64,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
}

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    total: u64,
    sum: f64,
}

fn bump(counters: &[AtomicU64], labels: &[&str], label: &str) {
    if let Some(i) = labels.iter().position(|l| *l == label) {
        counters[i].fetch_add(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts a login with one of [`LOGIN_RESULTS`].
    pub fn login(&self, result: &str) {
        bump(&self.logins, &LOGIN_RESULTS, result);
    }

    /// Counts a refresh with one of [`REFRESH_RESULTS`].
    pub fn refresh(&self, result: &str) {
        bump(&self.refreshes, &REFRESH_RESULTS, result);
    }

    /// Counts revocations appended to the log.
    pub fn revoked(&self, n: usize) {
        self.revocations
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts a snapshot's first page read from the log and serialized (the
    /// others are served from that serialization).
    pub fn snapshot_built(&self) {
        self.snapshot_builds.fetch_add(1, Ordering::Relaxed);
    }

    /// How many snapshot first pages were read from the log.
    pub fn snapshot_builds(&self) -> u64 {
        self.snapshot_builds.load(Ordering::Relaxed)
    }

    /// Counts a feed poll.
    pub fn feed_poll(&self, snapshot: bool) {
        if snapshot {
            &self.feed_snapshots
        } else {
            &self.feed_deltas
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Records a request's latency under its route pattern (never its raw path).
    pub fn observe(&self, method: &str, route: &str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        let histogram = latency
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            histogram.counts[i] += 1;
        }
        histogram.total += 1;
        histogram.sum += secs;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP tollgate_logins_total Login attempts by result."
        );
        let _ = writeln!(out, "# TYPE tollgate_logins_total counter");
        for (label, counter) in LOGIN_RESULTS.iter().zip(&self.logins) {
            let n = counter.load(Ordering::Relaxed);
            let _ = writeln!(out, "tollgate_logins_total{{result=\"{label}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP tollgate_refreshes_total Refresh attempts by result."
        );
        let _ = writeln!(out, "# TYPE tollgate_refreshes_total counter");
        for (label, counter) in REFRESH_RESULTS.iter().zip(&self.refreshes) {
            let n = counter.load(Ordering::Relaxed);
            let _ = writeln!(out, "tollgate_refreshes_total{{result=\"{label}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP tollgate_revocations_total Sessions and tokens revoked by this process.\n\
             # TYPE tollgate_revocations_total counter\n\
             tollgate_revocations_total {}",
            self.revocations.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP tollgate_feed_polls_total Revocation feed requests by kind.\n\
             # TYPE tollgate_feed_polls_total counter\n\
             tollgate_feed_polls_total{{kind=\"snapshot\"}} {}\n\
             tollgate_feed_polls_total{{kind=\"delta\"}} {}\n\
             # HELP tollgate_snapshot_builds_total Snapshot first pages read from the log (the rest were served cached).\n\
             # TYPE tollgate_snapshot_builds_total counter\n\
             tollgate_snapshot_builds_total {}",
            self.feed_snapshots.load(Ordering::Relaxed),
            self.feed_deltas.load(Ordering::Relaxed),
            self.snapshot_builds.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP tollgate_http_request_duration_seconds Request latency by route.\n\
             # TYPE tollgate_http_request_duration_seconds histogram"
        );
        let latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        for ((method, route), h) in latency.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "tollgate_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "tollgate_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                 tollgate_http_request_duration_seconds_sum{{{labels}}} {}\n\
                 tollgate_http_request_duration_seconds_count{{{labels}}} {}",
                h.total, h.sum, h.total
            );
        }
        out
    }
}
