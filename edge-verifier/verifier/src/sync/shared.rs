//! Sharing feed answers between verifiers (the edge's data-center cache),
//! decided here; the adapter only reads and writes its cache, sleeps and
//! fetches.
//!
//! What is shared is the issuer's answer to one exact request (the feed
//! path with its cursor), stamped with when it was fetched. A [`Fetch`]
//! says which copies its [`Syncer`](crate::Syncer) may use
//! (`shared_fresh_ms`, `shared_useful_ms`), and the syncer counts the
//! state's age from the stamp. To keep one issuer fetch per data center
//! rather than one per verifier whose state turned old in the same
//! instant, the verifier that goes to the issuer first leaves a short lease
//! in the cache; others that see it wait for its answer instead of
//! fetching too. [`SharedLook`] decides, look by look, whether to take the
//! cached copy, wait on a lease, or fetch; [`replaces`] whether an answer
//! may be put over the cached one.

use super::fetch::Fetch;

/// How far ahead of a verifier's clock a shared copy's stamp may lie. A copy
/// is stamped by the clock of the verifier that fetched it, and clocks
/// within one data center agree to well within this; one stamped further
/// ahead comes from a clock that runs ahead. Taken, it would count as
/// fresh for as long as it stays cached (the state's age counts from no
/// later than the run's start), whatever the age of its data, and a
/// revoked token would pass past the bound.
pub const SHARED_STAMP_AHEAD_MS: u64 = 50;

/// How long a lease holds other verifiers back, at most: a little more
/// than a far issuer's round trip. A lease whose answer has landed holds
/// nobody.
pub const LEASE_MS: u64 = 300;

/// Leases taken this close after an answer's fetch started are one race
/// (verifiers that each missed the other's lease, a cache write or two
/// apart): that answer serves those waiting on them. It may be the older
/// one, put last; waiting out the newer lease for an answer at most this
/// much fresher would stall every waiter for the lease's life.
pub const RACE_MS: u64 = 50;

/// The longest a background fetch waits before its first look: verifiers
/// that took the same copy go stale at the same instant, and without it
/// they would all miss the cache, find no lease and fetch together before
/// any lease is visible.
pub const STAGGER_MS: u64 = 40;

/// How often a verifier waiting on another's lease looks at the cache
/// again (and waits before putting an answer the cache refused).
pub const LEASE_POLL_MS: u64 = 10;

/// How long the cache keeps a shared answer (its `Cache-Control: max-age`):
/// it only bounds storage, the stamp says how old a copy is.
pub const SHARED_MAX_AGE_SECS: u64 = 5;

/// How many times an answer is put before it is given up on (a cache that
/// refuses a put, such as a local stand-in's busy storage, gets one more).
pub const SHARE_ATTEMPTS: usize = 2;

/// Whether a shared copy stamped `observed_ms` may be used at `now_ms`:
/// not one from the future (see [`SHARED_STAMP_AHEAD_MS`]). Such a copy is
/// a miss, [`replaces`] lets any answer replace it, and the
/// [`Syncer`](crate::Syncer) asks the issuer rather than take one.
pub fn believable_stamp(observed_ms: u64, now_ms: u64) -> bool {
    observed_ms <= now_ms.saturating_add(SHARED_STAMP_AHEAD_MS)
}

/// Whether an answer fetched at `started` may be put over the cached copy
/// stamped `cached` (`None`: nothing is cached). A newer copy stays: a slow
/// fetch whose lease expired must not overwrite the answer of the verifier
/// that fetched after it, or the others would take the older copy for
/// stale and wait on that newer lease, whose answer is gone, until it
/// expired. A newer lease alone holds nothing back: that fetch may fail.
pub fn replaces(cached: Option<u64>, started: u64, now_ms: u64) -> bool {
    cached.is_none_or(|at| at <= started || !believable_stamp(at, now_ms))
}

/// What an adapter does after a look at the shared cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Answer the fetch with the cached copy, and its stamp.
    Take,
    /// Sleep a moment, then look again: another verifier's fetch is on its way.
    Wait,
    /// Fetch from the issuer, after leaving a lease stamped now.
    Fetch,
}

/// One fetch's looks at the shared cache.
#[derive(Debug, Clone)]
pub struct SharedLook {
    fresh: u64,
    useful: u64,
    background: bool,
    deadline: u64,
    /// Waiting ends here, however a lease is stamped: a lease's life from
    /// the first look that found one.
    wait_until: Option<u64>,
    /// The lease this fetch waited on.
    waiting_on: Option<u64>,
}

impl SharedLook {
    /// The looks of `fetch`; `None` if it takes no shared copy (ask the issuer).
    pub fn new(fetch: &Fetch) -> Option<Self> {
        Some(SharedLook {
            fresh: fetch.shared_fresh_ms?,
            useful: fetch.shared_useful_ms?,
            background: fetch.background,
            deadline: fetch.deadline_ms,
            wait_until: None,
            waiting_on: None,
        })
    }

    /// How long to wait before the first look, given a random number in
    /// `[0, 1)`: up to [`STAGGER_MS`] for a background fetch, none for one
    /// a request waits on.
    pub fn stagger_ms(&self, random: f64) -> u64 {
        if !self.background {
            return 0;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let wait = (random.clamp(0.0, 1.0) * STAGGER_MS as f64) as u64;
        wait
    }

    /// Whether the cached copy stamped `copy` answers the fetch at once:
    /// fresh enough, or the answer of the lease this fetch waited on,
    /// stamped when that fetch started (so a little older than asked; the
    /// syncer counts the state's age from the stamp). Never a copy from the
    /// future. If not, look at the lease and ask [`Self::after_lease`].
    pub fn takes(&self, copy: u64, now_ms: u64) -> bool {
        believable_stamp(copy, now_ms)
            && (copy >= self.fresh
                || self
                    .waiting_on
                    .is_some_and(|lease| copy.saturating_add(RACE_MS) >= lease))
    }

    /// What to do, the cached copy (if any) not taken by [`Self::takes`],
    /// given the stamp of the lease on it (if any): wait while a lease's
    /// answer has not landed, no longer than a lease lives nor past the
    /// fetch's deadline; else take a copy older than fresh but newer than
    /// the state (it moves the state forward, and the syncer asks again at
    /// once from its cursor); else fetch.
    pub fn after_lease(&mut self, copy: Option<u64>, lease: Option<u64>, now_ms: u64) -> Look {
        let copy = copy.filter(|&stamp| believable_stamp(stamp, now_ms));
        let wait_until = *self
            .wait_until
            .get_or_insert(now_ms.saturating_add(LEASE_MS).min(self.deadline));
        // A lease stamped further ahead than a lease lives comes from a
        // clock that runs ahead, and holds nobody.
        let pending = lease.filter(|&taken| {
            let live = now_ms < taken.saturating_add(LEASE_MS).min(wait_until)
                && taken <= now_ms.saturating_add(LEASE_MS);
            let unanswered = copy.is_none_or(|stamp| stamp.saturating_add(RACE_MS) < taken);
            live && unanswered
        });
        if let Some(taken) = pending {
            self.waiting_on = Some(taken);
            return Look::Wait;
        }
        if copy.is_some_and(|stamp| stamp >= self.useful) {
            Look::Take
        } else {
            Look::Fetch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;

    fn look(fresh: u64, useful: u64) -> SharedLook {
        SharedLook {
            fresh,
            useful,
            background: true,
            deadline: NOW + 5000,
            wait_until: None,
            waiting_on: None,
        }
    }

    /// A fresh copy is taken; one from the future never is, however fresh.
    #[test]
    fn takes_fresh_copies_not_future_ones() {
        let l = look(NOW - 100, NOW - 900);
        assert!(l.takes(NOW - 100, NOW));
        assert!(!l.takes(NOW - 101, NOW));
        assert!(l.takes(NOW + SHARED_STAMP_AHEAD_MS, NOW));
        assert!(!l.takes(NOW + SHARED_STAMP_AHEAD_MS + 1, NOW));
    }

    /// A live lease whose answer has not landed holds the fetch; its
    /// answer, stamped up to `RACE_MS` before it, is then taken.
    #[test]
    fn waits_on_a_live_lease_and_takes_its_answer() {
        // Only the lease makes these copies wanted: none is fresh.
        let mut l = look(NOW - 40, NOW - 2000);
        assert!(!l.takes(NOW - 10 - RACE_MS, NOW));
        assert_eq!(
            l.after_lease(Some(NOW - 1500), Some(NOW - 10), NOW),
            Look::Wait
        );
        assert!(l.takes(NOW - 10 - RACE_MS, NOW + 20));
        assert!(!l.takes(NOW - 11 - RACE_MS, NOW + 20));
    }

    /// A lease answered (its copy stamped at or after it, within the race),
    /// expired, or stamped further ahead than a lease lives holds nobody.
    #[test]
    fn answered_expired_and_future_leases_hold_nobody() {
        let mut l = look(NOW - 100, NOW - 900);
        assert_eq!(
            l.after_lease(Some(NOW - 200), Some(NOW - 240), NOW),
            Look::Take
        );
        let mut l = look(NOW - 100, NOW - 900);
        assert_eq!(l.after_lease(None, Some(NOW - LEASE_MS), NOW), Look::Fetch);
        let mut l = look(NOW - 100, NOW - 900);
        assert_eq!(
            l.after_lease(None, Some(NOW + LEASE_MS + 1), NOW),
            Look::Fetch
        );
    }

    /// However the lease is stamped, waiting ends a lease's life after the
    /// first look that found one, or at the fetch's deadline.
    #[test]
    fn no_wait_outlasts_a_lease_or_the_deadline() {
        let mut l = look(NOW - 100, NOW - 900);
        let lease = Some(NOW + LEASE_MS);
        assert_eq!(l.after_lease(None, lease, NOW), Look::Wait);
        assert_eq!(l.after_lease(None, lease, NOW + LEASE_MS - 1), Look::Wait);
        assert_eq!(l.after_lease(None, lease, NOW + LEASE_MS), Look::Fetch);
        let mut l = look(NOW - 100, NOW - 900);
        l.deadline = NOW + 20;
        assert_eq!(l.after_lease(None, Some(NOW), NOW + 20), Look::Fetch);
    }

    /// Without a live lease: a copy newer than the state is taken, an
    /// older one or one from the future is a miss.
    #[test]
    fn a_useful_copy_is_taken_an_older_or_future_one_is_not() {
        let mut l = look(NOW - 100, NOW - 900);
        assert_eq!(l.after_lease(Some(NOW - 900), None, NOW), Look::Take);
        assert_eq!(l.after_lease(Some(NOW - 901), None, NOW), Look::Fetch);
        assert_eq!(l.after_lease(Some(NOW + 1000), None, NOW), Look::Fetch);
    }

    /// An answer replaces an older copy, or one from the future; never a
    /// newer one.
    #[test]
    fn an_answer_replaces_older_and_future_copies_only() {
        assert!(replaces(None, NOW, NOW));
        assert!(replaces(Some(NOW - 1), NOW, NOW + 10));
        assert!(!replaces(Some(NOW + 5), NOW, NOW + 10));
        assert!(replaces(Some(NOW + 10_000), NOW, NOW + 10));
    }

    /// Only a background fetch staggers its first look, by at most
    /// `STAGGER_MS`.
    #[test]
    fn only_background_fetches_stagger() {
        let l = look(0, 0);
        assert_eq!(l.stagger_ms(0.999), STAGGER_MS - 1);
        assert_eq!(l.stagger_ms(7.0), STAGGER_MS);
        let waited_on = SharedLook {
            background: false,
            ..l
        };
        assert_eq!(waited_on.stagger_ms(0.5), 0);
    }
}
