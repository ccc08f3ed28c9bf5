//! The sync policy, written once: when a verifier must pull the revocation
//! feed or the JWKS, when it may serve from what it holds, and when it must
//! fail closed.
//!
//! [`Syncer`] is a state machine without I/O, in the manner of quinn-proto
//! and rustls: the edge worker, `tollgate-axum` and the npm package's
//! `createVerifier` each hold one, perform the fetches it asks for, and
//! report what came back. Time is an argument (Unix milliseconds), so tests
//! drive it with a fake clock and scripted answers.
//!
//! # The rules
//! - No token is accepted before the JWKS and a whole snapshot are loaded.
//! - State whose last complete sync *started* (or was observed, for a copy
//!   shared by another isolate) more than `refresh_ahead` ago is refreshed
//!   in the background; requests keep being served from it meanwhile.
//! - State older than `max_age` is synced before a token is accepted: one
//!   sync runs at a time, and the others wait for it (each on its own timer).
//! - Every fetch has a deadline covering headers and body. A fetch that
//!   misses it failed, whether or not its adapter ever reports back (a
//!   cancelled request, a stalled body): nothing can stay "in flight" past
//!   its deadline.
//! - A snapshot spans pages and is built in a separate set; it replaces the
//!   served set only when its last page (`more: false`) has arrived. If a
//!   page fails, the old set keeps serving under the usual rules. Deltas only
//!   add revocations, so their pages are applied as they come.
//! - Each feed page names the key-set version (`keys`). When it changes, the
//!   JWKS is fetched again and no token is accepted until it has been (the
//!   sync is not complete before). A withdrawn key therefore stops
//!   verifying within the same bound as a revocation.
//! - Once a sync has failed, the issuer counts as unreachable: requests are
//!   served from the last state without waiting, retries run in the
//!   background (at most one per `retry_after`), and `fail_after` after the
//!   last good sync every request is refused with
//!   [`VerifyError::RevocationStateStale`].
//! - An unknown `kid` may refetch the JWKS at most once per `jwks_cooldown`;
//!   the cooldown starts when the fetch starts, so failed fetches count.

use core::fmt;

use crate::dpop::ReplayCache;
use crate::{
    Jwks, KeySet, PendingRequest, Presented, RevocationFeed, RevocationSet, Verified, Verifier,
    VerifierOptions, VerifyError,
};

/// Unix milliseconds as the whole seconds token times are in.
fn secs(now_ms: u64) -> i64 {
    i64::try_from(now_ms / 1000).unwrap_or(i64::MAX)
}

/// The most clock skew any tollgate component accepts, in seconds. A larger
/// leeway would keep expired and revoked tokens alive for longer than any
/// deployment needs, so configuration asking for it is refused.
pub const MAX_LEEWAY_SECS: u32 = 600;

/// The shortest JWKS cooldown accepted: tokens with made-up `kid`s must not
/// turn into a stream of issuer fetches. Key changes reach verifiers through
/// the feed's key-set version anyway.
pub const MIN_JWKS_COOLDOWN_MS: u64 = 1000;

/// How many runs a shared-copy catch-up may chain before it waits for the
/// next request.
const MAX_CHAINED: u8 = 4;

/// How far the wall clock may seem to run backwards before the state is
/// treated as of unknown age (an NTP step, a restored VM).
const CLOCK_SKEW_MS: u64 = 1000;

/// Timing of the sync policy, in milliseconds. Build with
/// [`SyncOptions::new`]; [`Syncer::new`] checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncOptions {
    /// Past this age the state is refreshed in the background (the soft bound).
    pub refresh_ahead_ms: u64,
    /// Past this age a token waits for a sync before it is accepted (the hard bound).
    pub max_age_ms: u64,
    /// With the issuer unreachable, the last state serves this long after the
    /// last good sync; then every token is refused as stale.
    pub fail_after_ms: u64,
    /// How long one fetch (headers and body) may take. Capped at `fail_after_ms`.
    pub request_timeout_ms: u64,
    /// After a failed sync, the next attempt waits this long.
    pub retry_after_ms: u64,
    /// At most one JWKS refetch on an unknown `kid` per this long.
    pub jwks_cooldown_ms: u64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions::new(1000, 30_000)
    }
}

impl SyncOptions {
    /// DESIGN.md's policy with this hard bound and fail-after: refresh ahead
    /// at half the hard bound, 5 s per fetch, a retry at most every second
    /// (or every `max_age`, if shorter), one JWKS refetch per 10 s.
    pub fn new(max_age_ms: u64, fail_after_ms: u64) -> Self {
        SyncOptions {
            refresh_ahead_ms: max_age_ms / 2,
            max_age_ms,
            fail_after_ms,
            request_timeout_ms: 5000,
            retry_after_ms: max_age_ms.clamp(1, 1000),
            jwks_cooldown_ms: 10_000,
        }
    }

    /// Refuses settings that would fail open or never settle.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.fail_after_ms == 0 {
            return Err(ConfigError("fail_after must be more than 0 ms"));
        }
        if self.max_age_ms > self.fail_after_ms {
            return Err(ConfigError(
                "max_age must not exceed fail_after: the state would be trusted past the point where it must fail closed",
            ));
        }
        if self.refresh_ahead_ms > self.max_age_ms {
            return Err(ConfigError("refresh_ahead must not exceed max_age"));
        }
        if self.request_timeout_ms == 0 || self.retry_after_ms == 0 {
            return Err(ConfigError(
                "the request timeout and the retry interval must be more than 0 ms",
            ));
        }
        if self.jwks_cooldown_ms < MIN_JWKS_COOLDOWN_MS {
            return Err(ConfigError(
                "the JWKS cooldown must be at least 1000 ms: each unknown kid may cost an issuer fetch",
            ));
        }
        Ok(())
    }

    /// How long a fetch started now may take.
    fn fetch_budget(&self) -> u64 {
        self.request_timeout_ms.min(self.fail_after_ms)
    }
}

/// Settings that would make a verifier fail open (or never answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl ConfigError {
    /// The stable code bindings report it with.
    pub const fn code(&self) -> &'static str {
        "invalid_options"
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Checks a leeway against [`MAX_LEEWAY_SECS`].
pub fn check_leeway(leeway_secs: i64) -> Result<u32, ConfigError> {
    u32::try_from(leeway_secs)
        .ok()
        .filter(|l| *l <= MAX_LEEWAY_SECS)
        .ok_or(ConfigError("the leeway must be between 0 and 600 seconds"))
}

/// What a fetch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchKind {
    /// `GET /.well-known/jwks.json`.
    Jwks,
    /// `GET /v1/revocations?since=...`.
    Feed,
}

/// A fetch the adapter must perform: `GET <issuer><path>`, done (headers and
/// body) by `deadline_ms` or abandoned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetch {
    /// Pass it back to [`Syncer::on_response`].
    pub id: u64,
    /// What it fetches.
    pub kind: FetchKind,
    /// Path and query, to append to the issuer's base URL.
    pub path: String,
    /// Unix ms after which the answer is no longer wanted.
    pub deadline_ms: u64,
    /// For adapters that share answers between verifiers (the edge's
    /// data-center cache): a copy of this answer observed at or after this
    /// time (Unix ms) is fresh enough to use instead of asking the issuer.
    /// `None`: ask the issuer.
    pub shared_fresh_ms: Option<u64>,
    /// A copy observed at or after this time is older than fresh, but newer
    /// than the state: it moves the state forward, and the syncer then asks
    /// again at once (from the copy's cursor). An adapter may return it
    /// rather than ask the issuer, so verifiers lagging on an old cursor
    /// catch up through the shared copies, and only the newest cursor costs
    /// an issuer fetch.
    pub shared_useful_ms: Option<u64>,
}

/// What a request that wants to verify a token does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Verify now with [`Syncer::verify`]. If `refresh` is set, perform that
    /// fetch in the background (never making this request wait for it).
    Ready {
        /// A background refresh to drive.
        refresh: Option<Fetch>,
    },
    /// Perform this fetch, report it, and ask again.
    Fetch(Fetch),
    /// Another request's fetch is in flight: ask again after a short pause,
    /// and no later than `until_ms`.
    Wait {
        /// When to ask again at the latest (Unix ms).
        until_ms: u64,
    },
    /// Refuse with [`VerifyError::RevocationStateStale`]; `refresh`, if set,
    /// is a retry to drive in the background so the verifier can recover.
    Stale {
        /// Why, in words safe to show.
        reason: String,
        /// A background retry to drive.
        refresh: Option<Fetch>,
    },
}

/// What came back for a [`Fetch`].
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// A 200 with this body. `observed_ms` is when the answer was current:
    /// `None` for an answer from the issuer itself (the fetch's start is
    /// used), or the time a shared copy was fetched.
    Body {
        /// The response body.
        text: &'a str,
        /// When it was current, if it came from a shared copy.
        observed_ms: Option<u64>,
    },
    /// Anything else: a network error, a non-200 status, a timeout.
    Failed(&'a str),
}

/// A sync in progress: the fetch in flight and what it has gathered.
#[derive(Debug)]
struct Run {
    fetch_id: u64,
    kind: FetchKind,
    /// When the fetch in flight was started.
    started_ms: u64,
    deadline_ms: u64,
    /// No fetch of this run may end later: the run's start plus
    /// `fail_after`. However many pages a snapshot has, and however the
    /// issuer answers (`more: true` for ever), nobody waits longer.
    run_deadline_ms: u64,
    /// The oldest moment any answer of this run was current: what the
    /// state's age counts from once the run completes.
    observed_ms: u64,
    /// Only a JWKS refetch for an unknown `kid`: it does not count as a sync.
    keys_only: bool,
    /// An answer came from a copy another verifier shared.
    shared: bool,
    /// How many runs were chained before this one (see [`Syncer::finish`]).
    chained: u8,
}

impl Run {
    /// Past its deadline, or started "in the future" of a clock stepped back.
    fn is_over(&self, now_ms: u64) -> bool {
        now_ms > self.deadline_ms || now_ms.saturating_add(CLOCK_SKEW_MS) < self.started_ms
    }
}

/// The sync state of one verifier (an isolate, a process): keys,
/// revocations, and where the sync stands. See the [module docs](self).
#[derive(Debug)]
pub struct Syncer {
    options: SyncOptions,
    verifier_options: VerifierOptions,
    /// `None` until the first JWKS is loaded.
    verifier: Option<Verifier>,
    /// The set tokens are checked against.
    live: RevocationSet,
    /// A snapshot being gathered; replaces `live` when complete.
    staging: Option<RevocationSet>,
    run: Option<Run>,
    /// When the state of the last complete sync was current.
    synced_ms: Option<u64>,
    /// The key-set version the loaded JWKS is at least as new as.
    keys_loaded: Option<String>,
    /// The key-set version the feed last announced.
    keys_announced: Option<String>,
    /// When the last sync failed, if it did after the last good one.
    failed_ms: Option<u64>,
    last_error: Option<String>,
    /// When a JWKS refetch for an unknown `kid` last started.
    jwks_refetch_ms: Option<u64>,
    next_id: u64,
    /// DPoP proofs accepted by [`Self::verify_request`], each usable once.
    replays: std::sync::Mutex<ReplayCache>,
}

impl Syncer {
    /// A syncer with no state: it will ask for a snapshot and the JWKS first.
    pub fn new(
        options: SyncOptions,
        verifier_options: VerifierOptions,
    ) -> Result<Self, ConfigError> {
        options.check()?;
        if verifier_options.leeway_secs > MAX_LEEWAY_SECS {
            return Err(ConfigError("the leeway must be between 0 and 600 seconds"));
        }
        Ok(Syncer {
            options,
            verifier_options,
            verifier: None,
            live: RevocationSet::new(),
            staging: None,
            run: None,
            synced_ms: None,
            keys_loaded: None,
            keys_announced: None,
            failed_ms: None,
            last_error: None,
            jwks_refetch_ms: None,
            next_id: 0,
            replays: std::sync::Mutex::default(),
        })
    }

    /// The timing in force.
    pub fn options(&self) -> &SyncOptions {
        &self.options
    }

    /// Whether a token can be verified at once, with nothing else to do: the
    /// common case, answerable without changing anything (so adapters can
    /// ask it under a shared lock).
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        self.usable()
            && self.age(now_ms) <= self.options.refresh_ahead_ms
            && self.run.as_ref().is_none_or(|run| !run.is_over(now_ms))
    }

    /// What a request that arrived at `arrived_ms` and wants to verify a
    /// token should do now. The hard bound is measured at its arrival: a
    /// sync that started after the request arrived satisfies it, so waiters
    /// on one sync all proceed when it ends. A request told to wait never
    /// waits past the deadline of the fetch in flight, nor past `fail_after`
    /// after the last good sync.
    pub fn step(&mut self, now_ms: u64, arrived_ms: u64) -> Step {
        self.expire(now_ms);
        let age = self.age(now_ms);
        // The state's age when the request arrived; zero for a sync that
        // started after it. The clock-step guard is `age`'s, against now:
        // applied to the arrival, it made any sync more than a second newer
        // than a long-waiting request count as infinitely old, and the
        // request fetched again after each one.
        let age_at_arrival = match self.synced_ms {
            Some(at) if age != u64::MAX => arrived_ms.min(now_ms).saturating_sub(at),
            _ => u64::MAX,
        };
        let usable = self.usable();
        // Serving the last state while the issuer is unreachable is allowed
        // until fail_after, but never with a key-set change announced and not
        // loaded: that could be a withdrawal.
        let within_fail_after = usable && age <= self.options.fail_after_ms;

        if usable && age_at_arrival <= self.options.max_age_ms {
            let refresh = if age > self.options.refresh_ahead_ms {
                self.start_if_due(now_ms)
            } else {
                None
            };
            return Step::Ready { refresh };
        }
        // Past the hard bound, cold, or new keys announced and not loaded.
        if self.failed_ms.is_some() {
            // The issuer is unreachable: do not wait for it.
            let refresh = self.start_if_due(now_ms);
            return if within_fail_after {
                Step::Ready { refresh }
            } else {
                Step::Stale {
                    reason: self.stale_reason(),
                    refresh,
                }
            };
        }
        if let Some(run) = &self.run {
            let mut until = run.deadline_ms;
            if let Some(synced) = self.synced_ms {
                until = until.min(synced.saturating_add(self.options.fail_after_ms));
            }
            if now_ms < until {
                return Step::Wait { until_ms: until };
            }
            return if within_fail_after {
                Step::Ready { refresh: None }
            } else {
                Step::Stale {
                    reason: self.stale_reason(),
                    refresh: None,
                }
            };
        }
        Step::Fetch(self.start(now_ms, false))
    }

    /// Starts a sync now unless one is in flight (for an explicit "sync
    /// now"); the adapter drives it and may then wait for [`Self::in_flight`]
    /// to turn false.
    pub fn sync_now(&mut self, now_ms: u64) -> Option<Fetch> {
        self.expire(now_ms);
        if self.run.is_some() {
            return None;
        }
        Some(self.start(now_ms, false))
    }

    /// Whether a fetch is in flight (and not yet past its deadline).
    pub fn in_flight(&self, now_ms: u64) -> bool {
        self.run.as_ref().is_some_and(|run| !run.is_over(now_ms))
    }

    /// After [`VerifyError::UnknownKid`]: a JWKS fetch to perform before
    /// trying the token once more, or `None` if the cooldown has not passed
    /// or a sync is in flight (then the token stays refused).
    pub fn refetch_keys(&mut self, now_ms: u64) -> Option<Fetch> {
        self.expire(now_ms);
        if self.run.is_some() || self.verifier.is_none() {
            return None;
        }
        let cooled = self
            .jwks_refetch_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= self.options.jwks_cooldown_ms);
        if !cooled {
            return None;
        }
        // The cooldown starts now, whether or not the fetch succeeds: a flood
        // of unknown kids cannot turn every request into an issuer fetch.
        self.jwks_refetch_ms = Some(now_ms);
        Some(self.start(now_ms, true))
    }

    /// Reports what came back for fetch `id`. Returns the next fetch of the
    /// same sync, which the adapter performs at once (same rules). Answers
    /// to fetches that are no longer wanted are ignored.
    pub fn on_response(&mut self, id: u64, now_ms: u64, outcome: Outcome<'_>) -> Option<Fetch> {
        self.expire(now_ms);
        let run = self.run.as_ref().filter(|run| run.fetch_id == id)?;
        let (kind, started_ms, keys_only) = (run.kind, run.started_ms, run.keys_only);
        let (text, observed) = match outcome {
            Outcome::Body { text, observed_ms } => (text, observed_ms.unwrap_or(started_ms)),
            Outcome::Failed(error) => {
                self.fail(now_ms, error.to_owned());
                return None;
            }
        };
        if let Some(run) = &mut self.run {
            run.observed_ms = run.observed_ms.min(observed);
            run.shared |= matches!(
                outcome,
                Outcome::Body {
                    observed_ms: Some(_),
                    ..
                }
            );
        }
        let result = match kind {
            FetchKind::Feed => self.apply_page(text, now_ms),
            FetchKind::Jwks => self.load_keys(text, keys_only, now_ms),
        };
        match result {
            Ok(next) => next,
            Err(error) => {
                self.fail(now_ms, error);
                None
            }
        }
    }

    /// Verifies `token` against the state at `now_ms`. Call it when
    /// [`Self::step`] said [`Step::Ready`]; it refuses as stale by itself if
    /// no snapshot is loaded or the state is past `fail_after`.
    #[cfg(feature = "native")]
    pub fn verify(&self, token: &str, now_ms: u64) -> Result<Verified, VerifyError> {
        let verifier = self.verifier_at(now_ms)?;
        verifier.verify(token, secs(now_ms), &self.live)
    }

    /// Verifies what a request presents, its DPoP proof included
    /// ([`Verifier::verify_request`]), against the state at `now_ms`, as
    /// [`Self::verify`] does. Accepted proofs are remembered here, so each
    /// is used once in this process or isolate.
    #[cfg(feature = "native")]
    pub fn verify_request(
        &self,
        presented: &Presented<'_>,
        now_ms: u64,
    ) -> Result<Verified, VerifyError> {
        let verifier = self.verifier_at(now_ms)?;
        let mut replays = self
            .replays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        verifier.verify_request(presented, secs(now_ms), &self.live, &mut replays)
    }

    /// [`Verifier::begin_request`] against the state at `now_ms`: for a
    /// caller that checks the signatures with the platform's crypto.
    pub fn begin_request(
        &self,
        presented: &Presented<'_>,
        now_ms: u64,
    ) -> Result<PendingRequest, VerifyError> {
        self.verifier_at(now_ms)?.begin_request(presented)
    }

    /// [`Verifier::finish_request`] against the state at `now_ms`, with this
    /// syncer's replay cache. `None` if the keys changed since the request
    /// began: begin again.
    ///
    /// `remember`: whether an accepted proof is recorded (and a replayed
    /// one refused). An adapter passes `false` only where a replay is
    /// harmless and the request is checked again downstream, such as the
    /// edge in front of the issuer's own routes: a logout must not be
    /// refused because the replay cache is full.
    pub fn finish_request(
        &self,
        presented: &Presented<'_>,
        pending: PendingRequest,
        token_ok: bool,
        proof_ok: bool,
        now_ms: u64,
        remember: bool,
    ) -> Option<Result<Verified, VerifyError>> {
        let verifier = match self.verifier_at(now_ms) {
            Ok(verifier) => verifier,
            Err(err) => return Some(Err(err)),
        };
        let finish = |replays: &mut ReplayCache| {
            verifier.finish_request(
                presented,
                pending,
                token_ok,
                proof_ok,
                secs(now_ms),
                &self.live,
                replays,
            )
        };
        if remember {
            finish(
                &mut self
                    .replays
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            )
        } else {
            finish(&mut ReplayCache::new(1, 1))
        }
    }

    /// The verifier, if the state may be used at all at `now_ms`.
    fn verifier_at(&self, now_ms: u64) -> Result<&Verifier, VerifyError> {
        let Some(verifier) = &self.verifier else {
            return Err(VerifyError::RevocationStateStale);
        };
        if self.synced_ms.is_none() || self.age(now_ms) > self.options.fail_after_ms {
            return Err(VerifyError::RevocationStateStale);
        }
        Ok(verifier)
    }

    /// Whether a key with this `kid` is loaded.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.verifier
            .as_ref()
            .is_some_and(|v| v.keys().contains_kid(kid))
    }

    /// The served revocation set.
    pub fn revocations(&self) -> &RevocationSet {
        &self.live
    }

    /// For health pages: no keys, no tokens.
    pub fn status(&self, now_ms: u64) -> SyncStatus {
        SyncStatus {
            cursor: self.live.cursor().map(str::to_owned),
            revoked: self.live.len(),
            age_ms: self.synced_ms.map(|_| self.age(now_ms)),
            keys_version: self.keys_loaded.clone(),
            syncing: self.in_flight(now_ms),
            last_error: self.last_error.clone(),
        }
    }

    /// A snapshot loaded, the JWKS loaded, and no newer key set announced.
    fn usable(&self) -> bool {
        self.verifier.is_some() && self.synced_ms.is_some() && !self.keys_pending()
    }

    fn keys_pending(&self) -> bool {
        self.keys_announced.is_some() && self.keys_announced != self.keys_loaded
    }

    /// How old the state is; "infinitely" old before the first sync, and
    /// also when the clock reads well before the last sync (it was stepped
    /// back): an age that cannot be trusted must not look fresh.
    fn age(&self, now_ms: u64) -> u64 {
        match self.synced_ms {
            Some(at) if now_ms.saturating_add(CLOCK_SKEW_MS) >= at => now_ms.saturating_sub(at),
            _ => u64::MAX,
        }
    }

    fn stale_reason(&self) -> String {
        let why = self
            .last_error
            .as_deref()
            .unwrap_or("no sync has completed");
        if self.synced_ms.is_some() {
            format!(
                "revocation state older than {} ms: {why}",
                self.options.fail_after_ms
            )
        } else {
            format!("no revocation state loaded yet: {why}")
        }
    }

    /// A fetch in flight past its deadline has failed, reported or not (as
    /// has one started "in the future" of a clock stepped back).
    fn expire(&mut self, now_ms: u64) {
        if let Some(run) = &self.run {
            if run.is_over(now_ms) {
                let path = match run.kind {
                    FetchKind::Feed => "the feed",
                    FetchKind::Jwks => "the JWKS",
                };
                let budget = run.deadline_ms - run.started_ms;
                self.fail(now_ms, format!("{path} did not answer within {budget} ms"));
            }
        }
    }

    fn fail(&mut self, now_ms: u64, error: String) {
        let keys_only = self.run.as_ref().is_some_and(|run| run.keys_only);
        self.run = None;
        self.staging = None;
        if !keys_only {
            self.failed_ms = Some(now_ms);
        }
        self.last_error = Some(error);
    }

    /// Starts a background refresh if nothing is in flight and no retry
    /// backoff is running.
    fn start_if_due(&mut self, now_ms: u64) -> Option<Fetch> {
        if self.run.is_some() {
            return None;
        }
        if let Some(failed) = self.failed_ms {
            if now_ms.saturating_sub(failed) < self.options.retry_after_ms {
                return None;
            }
        }
        Some(self.start(now_ms, false))
    }

    /// Starts a run with its first fetch: the JWKS for a keys-only run,
    /// else the feed from the served cursor.
    fn start(&mut self, now_ms: u64, keys_only: bool) -> Fetch {
        self.run = Some(Run {
            fetch_id: 0,
            kind: FetchKind::Feed,
            started_ms: now_ms,
            deadline_ms: now_ms,
            run_deadline_ms: now_ms.saturating_add(self.options.fail_after_ms),
            observed_ms: now_ms,
            keys_only,
            shared: false,
            chained: 0,
        });
        self.staging = None;
        if keys_only {
            self.next_fetch(FetchKind::Jwks, now_ms)
        } else {
            let path = RevocationFeed::request_path(self.live.cursor());
            self.next_fetch(FetchKind::Feed, now_ms).with_path(path)
        }
    }

    /// The next fetch of the run in progress.
    fn next_fetch(&mut self, kind: FetchKind, now_ms: u64) -> Fetch {
        self.next_id += 1;
        let id = self.next_id;
        let run_deadline = self
            .run
            .as_ref()
            .map_or(u64::MAX, |run| run.run_deadline_ms);
        let deadline_ms = now_ms
            .saturating_add(self.options.fetch_budget())
            .min(run_deadline);
        let floor = self.synced_ms.map_or(0, |at| at.saturating_add(1));
        let (shared_fresh_ms, shared_useful_ms) = match kind {
            FetchKind::Feed => (
                Some(floor.max(now_ms.saturating_sub(self.options.refresh_ahead_ms))),
                Some(floor),
            ),
            FetchKind::Jwks => (None, None),
        };
        if let Some(run) = &mut self.run {
            run.fetch_id = id;
            run.kind = kind;
            run.started_ms = now_ms;
            run.deadline_ms = deadline_ms;
        }
        Fetch {
            id,
            kind,
            path: match kind {
                FetchKind::Jwks => "/.well-known/jwks.json".to_owned(),
                FetchKind::Feed => String::new(),
            },
            deadline_ms,
            shared_fresh_ms,
            shared_useful_ms,
        }
    }

    fn apply_page(&mut self, text: &str, now_ms: u64) -> Result<Option<Fetch>, String> {
        let page: RevocationFeed =
            serde_json::from_str(text).map_err(|err| format!("feed page does not parse: {err}"))?;
        if page.reset {
            // A snapshot: gathered apart, swapped in whole.
            let mut fresh = RevocationSet::new();
            fresh.apply(&page);
            self.staging = Some(fresh);
        } else {
            self.staging.as_mut().unwrap_or(&mut self.live).apply(&page);
        }
        if page.keys.is_some() {
            self.keys_announced = page.keys;
        }
        if page.more {
            let cursor = self.staging.as_ref().unwrap_or(&self.live).cursor();
            let path = RevocationFeed::request_path(cursor);
            return Ok(Some(
                self.next_fetch(FetchKind::Feed, now_ms).with_path(path),
            ));
        }
        if let Some(snapshot) = self.staging.take() {
            self.live = snapshot;
        }
        if self.verifier.is_none() || self.keys_pending() {
            return Ok(Some(self.next_fetch(FetchKind::Jwks, now_ms)));
        }
        Ok(self.finish(now_ms))
    }

    fn load_keys(
        &mut self,
        text: &str,
        keys_only: bool,
        now_ms: u64,
    ) -> Result<Option<Fetch>, String> {
        let jwks: Jwks =
            serde_json::from_str(text).map_err(|err| format!("JWKS does not parse: {err}"))?;
        // A JWKS that names its version must be at least as new as the one
        // the feed announced: a cached or lagging copy could still hold a
        // withdrawn key. One that names none was fetched after the
        // announcement, and is taken to be that new.
        let version = match (&jwks.version, &self.keys_announced) {
            (Some(got), Some(want)) if !at_least(got, want) => {
                return Err(format!(
                    "the JWKS is at key-set version {got}, older than the {want} the feed announced"
                ));
            }
            (Some(got), _) => Some(got.clone()),
            (None, announced) => announced.clone(),
        };
        let keys = KeySet::from_jwks(&jwks).map_err(|err| format!("JWKS does not parse: {err}"))?;
        match &mut self.verifier {
            Some(verifier) => verifier.set_keys(keys),
            None => self.verifier = Some(Verifier::new(self.verifier_options.clone(), keys)),
        }
        // Newer than announced (a change since the page): the next page
        // announces it too, and nothing is pending meanwhile.
        if version.is_some() {
            self.keys_announced.clone_from(&version);
        }
        self.keys_loaded = version;
        if keys_only {
            self.run = None;
            Ok(None)
        } else {
            Ok(self.finish(now_ms))
        }
    }

    /// Completes the run; if its data came from shared copies and is still
    /// older than the soft bound, starts the next run at once (at most
    /// [`MAX_CHAINED`] in a row), so a verifier that caught up through old
    /// copies goes on to the newest.
    fn finish(&mut self, now_ms: u64) -> Option<Fetch> {
        let (shared, chained) = self
            .run
            .as_ref()
            .map_or((false, 0), |run| (run.shared, run.chained));
        self.complete(now_ms);
        if !shared || chained >= MAX_CHAINED || self.age(now_ms) <= self.options.refresh_ahead_ms {
            return None;
        }
        let fetch = self.start(now_ms, false);
        if let Some(run) = &mut self.run {
            run.chained = chained + 1;
        }
        Some(fetch)
    }

    fn complete(&mut self, now_ms: u64) {
        if let Some(run) = self.run.take() {
            let observed = run.observed_ms;
            // Never backwards for an older shared copy; but after the clock
            // was stepped back, the new reading is the only one that counts.
            self.synced_ms = Some(match self.synced_ms {
                Some(at) if observed.saturating_add(CLOCK_SKEW_MS) >= at => at.max(observed),
                _ => observed,
            });
        }
        self.failed_ms = None;
        self.last_error = None;
        let leeway = i64::from(self.verifier_options.leeway_secs);
        let now_secs = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        self.live.prune(now_secs.saturating_sub(leeway));
    }
}

/// Whether key-set version `got` is at least `want`: numerically when both
/// are counters (the tollgate issuer's are), else only when equal.
fn at_least(got: &str, want: &str) -> bool {
    match (got.parse::<u64>(), want.parse::<u64>()) {
        (Ok(got), Ok(want)) => got >= want,
        _ => got == want,
    }
}

impl Fetch {
    fn with_path(mut self, path: String) -> Self {
        self.path = path;
        self
    }
}

/// Where a [`Syncer`] stands, for health pages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncStatus {
    /// The feed cursor of the served set.
    pub cursor: Option<String>,
    /// Revocations held.
    pub revoked: usize,
    /// Age of the state in ms; `None` before the first sync.
    pub age_ms: Option<u64>,
    /// The key-set version loaded, if the issuer names one.
    pub keys_version: Option<String>,
    /// Whether a fetch is in flight.
    pub syncing: bool,
    /// Why the last sync failed, if it did after the last good one.
    pub last_error: Option<String>,
}
