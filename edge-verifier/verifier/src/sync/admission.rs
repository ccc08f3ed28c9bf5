//! One request's way through a [`Syncer`], decided here down to the last
//! step, so an adapter only performs what [`Next`] says: spawn a fetch
//! (detached from the request), sleep, check signatures with its crypto,
//! or answer.
//!
//! An [`Admission`] verifies one request: it waits for state that may be
//! used (under the syncer's rules), begins the verification, hands the
//! signatures to the caller, finishes it; on an unknown `kid` it has the
//! JWKS refetched (rate-limited) and tries once more; if the keys change
//! between the halves it begins again (twice at most). A [`Catchup`] is an
//! explicit sync (`sync()`), or the first one (`connect()`).
//!
//! Neither holds anything the syncer waits on: a request that is dropped
//! half-way (its client hung up) leaves no slot taken and no fetch
//! unreported, because every fetch runs detached and reports by itself.

use super::Fetch;
use super::{POLL_MS, Step, Syncer};
use crate::error::VerifyError;
use crate::request::Request;
use crate::verify::{Begun, Finished, Pending, Verdicts, Verified};

/// How often a request may begin again because the keys changed under it.
const MAX_RESTARTS: u8 = 2;

/// Whether an admission records the DPoP proof it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayMode {
    /// Record it in the syncer's replay cache; refuse one it has seen.
    Record,
    /// Do not record it: only where the request is checked again
    /// downstream, which records it (the edge in front of the issuer).
    Skip,
}

/// What the adapter does next for an [`Admission`] or a [`Catchup`].
#[derive(Debug)]
pub enum Next<T> {
    /// Start this fetch detached from the request (a spawned task, the
    /// runtime's `waitUntil`), report it to [`Syncer::on_response`] when it
    /// ends, and advance again at once.
    Spawn(Fetch),
    /// Sleep until `until_ms` (Unix ms, by the adapter's clock), then
    /// advance again.
    Sleep {
        /// When to advance again.
        until_ms: u64,
    },
    /// Check the signatures [`Admission::pending`] holds, report them with
    /// [`Admission::checked`], and advance again.
    Check,
    /// The answer; the admission is spent.
    Done(T),
}

enum Phase {
    /// Waiting for state that may be used.
    Sync(Request),
    /// State may be used: begin the verification.
    Begin(Request),
    /// Signatures handed to the caller.
    Checking(Pending),
    /// The caller's verdicts are in.
    Checked(Pending, Verdicts),
    /// The token names a `kid` the keys lack: ask for a refetch.
    UnknownKid(Request),
    /// Waiting for the refetch run numbered so.
    Keys(Request, u64),
    /// The answer, once any fetch before it has been spawned.
    Answer(Result<Verified, VerifyError>),
    /// Answered.
    Spent,
}

/// One request on its way through a [`Syncer`]: make it with
/// [`Admission::new`], then call [`Syncer::advance`] and do what it says
/// until [`Next::Done`]. `Debug` shows no credential.
pub struct Admission {
    /// When it arrived, for the hard bound; moved to "now" after a wait
    /// for keys (the state's age is judged again from then).
    arrived_ms: u64,
    /// When it arrived, never moved: no wait for keys outlasts
    /// `fail_after` from then.
    since_ms: u64,
    replay: ReplayMode,
    phase: Phase,
    refetched: bool,
    /// Whether an unknown `kid` already waited for a sync in flight.
    waited: bool,
    restarts: u8,
}

impl core::fmt::Debug for Admission {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Admission")
            .field("arrived_ms", &self.arrived_ms)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

impl Admission {
    /// `request`, arrived at `arrived_ms`: the hard bound is measured then.
    /// A token that cannot be a compact JWS is refused at once: it never
    /// waits for a sync, nor is it told the state is stale.
    pub fn new(request: Request, arrived_ms: u64, replay: ReplayMode) -> Self {
        let phase = match crate::jws::check_shape(&request.token) {
            Ok(()) => Phase::Sync(request),
            Err(err) => Phase::Answer(Err(err)),
        };
        Admission {
            arrived_ms,
            since_ms: arrived_ms,
            replay,
            phase,
            refetched: false,
            waited: false,
            restarts: 0,
        }
    }

    /// The signatures to check, after [`Next::Check`].
    pub fn pending(&self) -> Option<&Pending> {
        match &self.phase {
            Phase::Checking(pending) => Some(pending),
            _ => None,
        }
    }

    /// The caller's verdicts on [`Self::pending`]'s signatures.
    pub fn checked(&mut self, verdicts: Verdicts) {
        if let Phase::Checking(pending) = core::mem::replace(&mut self.phase, Phase::Spent) {
            self.phase = Phase::Checked(pending, verdicts);
        }
    }

    fn answer(
        &mut self,
        result: Result<Verified, VerifyError>,
    ) -> Next<Result<Verified, VerifyError>> {
        self.phase = Phase::Spent;
        Next::Done(result)
    }
}

impl Syncer {
    /// The next thing to do for `admission` at `now_ms`.
    pub fn advance(
        &mut self,
        admission: &mut Admission,
        now_ms: u64,
    ) -> Next<Result<Verified, VerifyError>> {
        loop {
            if let Some(next) = self.advance_shared(admission, now_ms) {
                return next;
            }
            match core::mem::replace(&mut admission.phase, Phase::Spent) {
                Phase::Sync(request) => match self.step(now_ms, admission.arrived_ms) {
                    Step::Ready { refresh } => {
                        admission.phase = Phase::Begin(request);
                        if let Some(fetch) = refresh {
                            return Next::Spawn(fetch);
                        }
                    }
                    Step::Fetch(fetch) => {
                        admission.phase = Phase::Sync(request);
                        return Next::Spawn(fetch);
                    }
                    Step::Wait { until_ms } => {
                        admission.phase = Phase::Sync(request);
                        return Next::Sleep {
                            until_ms: until_ms.min(now_ms.saturating_add(POLL_MS)),
                        };
                    }
                    Step::Stale { refresh, .. } => {
                        admission.phase = Phase::Answer(Err(VerifyError::RevocationStateStale));
                        if let Some(fetch) = refresh {
                            return Next::Spawn(fetch);
                        }
                    }
                },
                Phase::UnknownKid(request) => {
                    // A sync in flight may bring the key (a rotation
                    // announced on the feed): wait for it, once.
                    if let Some((number, over_at, _)) = self.current_run(now_ms) {
                        if !admission.waited {
                            admission.waited = true;
                            admission.phase = Phase::Keys(request, number);
                            return Next::Sleep {
                                until_ms: over_at.min(now_ms.saturating_add(POLL_MS)),
                            };
                        }
                    }
                    admission.refetched = true;
                    if let Some(fetch) = self.refetch_keys(now_ms) {
                        let run = self.current_run(now_ms).map_or(0, |(number, ..)| number);
                        admission.phase = Phase::Keys(request, run);
                        return Next::Spawn(fetch);
                    }
                    // Another sync is in flight (one chained after a copy
                    // from before the rotation, say): it fetches the JWKS
                    // before it ends, and this request waits for it.
                    match self.refetch_keys_in_run(now_ms) {
                        Some(run) => admission.phase = Phase::Keys(request, run),
                        None => return admission.answer(Err(VerifyError::UnknownKid)),
                    }
                }
                other => admission.phase = other,
            }
        }
    }

    /// [`Self::advance`] as far as it goes without changing the syncer, so
    /// an adapter that shares it between threads can take a shared lock for
    /// the common case (fresh state, a token to check) and an exclusive one
    /// only for the rest. `None`: call [`Self::advance`].
    pub fn advance_shared(
        &self,
        admission: &mut Admission,
        now_ms: u64,
    ) -> Option<Next<Result<Verified, VerifyError>>> {
        loop {
            match core::mem::replace(&mut admission.phase, Phase::Spent) {
                Phase::Sync(request) if self.is_fresh(now_ms) => {
                    admission.phase = Phase::Begin(request);
                }
                Phase::Begin(request) => match self.begin(request, now_ms) {
                    Begun::Pending(pending)
                        if pending.token_check().is_none() && pending.proof_check().is_none() =>
                    {
                        admission.phase = Phase::Checked(pending, Verdicts::default());
                    }
                    Begun::Pending(pending) => {
                        admission.phase = Phase::Checking(pending);
                        return Some(Next::Check);
                    }
                    Begun::Refused(request, VerifyError::UnknownKid) if !admission.refetched => {
                        admission.phase = Phase::UnknownKid(request);
                        return None;
                    }
                    Begun::Refused(_, err) => return Some(admission.answer(Err(err))),
                },
                Phase::Checking(pending) => {
                    admission.phase = Phase::Checking(pending);
                    return Some(Next::Check);
                }
                Phase::Checked(pending, verdicts) => {
                    match self.finish(pending, verdicts, now_ms, admission.replay) {
                        Finished::Done(result) => return Some(admission.answer(result)),
                        Finished::KeysChanged(request) if admission.restarts < MAX_RESTARTS => {
                            admission.restarts += 1;
                            admission.phase = Phase::Sync(request);
                        }
                        Finished::KeysChanged(_) => {
                            return Some(admission.answer(Err(VerifyError::UnknownKid)));
                        }
                    }
                }
                Phase::Keys(request, run) => match self.current_run(now_ms) {
                    Some((number, over_at, _)) if number == run => {
                        // A run it joined may have started long after it
                        // arrived: it waits no longer than fail_after.
                        let give_up_at = admission
                            .since_ms
                            .saturating_add(self.options.fail_after_ms);
                        if now_ms >= give_up_at {
                            return Some(admission.answer(Err(VerifyError::UnknownKid)));
                        }
                        admission.phase = Phase::Keys(request, run);
                        return Some(Next::Sleep {
                            until_ms: over_at.min(give_up_at).min(now_ms.saturating_add(POLL_MS)),
                        });
                    }
                    // The refetch took time: the state's age is judged
                    // again, from now.
                    _ => {
                        admission.arrived_ms = now_ms;
                        admission.phase = Phase::Sync(request);
                    }
                },
                Phase::Answer(result) => return Some(admission.answer(result)),
                Phase::Spent => {
                    return Some(Next::Done(Err(VerifyError::Malformed(
                        "this request was answered already",
                    ))));
                }
                other => {
                    admission.phase = other;
                    return None;
                }
            }
        }
    }

    /// The next thing to do for `catchup` at `now_ms`.
    pub fn advance_catchup(
        &mut self,
        catchup: &mut Catchup,
        now_ms: u64,
    ) -> Next<Result<(), String>> {
        if let Some(result) = catchup.answer.take() {
            return Next::Done(result);
        }
        match catchup.goal {
            Goal::Usable => match self.step(now_ms, catchup.arrived_ms) {
                Step::Ready { refresh } => catchup.then(Ok(()), refresh),
                Step::Fetch(fetch) => Next::Spawn(fetch),
                Step::Wait { until_ms } => Next::Sleep {
                    until_ms: until_ms.min(now_ms.saturating_add(POLL_MS)),
                },
                Step::Stale { reason, refresh } => catchup.then(Err(reason), refresh),
            },
            Goal::SyncNow => {
                let sleep = |over_at: u64| Next::Sleep {
                    until_ms: over_at.min(now_ms.saturating_add(POLL_MS)),
                };
                let Some(run) = catchup.run else {
                    // Wait out a keys-only refetch: it pulls no feed.
                    match self.current_run(now_ms) {
                        Some((_, over_at, true)) => return sleep(over_at),
                        Some((number, over_at, false)) => {
                            catchup.run = Some(number);
                            return sleep(over_at);
                        }
                        None => {
                            let fetch = self.sync_now(now_ms);
                            catchup.run = self.current_run(now_ms).map(|(number, ..)| number);
                            return fetch.map_or_else(|| sleep(now_ms), Next::Spawn);
                        }
                    }
                };
                match self.current_run(now_ms) {
                    Some((number, over_at, _)) if number == run => sleep(over_at),
                    // Answered for the run it waited on, not for whatever
                    // the state says now.
                    _ if self.last_completed() == run => Next::Done(Ok(())),
                    _ => Next::Done(Err(self
                        .last_error()
                        .unwrap_or("the sync was abandoned before it completed")
                        .to_owned())),
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Goal {
    Usable,
    SyncNow,
}

/// An explicit sync, driven like an [`Admission`] with
/// [`Syncer::advance_catchup`]: [`Catchup::usable`] waits until a token
/// could be checked (the first sync of a verifier that starts up),
/// [`Catchup::sync_now`] pulls the feed now, or waits for the sync in
/// flight, and ends with its result.
#[derive(Debug)]
pub struct Catchup {
    arrived_ms: u64,
    goal: Goal,
    /// The run this catch-up waits for, once it knows.
    run: Option<u64>,
    answer: Option<Result<(), String>>,
}

impl Catchup {
    /// Until the state may be used, by the usual rules, from `now_ms`.
    pub fn usable(now_ms: u64) -> Self {
        Catchup {
            arrived_ms: now_ms,
            goal: Goal::Usable,
            run: None,
            answer: None,
        }
    }

    /// A sync now, whatever the state's age.
    pub fn sync_now(now_ms: u64) -> Self {
        Catchup {
            arrived_ms: now_ms,
            goal: Goal::SyncNow,
            run: None,
            answer: None,
        }
    }

    /// Answers `result`, after spawning `fetch` if there is one.
    fn then(
        &mut self,
        result: Result<(), String>,
        fetch: Option<Fetch>,
    ) -> Next<Result<(), String>> {
        match fetch {
            Some(fetch) => {
                self.answer = Some(result);
                Next::Spawn(fetch)
            }
            None => Next::Done(result),
        }
    }
}
