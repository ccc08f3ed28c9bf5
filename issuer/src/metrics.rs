//! The issuer's metrics, in the OpenMetrics text format at `/metrics`:
//! logins and refreshes by outcome, revocations, feed polls, snapshot reads
//! and a latency histogram per route.
//!
//! Built on `prometheus-client` (the Prometheus project's own Rust client)
//! with typed label sets: an outcome is an enum variant, so one that is not
//! declared does not compile, and none is dropped for want of a label.

use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Writes an enum as its snake_case label value.
macro_rules! label_value {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// Every value, so each is exported (at zero) from the start.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    };
}

/// How a login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginResult {
    /// Tokens issued.
    Success,
    /// Unknown email or wrong password.
    InvalidCredentials,
    /// The account is deactivated.
    AccountDisabled,
    /// Too many attempts.
    RateLimited,
    /// The DPoP proof was wrong, missing where required, or lacked a nonce.
    InvalidDpopProof,
    /// Anything else the request got wrong.
    InvalidRequest,
}

label_value!(LoginResult {
    Success => "success",
    InvalidCredentials => "invalid_credentials",
    AccountDisabled => "account_disabled",
    RateLimited => "rate_limited",
    InvalidDpopProof => "invalid_dpop_proof",
    InvalidRequest => "invalid_request",
});

/// How a refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefreshResult {
    /// A new pair issued.
    Rotated,
    /// The same successor again, within the race grace.
    Repeated,
    /// A rotated token came back: the session is revoked.
    Reused,
    /// Unknown, spent or expired.
    Invalid,
    /// A bound token with a proof of another key.
    WrongKey,
}

label_value!(RefreshResult {
    Rotated => "rotated",
    Repeated => "repeated",
    Reused => "reused",
    Invalid => "invalid",
    WrongKey => "wrong_key",
});

/// What kind of feed page was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedKind {
    /// A snapshot (`reset: true`).
    Snapshot,
    /// A delta after a cursor.
    Delta,
}

label_value!(FeedKind {
    Snapshot => "snapshot",
    Delta => "delta",
});

/// How an upstream provider's announcement arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// OIDC Back-Channel Logout.
    BackchannelLogout,
    /// An SSF SET pushed to us (RFC 8935).
    SsfPush,
    /// An SSF SET we polled for (RFC 8936).
    SsfPoll,
}

label_value!(Channel {
    BackchannelLogout => "backchannel_logout",
    SsfPush => "ssf_push",
    SsfPoll => "ssf_poll",
});

/// What became of an upstream provider's announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventResult {
    /// Valid: its revocations are on the feed.
    Accepted,
    /// Its `jti` was accepted before.
    Replayed,
    /// Invalid: refused, nothing revoked.
    Refused,
}

label_value!(EventResult {
    Accepted => "accepted",
    Replayed => "replayed",
    Refused => "refused",
});

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpstreamEvent {
    upstream: String,
    channel: Channel,
    result: EventResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Login {
    result: LoginResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Refresh {
    result: RefreshResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Kind {
    kind: FeedKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Route {
    method: String,
    route: String,
}

type HistogramFamily = Family<Route, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The issuer's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    logins: Family<Login, Counter>,
    refreshes: Family<Refresh, Counter>,
    revocations: Counter,
    feed_polls: Family<Kind, Counter>,
    snapshot_builds: Counter<u64, AtomicU64>,
    tail_reads: Counter<u64, AtomicU64>,
    deep_reads: Counter<u64, AtomicU64>,
    upstream_events: Family<UpstreamEvent, Counter>,
    latency: HistogramFamily,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let logins = Family::<Login, Counter>::default();
        let refreshes = Family::<Refresh, Counter>::default();
        let feed_polls = Family::<Kind, Counter>::default();
        let revocations = Counter::default();
        let snapshot_builds = Counter::default();
        let tail_reads = Counter::default();
        let deep_reads = Counter::default();
        let upstream_events = Family::<UpstreamEvent, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        // Every outcome from the start, at zero: a dashboard sees the label
        // before the first occurrence.
        for &result in LoginResult::ALL {
            drop(logins.get_or_create(&Login { result }));
        }
        for &result in RefreshResult::ALL {
            drop(refreshes.get_or_create(&Refresh { result }));
        }
        for &kind in FeedKind::ALL {
            drop(feed_polls.get_or_create(&Kind { kind }));
        }
        registry.register(
            "tollgate_logins",
            "Login attempts by result",
            logins.clone(),
        );
        registry.register(
            "tollgate_refreshes",
            "Refresh attempts by result",
            refreshes.clone(),
        );
        registry.register(
            "tollgate_revocations",
            "Sessions and tokens revoked by this process",
            revocations.clone(),
        );
        registry.register(
            "tollgate_feed_polls",
            "Revocation feed requests by kind",
            feed_polls.clone(),
        );
        registry.register(
            "tollgate_snapshot_builds",
            "Snapshot first pages read from the log (the rest were served cached)",
            snapshot_builds.clone(),
        );
        registry.register(
            "tollgate_log_tail_reads",
            "Reads of the log's newest entries for deltas (the rest were served cached)",
            tail_reads.clone(),
        );
        registry.register(
            "tollgate_log_deep_reads",
            "Deltas read from the log for cursors behind the cached tail",
            deep_reads.clone(),
        );
        registry.register(
            "tollgate_upstream_events",
            "Logout tokens and security events of upstream providers, by channel and result",
            upstream_events.clone(),
        );
        registry.register(
            "tollgate_http_request_duration_seconds",
            "Request latency by route",
            latency.clone(),
        );
        Metrics {
            registry,
            logins,
            refreshes,
            revocations,
            feed_polls,
            snapshot_builds,
            tail_reads,
            deep_reads,
            upstream_events,
            latency,
        }
    }
}

impl Metrics {
    /// Counts a login.
    pub fn login(&self, result: LoginResult) {
        self.logins.get_or_create(&Login { result }).inc();
    }

    /// Counts a refresh.
    pub fn refresh(&self, result: RefreshResult) {
        self.refreshes.get_or_create(&Refresh { result }).inc();
    }

    /// Counts revocations appended to the log.
    pub fn revoked(&self, n: usize) {
        self.revocations
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// Counts a snapshot's first page read from the log and serialized (the
    /// others are served from that read).
    pub fn snapshot_built(&self) {
        self.snapshot_builds.inc();
    }

    /// How many snapshot first pages were read from the log.
    pub fn snapshot_builds(&self) -> u64 {
        self.snapshot_builds.get()
    }

    /// Counts a read of the log's newest entries for deltas.
    pub fn tail_read(&self) {
        self.tail_reads.inc();
    }

    /// How many times the log's newest entries were read for deltas.
    pub fn tail_reads(&self) -> u64 {
        self.tail_reads.get()
    }

    /// Counts a delta read from the log for a cursor behind the tail.
    pub fn deep_read(&self) {
        self.deep_reads.inc();
    }

    /// How many deltas were read from the log for cursors behind the tail.
    pub fn deep_reads(&self) -> u64 {
        self.deep_reads.get()
    }

    /// Counts an upstream provider's announcement (`upstream` is a configured name).
    pub fn upstream_event(&self, upstream: &str, channel: Channel, result: EventResult) {
        self.upstream_events
            .get_or_create(&UpstreamEvent {
                upstream: upstream.to_owned(),
                channel,
                result,
            })
            .inc();
    }

    /// Counts a feed page served.
    pub fn feed_poll(&self, kind: FeedKind) {
        self.feed_polls.get_or_create(&Kind { kind }).inc();
    }

    /// Records a request's latency under its route pattern (never its raw path).
    pub fn observe(&self, method: &str, route: &str, elapsed: Duration) {
        self.latency
            .get_or_create(&Route {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
            let _ = writeln!(out, "# EOF");
        }
        out
    }
}
