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
//! # Layout
//! - this file: the machine's state, the runs of fetches, and [`Step`];
//! - `settings`: [`SyncOptions`] and [`SyncSettings`], the timing and its defaults;
//! - `fetch`: [`Fetch`] and [`Outcome`], what passes between machine and adapter;
//! - `admission`: [`Admission`] and [`Catchup`], one request's (or one
//!   explicit sync's) way through the machine, down to what the adapter
//!   does next ([`Next`]): spawn a fetch, sleep, check signatures, answer;
//! - `shared`: [`SharedLook`] and [`replaces`], which copies an adapter
//!   that shares answers between verifiers (the edge's data-center cache)
//!   takes, waits for, or puts.
//!
//! # The rules
//! - No token is accepted before the JWKS and a whole snapshot are loaded.
//! - State whose last complete sync *started* (or was observed, for a copy
//!   shared by another isolate) more than `refresh_ahead` ago is refreshed
//!   in the background; requests keep being served from it meanwhile.
//! - State older than `max_age` is synced before a token is accepted: one
//!   sync runs at a time, and the others wait for it (each on its own timer).
//! - Every fetch runs detached from the request that asked for it, and has
//!   a deadline covering headers and body; the adapter reports it, success
//!   or failure, by then. A request that goes away (its client hung up)
//!   takes nothing with it: the fetch goes on, and a fetch whose requester
//!   left is not evidence that the issuer is down.
//! - A fetch nobody reports by its deadline plus [`REPORT_GRACE_MS`] was
//!   abandoned by its adapter: it ends, counts as nobody syncing (not as an
//!   issuer failure), and the state's age decides what happens next.
//! - A snapshot spans pages and is built in a separate set; it replaces the
//!   served set only when its last page (`more: false`) has arrived. If a
//!   page fails, the old set keeps serving under the usual rules. Deltas only
//!   add revocations, so their pages are applied as they come.
//! - Each feed page names the key-set version (`keys`). When it moves
//!   forward, the JWKS is fetched again and no token is accepted until it
//!   has been (the sync is not complete before). A JWKS is taken only if it
//!   is at least as new as both the announced version and the loaded one,
//!   so neither a lagging copy nor an old announcement brings a withdrawn
//!   key back. Versions are counters, optionally tagged (`7.3fa9c1`, the
//!   issuer's upstream rules): a new tag at the same counter is also news.
//! - Once a sync has failed (reported so by its adapter), the issuer counts
//!   as unreachable: requests are served from the last state without
//!   waiting, retries run in the background (at most one per
//!   `retry_after`), and `fail_after` after the last good sync every request
//!   is refused with [`VerifyError::RevocationStateStale`].
//! - An unknown `kid` may refetch the JWKS at most once per `jwks_cooldown`;
//!   the cooldown starts when the fetch starts (or when a sync in flight is
//!   asked to make it), so failed fetches count. The request that asked
//!   waits for it and tries once more. With a sync in flight, that sync
//!   fetches the JWKS before it ends (its feed page may predate the
//!   rotation) and the request waits for it instead, never past
//!   `fail_after` from its arrival; that fetch fails as a keys-only one
//!   does, after the sync it follows has counted. A key change between a
//!   request's two halves makes it begin again, twice at most.

mod admission;
mod fetch;
mod settings;
mod shared;

pub use admission::{Admission, Catchup, Next, ReplayMode};
pub use fetch::{Fetch, FetchKind, Outcome};
pub(crate) use settings::millis_text;
pub use settings::{
    DEFAULT_FAIL_AFTER_MS, DEFAULT_MAX_AGE_MS, MIN_JWKS_COOLDOWN_MS, SyncOptions, SyncSettings,
};
pub use shared::{
    LEASE_MS, LEASE_POLL_MS, Look, RACE_MS, SHARE_ATTEMPTS, SHARED_MAX_AGE_SECS,
    SHARED_STAMP_AHEAD_MS, STAGGER_MS, SharedLook, believable_stamp, replaces,
};

use crate::bounds::ConfigError;
use crate::dpop::ReplayCache;
use crate::error::VerifyError;
use crate::feed::RevocationFeed;
use crate::follower::Follower;
use crate::json::Object;
use crate::keys::{Jwks, KeySet};
use crate::request::Request;
use crate::revocation::RevocationSet;
use crate::verify::{Begun, Finished, Pending, Replay, Verdicts, Verifier, VerifierOptions};

/// Unix milliseconds as the whole seconds token times are in.
fn secs(now_ms: u64) -> i64 {
    i64::try_from(now_ms / 1000).unwrap_or(i64::MAX)
}

/// How many runs a shared-copy catch-up may chain before it waits for the
/// next request.
const MAX_CHAINED: u8 = 4;

/// How far the wall clock may seem to run backwards before the state is
/// treated as of unknown age (an NTP step, a restored VM).
const CLOCK_SKEW_MS: u64 = 1000;

/// How long past its deadline a fetch nobody reported is still waited for:
/// the adapter's own timer fires at the deadline and reports a failure a
/// moment later. Only a fetch its adapter abandoned outlives this.
pub const REPORT_GRACE_MS: u64 = 1000;

/// How often a request waiting on the machine looks again, at most.
pub const POLL_MS: u64 = 5;

/// What a request that wants to verify a token does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Verify now. If `refresh` is set, perform that fetch in the
    /// background (never making this request wait for it).
    Ready {
        /// A background refresh to drive.
        refresh: Option<Fetch>,
    },
    /// Start this fetch (detached), and ask again.
    Fetch(Fetch),
    /// A fetch is in flight: ask again after a short pause, and no later
    /// than `until_ms`.
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

/// A sync in progress: the fetch in flight and what it has gathered.
#[derive(Debug)]
struct Run {
    /// Numbers runs, so a waiter can tell its run from the next one.
    number: u64,
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
    /// No request waits for it.
    background: bool,
    /// An answer came from a copy another verifier shared.
    shared: bool,
    /// How many runs were chained before this one (see [`Syncer::finish_run`]).
    chained: u8,
    /// A request with an unknown `kid` joined this run after its last JWKS
    /// fetch started (see [`Syncer::refetch_keys_in_run`]): it fetches the
    /// JWKS again before it ends.
    keys_wanted: bool,
}

impl Run {
    /// When the fetch in flight counts as abandoned if nobody reported it:
    /// its deadline plus the grace for its adapter's report.
    fn over_at(&self) -> u64 {
        self.deadline_ms.saturating_add(REPORT_GRACE_MS)
    }

    /// Unreported at [`Self::over_at`], or started "in the future" of a
    /// clock stepped back: abandoned.
    fn is_over(&self, now_ms: u64) -> bool {
        now_ms >= self.over_at() || now_ms.saturating_add(CLOCK_SKEW_MS) < self.started_ms
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
    /// The set tokens are checked against, and a snapshot being gathered.
    feed: Follower,
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
    runs: u64,
    /// The number of the last run that completed (not keys-only).
    completed: u64,
    /// DPoP proofs accepted, each usable once in this verifier.
    replays: std::sync::Mutex<ReplayCache>,
}

impl Syncer {
    /// A syncer with no state: it will ask for a snapshot and the JWKS first.
    pub fn new(
        options: SyncOptions,
        verifier_options: VerifierOptions,
    ) -> Result<Self, ConfigError> {
        options.check()?;
        verifier_options.check()?;
        Ok(Syncer {
            options,
            verifier_options,
            verifier: None,
            feed: Follower::new(),
            run: None,
            synced_ms: None,
            keys_loaded: None,
            keys_announced: None,
            failed_ms: None,
            last_error: None,
            jwks_refetch_ms: None,
            next_id: 0,
            runs: 0,
            completed: 0,
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
    /// waits past the fetch in flight (its deadline and the report grace),
    /// nor, if it arrived while the state could serve, past that state's
    /// `fail_after`.
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
        // Nobody waits longer than fail_after from their arrival, however
        // often the fetches are abandoned.
        let give_up_at = arrived_ms.saturating_add(self.options.fail_after_ms);
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
            // Wait for it until it is reported or abandoned. A request that
            // arrived while the state could still serve waits no longer than
            // that state's fail_after: then it is refused (fail closed in
            // time); one that arrived to state already past it (or none)
            // waits for the sync, as a cold start does.
            let mut until = run.over_at().min(give_up_at);
            if let Some(synced) = self.synced_ms {
                let unusable_at = synced.saturating_add(self.options.fail_after_ms);
                if arrived_ms < unusable_at {
                    until = until.min(unusable_at);
                }
            }
            if now_ms < until {
                return Step::Wait { until_ms: until };
            }
            return Step::Stale {
                reason: self.stale_reason(),
                refresh: None,
            };
        }
        if now_ms >= give_up_at {
            return Step::Stale {
                reason: self.stale_reason(),
                refresh: None,
            };
        }
        Step::Fetch(self.start(now_ms, false, false))
    }

    /// Starts a sync now unless one is in flight (for an explicit "sync
    /// now"); see [`Catchup::sync_now`] for the whole exchange.
    pub fn sync_now(&mut self, now_ms: u64) -> Option<Fetch> {
        self.expire(now_ms);
        if self.run.is_some() {
            return None;
        }
        Some(self.start(now_ms, false, false))
    }

    /// Whether a fetch is in flight (and not abandoned).
    pub fn in_flight(&self, now_ms: u64) -> bool {
        self.run.as_ref().is_some_and(|run| !run.is_over(now_ms))
    }

    /// The run in flight, if any: its number, until when it is waited
    /// for, and whether it only refetches the JWKS.
    fn current_run(&self, now_ms: u64) -> Option<(u64, u64, bool)> {
        self.run
            .as_ref()
            .filter(|run| !run.is_over(now_ms))
            .map(|run| (run.number, run.over_at(), run.keys_only))
    }

    /// The number of the last run that completed a sync.
    fn last_completed(&self) -> u64 {
        self.completed
    }

    /// After [`VerifyError::UnknownKid`]: a JWKS fetch to perform before
    /// trying the token once more, or `None` if the cooldown has not passed
    /// or a sync is in flight (an [`Admission`] then has that sync fetch the
    /// JWKS, cooldown permitting). An [`Admission`] asks this itself.
    pub fn refetch_keys(&mut self, now_ms: u64) -> Option<Fetch> {
        self.expire(now_ms);
        if self.run.is_some() || self.verifier.is_none() || !self.jwks_cooled(now_ms) {
            return None;
        }
        // The cooldown starts now, whether or not the fetch succeeds: a flood
        // of unknown kids cannot turn every request into an issuer fetch.
        self.jwks_refetch_ms = Some(now_ms);
        Some(self.start(now_ms, true, false))
    }

    /// After [`VerifyError::UnknownKid`] while a sync is in flight (which
    /// [`Self::refetch_keys`] leaves alone): that sync fetches the JWKS
    /// before it ends, under the same cooldown. Returns its number, for the
    /// request to wait for; `None` if none is in flight or the cooldown has
    /// not passed. A sync brings the key only if its feed announces a new
    /// key set, which a copy from before the rotation does not.
    fn refetch_keys_in_run(&mut self, now_ms: u64) -> Option<u64> {
        self.expire(now_ms);
        if self.verifier.is_none() || !self.jwks_cooled(now_ms) {
            return None;
        }
        let run = self.run.as_mut()?;
        run.keys_wanted = true;
        let number = run.number;
        self.jwks_refetch_ms = Some(now_ms);
        Some(number)
    }

    fn jwks_cooled(&self, now_ms: u64) -> bool {
        self.jwks_refetch_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= self.options.jwks_cooldown_ms)
    }

    /// Whether the run in flight owes a requester a JWKS fetch.
    fn keys_wanted(&self) -> bool {
        self.run.as_ref().is_some_and(|run| run.keys_wanted)
    }

    /// Reports what came back for fetch `id`. Returns the next fetch of the
    /// same sync, which the adapter performs at once (same rules). An answer
    /// reported after the fetch's deadline counts as a failure; one to a
    /// fetch that is no longer wanted (abandoned, or of an older run) is
    /// ignored.
    pub fn on_response(&mut self, id: u64, now_ms: u64, outcome: Outcome<'_>) -> Option<Fetch> {
        self.expire(now_ms);
        let run = self.run.as_ref().filter(|run| run.fetch_id == id)?;
        let (kind, started_ms, keys_only) = (run.kind, run.started_ms, run.keys_only);
        if now_ms > run.deadline_ms {
            // Reported, but late: its adapter was there, the issuer was slow.
            let budget = run.deadline_ms.saturating_sub(started_ms);
            self.fail(now_ms, format!("no complete answer within {budget} ms"));
            return None;
        }
        if let Outcome::Body {
            observed_ms: Some(stamp),
            ..
        } = outcome
            && !believable_stamp(stamp, now_ms)
        {
            // A shared copy from a clock that runs ahead: the issuer's own
            // answer instead, in the same run.
            return match self.continue_run(kind, now_ms) {
                Ok(fetch) => Some(self.of_the_issuer(fetch)),
                Err(error) => {
                    self.fail(now_ms, error);
                    None
                }
            };
        }
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

    /// Verifies `token` (as Bearer) against the state at `now_ms`. Call it
    /// when [`Self::step`] said [`Step::Ready`]; it refuses as stale by
    /// itself if no snapshot is loaded or the state is past `fail_after`,
    /// after refusing what cannot be a token (as an [`Admission`] does).
    #[cfg(feature = "native")]
    pub fn verify(&self, token: &str, now_ms: u64) -> Result<crate::verify::Verified, VerifyError> {
        crate::jws::check_shape(token)?;
        let verifier = self.verifier_at(now_ms)?;
        verifier.verify(token, secs(now_ms), self.feed.live())
    }

    /// Verifies what a request presents, its DPoP proof included
    /// ([`Verifier::verify_request`]), against the state at `now_ms`, as
    /// [`Self::verify`] does. Accepted proofs are recorded here, so each is
    /// used once in this process or isolate.
    #[cfg(feature = "native")]
    pub fn verify_request(
        &self,
        request: Request,
        now_ms: u64,
    ) -> Result<crate::verify::Verified, VerifyError> {
        crate::jws::check_shape(&request.token)?;
        let verifier = self.verifier_at(now_ms)?;
        let mut replays = self.replays();
        verifier.verify_request(
            request,
            secs(now_ms),
            self.feed.live(),
            Replay::Record(&mut replays),
        )
    }

    /// [`Verifier::begin`] against the state at `now_ms`.
    pub fn begin(&self, request: Request, now_ms: u64) -> Begun {
        match self.verifier_at(now_ms) {
            Ok(verifier) => verifier.begin(request),
            Err(err) => Begun::Refused(request, err),
        }
    }

    /// [`Verifier::finish`] against the state at `now_ms`, recording an
    /// accepted proof in this syncer's replay cache unless `replay` says to
    /// skip it.
    pub fn finish(
        &self,
        pending: Pending,
        verdicts: Verdicts,
        now_ms: u64,
        replay: ReplayMode,
    ) -> Finished {
        let verifier = match self.verifier_at(now_ms) {
            Ok(verifier) => verifier,
            Err(err) => return Finished::Done(Err(err)),
        };
        let now = secs(now_ms);
        match replay {
            ReplayMode::Record => verifier.finish(
                pending,
                verdicts,
                now,
                self.feed.live(),
                Replay::Record(&mut self.replays()),
            ),
            ReplayMode::Skip => {
                verifier.finish(pending, verdicts, now, self.feed.live(), Replay::Skip)
            }
        }
    }

    fn replays(&self) -> std::sync::MutexGuard<'_, ReplayCache> {
        self.replays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        self.feed.live()
    }

    /// For health pages: no keys, no tokens.
    pub fn status(&self, now_ms: u64) -> SyncStatus {
        SyncStatus {
            cursor: self.feed.live().cursor().map(str::to_owned),
            revoked: self.feed.live().len(),
            age_ms: self.synced_ms.map(|_| self.age(now_ms)),
            keys_version: self.keys_loaded.clone(),
            syncing: self.in_flight(now_ms),
            last_error: self.last_error.clone(),
        }
    }

    /// Why the last sync failed, if one did after the last good one.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// A snapshot loaded, the JWKS loaded, and no newer key set announced.
    fn usable(&self) -> bool {
        self.verifier.is_some() && self.synced_ms.is_some() && !self.keys_pending()
    }

    fn keys_pending(&self) -> bool {
        match (&self.keys_announced, &self.keys_loaded) {
            (None, _) => false,
            (Some(announced), Some(loaded)) => !covers(loaded, announced),
            (Some(_), None) => true,
        }
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

    /// A fetch nobody reported by its deadline plus the report grace (or
    /// one started "in the future" of a clock stepped back) was abandoned:
    /// the run ends, and nothing is said about the issuer.
    fn expire(&mut self, now_ms: u64) {
        if self.run.as_ref().is_some_and(|run| run.is_over(now_ms)) {
            self.run = None;
            self.feed.abandon();
        }
    }

    /// The adapter reported a failure (or an answer that does not parse):
    /// the issuer counts as unreachable, unless it was a keys-only run.
    fn fail(&mut self, now_ms: u64, error: String) {
        let keys_only = self.run.as_ref().is_some_and(|run| run.keys_only);
        self.run = None;
        self.feed.abandon();
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
        Some(self.start(now_ms, false, true))
    }

    /// Starts a run with its first fetch: the JWKS for a keys-only run,
    /// else the feed from the served cursor.
    fn start(&mut self, now_ms: u64, keys_only: bool, background: bool) -> Fetch {
        self.runs += 1;
        self.run = Some(Run {
            number: self.runs,
            fetch_id: 0,
            kind: FetchKind::Feed,
            started_ms: now_ms,
            deadline_ms: now_ms,
            run_deadline_ms: now_ms.saturating_add(self.options.fail_after_ms),
            observed_ms: now_ms,
            keys_only,
            background,
            shared: false,
            chained: 0,
            keys_wanted: false,
        });
        self.feed.abandon();
        if keys_only {
            self.next_fetch(FetchKind::Jwks, now_ms)
        } else {
            let path = RevocationFeed::request_path(self.feed.cursor());
            self.next_fetch(FetchKind::Feed, now_ms).with_path(path)
        }
    }

    /// `fetch` again, from the issuer: no shared copy will do.
    fn of_the_issuer(&self, mut fetch: Fetch) -> Fetch {
        fetch.shared_fresh_ms = None;
        fetch.shared_useful_ms = None;
        match fetch.kind {
            FetchKind::Feed => fetch.with_path(RevocationFeed::request_path(self.feed.cursor())),
            FetchKind::Jwks => fetch,
        }
    }

    /// The next fetch of the run in progress.
    fn next_fetch(&mut self, kind: FetchKind, now_ms: u64) -> Fetch {
        self.next_id += 1;
        let id = self.next_id;
        let (run_deadline, background) = self.run.as_ref().map_or((u64::MAX, false), |run| {
            (run.run_deadline_ms, run.background)
        });
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
            run.keys_wanted &= kind != FetchKind::Jwks;
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
            background,
            shared_fresh_ms,
            shared_useful_ms,
        }
    }

    fn apply_page(&mut self, text: &str, now_ms: u64) -> Result<Option<Fetch>, String> {
        let page = RevocationFeed::from_json(text)
            .map_err(|err| format!("feed page does not parse: {err}"))?;
        // A snapshot is gathered apart and swapped in whole.
        self.feed.apply(&page);
        // Announcements only move forward: an older one (a shared copy of a
        // page from before a change) must not clear a newer one still
        // pending.
        if let Some(announced) = page.keys {
            let newer = match &self.keys_announced {
                Some(old) => !covers(old, &announced),
                None => true,
            };
            if newer {
                self.keys_announced = Some(announced);
            }
        }
        if page.more {
            let path = RevocationFeed::request_path(self.feed.cursor());
            return Ok(Some(
                self.continue_run(FetchKind::Feed, now_ms)?.with_path(path),
            ));
        }
        if self.verifier.is_none() || self.keys_pending() {
            return Ok(Some(self.continue_run(FetchKind::Jwks, now_ms)?));
        }
        if self.keys_wanted() {
            return self.keys_for_requester(now_ms);
        }
        Ok(self.finish_run(now_ms))
    }

    /// The run's next fetch, unless the run has used up its fail_after: a
    /// fetch with no time left to answer in is not worth starting.
    fn continue_run(&mut self, kind: FetchKind, now_ms: u64) -> Result<Fetch, String> {
        if self
            .run
            .as_ref()
            .is_some_and(|run| now_ms >= run.run_deadline_ms)
        {
            return Err(format!(
                "the sync did not complete within {} ms",
                self.options.fail_after_ms
            ));
        }
        Ok(self.next_fetch(kind, now_ms))
    }

    fn load_keys(
        &mut self,
        text: &str,
        keys_only: bool,
        now_ms: u64,
    ) -> Result<Option<Fetch>, String> {
        let jwks = Jwks::from_json(text).map_err(|err| format!("JWKS does not parse: {err}"))?;
        // A JWKS that names its version must be at least as new as the one
        // the feed announced and the one already loaded: a cached or lagging
        // copy could still hold a withdrawn key, and so could a copy that
        // matches an old announcement (a shared feed page from before the
        // withdrawal). One that names none was fetched after the
        // announcement, and is taken to be that new.
        let version = match &jwks.version {
            Some(got) => {
                for want in [&self.keys_announced, &self.keys_loaded]
                    .into_iter()
                    .flatten()
                {
                    if !not_older(got, want) {
                        return Err(format!(
                            "the JWKS is at key-set version {got}, older than the {want} already announced or loaded"
                        ));
                    }
                }
                Some(got.clone())
            }
            None => match (&self.keys_announced, &self.keys_loaded) {
                (Some(announced), Some(loaded)) if covers(loaded, announced) => {
                    Some(loaded.clone())
                }
                (None, loaded) => loaded.clone(),
                (announced, _) => announced.clone(),
            },
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
        if self.keys_wanted() {
            // Asked for after this copy was requested: it may predate the
            // key the requester names.
            return self.keys_for_requester(now_ms);
        }
        if keys_only {
            self.run = None;
            Ok(None)
        } else {
            Ok(self.finish_run(now_ms))
        }
    }

    /// Completes the run; if its data came from shared copies and is still
    /// older than the soft bound, starts the next run at once (at most
    /// [`MAX_CHAINED`] in a row), so a verifier that caught up through old
    /// copies goes on to the newest.
    fn finish_run(&mut self, now_ms: u64) -> Option<Fetch> {
        let (shared, chained, background) = self.run.as_ref().map_or((false, 0, true), |run| {
            (run.shared, run.chained, run.background)
        });
        self.complete_run(now_ms);
        if !shared || chained >= MAX_CHAINED || self.age(now_ms) <= self.options.refresh_ahead_ms {
            return None;
        }
        let fetch = self.start(now_ms, false, background);
        if let Some(run) = &mut self.run {
            run.chained = chained + 1;
        }
        Some(fetch)
    }

    /// The JWKS fetch a request with an unknown `kid` asked of this run
    /// ([`Self::refetch_keys_in_run`]), once what the run was for is done:
    /// the sync it completed counts, and the run goes on as a keys-only
    /// refetch, whose failure says nothing about the issuer. A made-up `kid`
    /// can neither fail a good sync nor hold it up.
    fn keys_for_requester(&mut self, now_ms: u64) -> Result<Option<Fetch>, String> {
        if self.run.as_ref().is_some_and(|run| !run.keys_only) {
            self.record_sync(now_ms);
            if let Some(run) = &mut self.run {
                run.keys_only = true;
            }
        }
        Ok(Some(self.continue_run(FetchKind::Jwks, now_ms)?))
    }

    /// Records the run as the state's last good sync, ends it, and prunes.
    fn complete_run(&mut self, now_ms: u64) {
        self.record_sync(now_ms);
        self.run = None;
    }

    /// Records the run in flight as the state's last good sync, and prunes.
    fn record_sync(&mut self, now_ms: u64) {
        if let Some(run) = &self.run {
            self.completed = run.number;
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
        self.feed.prune(secs(now_ms).saturating_sub(leeway));
    }
}

/// A key-set version as the tollgate issuer writes it: a counter that only
/// moves forward, optionally with a tag after a `.` (the digest of the
/// configured upstream rules, which live in each replica's configuration).
fn counter_and_tag(version: &str) -> Option<(u64, &str)> {
    let (counter, tag) = version.split_once('.').unwrap_or((version, ""));
    Some((counter.parse().ok()?, tag))
}

/// Whether a JWKS at version `got` is no older than `want`: by the counter
/// when both have one (a withdrawn key never comes back from a lagging
/// copy), else only when equal. Tags do not order: two replicas whose
/// configurations differ for the length of a deploy both serve the newest
/// keys.
fn not_older(got: &str, want: &str) -> bool {
    match (counter_and_tag(got), counter_and_tag(want)) {
        (Some((got, _)), Some((want, _))) => got >= want,
        _ => got == want,
    }
}

/// Whether keys loaded at `got` cover an announced `want`: a newer counter,
/// or the same counter and tag. A different tag at the same counter (the
/// upstream rules changed) means the JWKS must be fetched again.
fn covers(got: &str, want: &str) -> bool {
    match (counter_and_tag(got), counter_and_tag(want)) {
        (Some((got_n, got_tag)), Some((want_n, want_tag))) => {
            got_n > want_n || (got_n == want_n && got_tag == want_tag)
        }
        _ => got == want,
    }
}

/// Where a [`Syncer`] stands, for health pages.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl SyncStatus {
    /// The status as a JSON object with snake_case members (`cursor`,
    /// `revoked`, `age_ms`, `keys_version`, `syncing`, `last_error`), left
    /// open for the adapter's own members.
    pub fn to_object(&self) -> Object {
        let mut object = Object::new();
        object
            .opt_str("cursor", self.cursor.as_deref())
            .uint("revoked", u64::try_from(self.revoked).unwrap_or(u64::MAX))
            .opt_uint("age_ms", self.age_ms)
            .opt_str("keys_version", self.keys_version.as_deref())
            .bool("syncing", self.syncing)
            .opt_str("last_error", self.last_error.as_deref());
        object
    }
}

#[cfg(test)]
mod version_tests {
    use super::{covers, not_older};

    /// Tagged versions (the issuer's upstream rules) order by their counter,
    /// and a new tag at the same counter still counts as news.
    #[test]
    fn tagged_versions() {
        assert!(not_older("3.ab", "2.ab") && covers("3.ab", "2.ab"));
        assert!(!not_older("2.ab", "3.ab") && !covers("2.ab", "3.ab"));
        assert!(not_older("3.cd", "3.ab"), "same counter: no older");
        assert!(!covers("3.cd", "3.ab"), "same counter, new tag: refetch");
        assert!(covers("4.cd", "3.ab"));
        assert!(covers("7", "7") && !covers("7", "8") && not_older("8", "7"));
        assert!(covers("opaque", "opaque") && !not_older("opaque", "other"));
    }
}
