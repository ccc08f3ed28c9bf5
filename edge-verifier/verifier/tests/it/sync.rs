//! The sync policy as a state machine: driven with a fake clock and scripted
//! issuer answers, every rule of `sync.rs` in isolation. The adapters' own
//! tests then only check their I/O.

use serde_json::json;
use tollgate_verifier::{
    Fetch, FetchKind, Jwks, Outcome, REPORT_GRACE_MS, Request, SHARED_STAMP_AHEAD_MS, Scheme, Step,
    SyncOptions, Syncer, Uuid, VerifierOptions,
};

use crate::support::{AUDIENCE, ISSUER, Keys, NOW, claims_with, ed_token};

pub(crate) const T0: u64 = NOW as u64 * 1000;

pub(crate) fn options() -> SyncOptions {
    let mut options = SyncOptions::new(1000, 3000);
    options.refresh_ahead_ms = 100;
    options.request_timeout_ms = 5000;
    options.retry_after_ms = 500;
    options.jwks_cooldown_ms = 10_000;
    options
}

/// [`options`] with a fail-after far past one fetch's deadline.
pub(crate) fn long_fail_after() -> SyncOptions {
    let mut options = options();
    options.fail_after_ms = 30_000;
    options
}

pub(crate) fn syncer() -> Syncer {
    Syncer::new(options(), VerifierOptions::new(ISSUER, AUDIENCE)).unwrap()
}

pub(crate) fn jwks(keys: &Keys, kids: &[&str]) -> String {
    let jwks = Jwks {
        keys: kids.iter().map(|kid| Keys::ed_jwk(&keys.ed, kid)).collect(),
        ..Jwks::default()
    };
    serde_json::to_string(&jwks).unwrap()
}

pub(crate) fn page(cursor: &str, reset: bool, more: bool, keys: &str, sids: &[Uuid]) -> String {
    let revoked: Vec<_> = sids
        .iter()
        .map(|sid| json!({"sid": sid, "until": NOW + 600}))
        .collect();
    json!({"cursor": cursor, "reset": reset, "more": more, "keys": keys, "revoked": revoked})
        .to_string()
}

pub(crate) fn ok(text: &str) -> Outcome<'_> {
    Outcome::Body {
        text,
        observed_ms: None,
    }
}

pub(crate) fn fetch(step: Step) -> Fetch {
    match step {
        Step::Fetch(fetch) => fetch,
        other => panic!("expected a fetch, got {other:?}"),
    }
}

pub(crate) fn token_for(keys: &Keys, sid: Uuid) -> String {
    ed_token(
        keys,
        &claims_with(|c| {
            c.insert("sid".into(), json!(sid));
        }),
    )
}

pub(crate) fn code(syncer: &Syncer, token: &str, now: u64) -> &'static str {
    match syncer.verify(token, now) {
        Ok(_) => "ok",
        Err(err) => err.code().as_str(),
    }
}

/// A syncer that loaded a snapshot revoking `revoked`, key version "1", at T0.
pub(crate) fn warm(keys: &Keys, revoked: &[Uuid]) -> Syncer {
    warm_with(options(), keys, revoked)
}

/// [`warm`] with these options.
pub(crate) fn warm_with(options: SyncOptions, keys: &Keys, revoked: &[Uuid]) -> Syncer {
    let mut s = Syncer::new(options, VerifierOptions::new(ISSUER, AUDIENCE)).unwrap();
    let feed = fetch(s.step(T0, T0));
    assert_eq!(feed.kind, FetchKind::Feed);
    assert_eq!(feed.path, "/v1/revocations");
    let jwks_fetch = s
        .on_response(feed.id, T0 + 5, ok(&page("a:1", true, false, "1", revoked)))
        .expect("the JWKS comes after the first feed page");
    assert_eq!(jwks_fetch.kind, FetchKind::Jwks);
    assert_eq!(
        s.on_response(jwks_fetch.id, T0 + 10, ok(&jwks(keys, &["ed"]))),
        None
    );
    assert_eq!(s.step(T0 + 10, T0 + 10), Step::Ready { refresh: None });
    s
}

/// The background refresh a warm syncer asks for at `now` (past
/// `refresh_ahead`, before `max_age`).
pub(crate) fn background_refresh(s: &mut Syncer, now: u64) -> Fetch {
    match s.step(now, now) {
        Step::Ready {
            refresh: Some(refresh),
        } => refresh,
        other => panic!("expected a background refresh, got {other:?}"),
    }
}

/// Lets a warm syncer's background refresh (at T0 + 200) bring a feed page
/// that announces key-set `version`; returns the JWKS fetch that follows.
pub(crate) fn announce_keys(s: &mut Syncer, version: &str) -> Fetch {
    let refresh = background_refresh(s, T0 + 200);
    s.on_response(
        refresh.id,
        T0 + 201,
        ok(&page("a:1", false, false, version, &[])),
    )
    .expect("a new key-set version asks for the JWKS")
}

/// A cold syncer accepts nothing, and asks for a snapshot then the JWKS.
#[test]
fn cold_syncer_refuses_until_snapshot_and_jwks_are_loaded() {
    let keys = Keys::new();
    let mut s = syncer();
    let token = token_for(&keys, Uuid::from_u128(1));
    assert_eq!(code(&s, &token, T0), "revocation_state_stale");
    let feed = fetch(s.step(T0, T0));
    assert_eq!(code(&s, &token, T0), "revocation_state_stale");
    let jwks_fetch = s
        .on_response(feed.id, T0 + 1, ok(&page("a:0", true, false, "1", &[])))
        .unwrap();
    assert_eq!(code(&s, &token, T0 + 1), "revocation_state_stale");
    s.on_response(jwks_fetch.id, T0 + 2, ok(&jwks(&keys, &["ed"])));
    assert_eq!(code(&s, &token, T0 + 2), "ok");
}

/// The direct calls refuse what cannot be a token as such, cold or stale,
/// as an admission does: the client's mistake, never stale state.
#[test]
fn direct_calls_refuse_what_cannot_be_a_token_before_the_state() {
    let s = syncer();
    assert_eq!(code(&s, "a.b c.d", T0), "malformed");
    let request = Request {
        scheme: Scheme::Dpop,
        ..Request::bearer("a.b.c\t")
    };
    let refused = s.verify_request(request, T0).unwrap_err();
    assert_eq!(refused.code().as_str(), "malformed");
    assert_eq!(code(&s, &"A.b.c".repeat(2000), T0), "token_too_large");
}

/// A snapshot whose page 2 fails is thrown away: the old set keeps serving.
#[test]
fn failed_snapshot_page_leaves_the_old_set_serving() {
    let keys = Keys::new();
    let revoked = Uuid::from_u128(7);
    let mut s = warm(&keys, &[revoked]);
    let token = token_for(&keys, revoked);
    let now = T0 + 1200;
    let feed = fetch(s.step(now, now));
    // A reset (the database was restored): page 1 lacks `revoked`.
    let next = s
        .on_response(
            feed.id,
            now + 1,
            ok(&page("b:1000", true, true, "1", &[Uuid::from_u128(8)])),
        )
        .unwrap();
    assert_eq!(next.path, "/v1/revocations?since=b%3A1000");
    assert_eq!(
        code(&s, &token, now + 1),
        "revoked",
        "page 1 alone must not replace the set"
    );
    assert_eq!(
        s.on_response(next.id, now + 2, Outcome::Failed("HTTP 500")),
        None
    );
    assert_eq!(code(&s, &token, now + 2), "revoked");
    assert_eq!(
        s.revocations().cursor(),
        Some("a:1"),
        "the next sync starts from the old cursor"
    );
}

/// A snapshot whose page 2 never answers fails at the fetch deadline, when
/// its adapter's timer reports it, and the old set serves meanwhile.
#[test]
fn hanging_snapshot_page_expires_at_its_deadline() {
    let keys = Keys::new();
    let revoked = Uuid::from_u128(7);
    let mut s = warm(&keys, &[revoked]);
    let token = token_for(&keys, revoked);
    let now = T0 + 1200;
    let feed = fetch(s.step(now, now));
    let next = s
        .on_response(feed.id, now + 1, ok(&page("b:1000", true, true, "1", &[])))
        .unwrap();
    assert_eq!(
        next.deadline_ms,
        now + 3000,
        "the run ends fail_after after it started"
    );
    // Waiters wait at most until the state's fail_after.
    assert_eq!(
        s.step(now + 10, now + 10),
        Step::Wait {
            until_ms: T0 + 3000
        }
    );
    assert_eq!(code(&s, &token, now + 10), "revoked");
    assert!(
        matches!(s.step(T0 + 3001, now + 10), Step::Stale { .. }),
        "that waiter is refused when the state it waited with expires"
    );
    assert!(
        matches!(s.step(T0 + 3001, T0 + 3001), Step::Wait { .. }),
        "a request that finds the state expired waits for the sync, as a cold one does"
    );
    // The adapter gives up at the deadline and says so: the fetch is over.
    s.on_response(
        next.id,
        now + 3000,
        Outcome::Failed("no complete answer by the deadline"),
    );
    assert!(!s.in_flight(now + 3001));
    let late = s.on_response(
        next.id,
        now + 3002,
        ok(&page("b:1001", false, false, "1", &[])),
    );
    assert_eq!(late, None, "a late answer is ignored");
    assert_eq!(code(&s, &token, now + 3002), "revocation_state_stale");
}

/// A fetch nobody reports (its adapter dropped it with a request whose
/// client hung up) is abandoned once its deadline and the report grace have
/// passed, and is not taken for an issuer failure: the next request past
/// the hard bound syncs and waits again, rather than being served old state
/// for fail_after.
#[test]
fn a_fetch_nobody_reports_is_abandoned_not_counted_as_a_failure() {
    let keys = Keys::new();
    let revoked = Uuid::from_u128(11);
    let mut s = warm_with(long_fail_after(), &keys, &[]);
    let token = token_for(&keys, revoked);
    let now = T0 + 1200;
    let abandoned = fetch(s.step(now, now));
    let later = abandoned.deadline_ms + REPORT_GRACE_MS;
    assert_eq!(
        s.step(later - 1, later - 1),
        Step::Wait { until_ms: later },
        "waited for until then"
    );
    assert!(!s.in_flight(later));
    let retry = fetch(s.step(later, later));
    assert_eq!(retry.kind, FetchKind::Feed);
    assert!(!retry.background, "a request waits for it");
    assert_eq!(
        s.status(later).last_error,
        None,
        "nothing is said of the issuer"
    );
    assert_eq!(
        s.on_response(
            abandoned.id,
            later + 1,
            ok(&page("a:2", false, false, "1", &[revoked]))
        ),
        None,
        "the abandoned fetch's answer is not wanted any more"
    );
    assert_eq!(code(&s, &token, later + 1), "ok", "nor applied");
    s.on_response(
        retry.id,
        later + 2,
        ok(&page("a:2", false, false, "1", &[revoked])),
    );
    assert_eq!(code(&s, &token, later + 3), "revoked");
}

/// An answer its adapter reports after the fetch's deadline (a timer that
/// fired late) counts as a failure, and is not applied.
#[test]
fn an_answer_reported_after_its_deadline_is_a_failure() {
    let keys = Keys::new();
    let mut s = warm_with(long_fail_after(), &keys, &[]);
    let now = T0 + 1200;
    let feed = fetch(s.step(now, now));
    let late = feed.deadline_ms + 1;
    assert_eq!(
        s.on_response(feed.id, late, ok(&page("a:2", false, false, "1", &[]))),
        None
    );
    assert!(s.status(late).last_error.is_some());
    assert!(
        matches!(s.step(late + 1, late + 1), Step::Ready { .. }),
        "the issuer counts as slow: the last state serves without waiting"
    );
}

/// A snapshot is swapped in whole once its last page arrives.
#[test]
fn complete_snapshot_replaces_the_set() {
    let keys = Keys::new();
    let (gone, kept) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let mut s = warm(&keys, &[gone]);
    let now = T0 + 1200;
    let feed = fetch(s.step(now, now));
    let next = s
        .on_response(feed.id, now + 1, ok(&page("b:1", true, true, "1", &[])))
        .unwrap();
    assert_eq!(
        s.on_response(
            next.id,
            now + 2,
            ok(&page("b:2", false, false, "1", &[kept]))
        ),
        None
    );
    assert_eq!(code(&s, &token_for(&keys, gone), now + 3), "ok");
    assert_eq!(code(&s, &token_for(&keys, kept), now + 3), "revoked");
    assert_eq!(
        s.status(now + 3).age_ms,
        Some(3),
        "the age counts from the sync's start"
    );
}

/// Delta pages are applied as they come: they only add revocations.
#[test]
fn delta_pages_apply_at_once() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let revoked = Uuid::from_u128(3);
    let now = T0 + 1200;
    let feed = fetch(s.step(now, now));
    assert_eq!(feed.path, "/v1/revocations?since=a%3A1");
    let next = s
        .on_response(
            feed.id,
            now + 1,
            ok(&page("a:2", false, true, "1", &[revoked])),
        )
        .unwrap();
    s.on_response(next.id, now + 2, Outcome::Failed("reset"));
    assert_eq!(code(&s, &token_for(&keys, revoked), now + 3), "revoked");
}

/// Past the soft bound a request is served and starts one background refresh.
#[test]
fn refresh_ahead_serves_at_once_with_one_background_fetch() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    assert!(s.is_fresh(T0 + 100));
    assert!(!s.is_fresh(T0 + 101));
    let refresh = background_refresh(&mut s, T0 + 101);
    assert_eq!(
        s.step(T0 + 102, T0 + 102),
        Step::Ready { refresh: None },
        "one at a time"
    );
    s.on_response(
        refresh.id,
        T0 + 150,
        ok(&page("a:1", false, false, "1", &[])),
    );
    assert!(s.is_fresh(T0 + 150));
    assert_eq!(s.status(T0 + 150).age_ms, Some(49));
}

/// Past the hard bound requests wait for the one sync, at most to its
/// deadline, and a sync that started after a request arrived satisfies it
/// even with a zero max age.
#[test]
fn past_max_age_one_request_fetches_and_the_others_wait() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let now = T0 + 1500;
    let feed = fetch(s.step(now, now));
    assert_eq!(
        s.step(now + 1, now + 1),
        Step::Wait {
            until_ms: T0 + 3000
        }
    );
    s.on_response(feed.id, now + 20, ok(&page("a:1", false, false, "1", &[])));
    assert_eq!(s.step(now + 21, now + 1), Step::Ready { refresh: None });

    let mut options = options();
    (options.max_age_ms, options.refresh_ahead_ms) = (0, 0);
    let mut s = Syncer::new(options, VerifierOptions::new(ISSUER, AUDIENCE)).unwrap();
    let feed = fetch(s.step(T0, T0));
    let jwks_fetch = s
        .on_response(feed.id, T0 + 5, ok(&page("a:1", true, false, "1", &[])))
        .unwrap();
    assert_eq!(
        s.step(T0 + 6, T0 + 1),
        Step::Wait {
            until_ms: T0 + 1 + 3000
        },
        "cold: waited for until its deadline and the report grace, \
         but never past fail_after from its arrival"
    );
    s.on_response(jwks_fetch.id, T0 + 9, ok(&jwks(&keys, &["ed"])));
    assert!(
        matches!(s.step(T0 + 10, T0), Step::Ready { .. }),
        "arrived when the sync started"
    );
    assert!(
        matches!(s.step(T0 + 10, T0 + 1), Step::Wait { .. }),
        "arrived after it started"
    );
}

/// Once a sync has failed, requests are served from the last state without
/// waiting, retries run in the background, and past fail_after it is 503.
#[test]
fn unreachable_issuer_serves_stale_then_fails_closed_then_recovers() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let token = token_for(&keys, Uuid::from_u128(9));
    let feed = fetch(s.step(T0 + 1100, T0 + 1100));
    s.on_response(feed.id, T0 + 1101, Outcome::Failed("connection refused"));
    assert_eq!(
        s.step(T0 + 1200, T0 + 1200),
        Step::Ready { refresh: None },
        "backing off"
    );
    assert_eq!(code(&s, &token, T0 + 1200), "ok");
    let Step::Ready {
        refresh: Some(retry),
    } = s.step(T0 + 1601, T0 + 1601)
    else {
        panic!("a retry after retry_after");
    };
    s.on_response(retry.id, T0 + 1602, Outcome::Failed("connection refused"));
    let Step::Stale {
        refresh: Some(retry),
        ..
    } = s.step(T0 + 3101, T0 + 3101)
    else {
        panic!("past fail_after: stale, with a retry");
    };
    assert_eq!(code(&s, &token, T0 + 3101), "revocation_state_stale");
    s.on_response(
        retry.id,
        T0 + 3105,
        ok(&page("a:1", false, false, "1", &[])),
    );
    assert_eq!(s.step(T0 + 3106, T0 + 3106), Step::Ready { refresh: None });
    assert_eq!(code(&s, &token, T0 + 3106), "ok");
}

/// A cold syncer's first fetch is bounded by fail_after, not just the
/// timeout: its adapter reports it failed then, and the request is stale.
#[test]
fn cold_fetch_budget_respects_fail_after() {
    let mut s = syncer();
    let feed = fetch(s.step(T0, T0));
    assert_eq!(feed.deadline_ms, T0 + 3000);
    assert_eq!(
        s.step(T0 + 1, T0 + 1),
        Step::Wait {
            until_ms: T0 + 1 + 3000
        },
        "never past fail_after from the request's arrival"
    );
    s.on_response(
        feed.id,
        T0 + 3000,
        Outcome::Failed("no answer by the deadline"),
    );
    assert!(matches!(
        s.step(T0 + 3001, T0 + 3001),
        Step::Stale { refresh: None, .. }
    ));
}

/// A new key-set version blocks acceptance until the JWKS is loaded, and a
/// withdrawn key stops verifying.
#[test]
fn new_key_version_refetches_the_jwks_before_any_token_is_accepted() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let token = token_for(&keys, Uuid::from_u128(4));
    let jwks_fetch = announce_keys(&mut s, "2");
    assert_eq!(jwks_fetch.kind, FetchKind::Jwks);
    assert!(
        matches!(s.step(T0 + 202, T0 + 202), Step::Wait { .. }),
        "no token while keys are pending"
    );
    s.on_response(jwks_fetch.id, T0 + 203, ok(&jwks(&keys, &["other"])));
    assert_eq!(s.step(T0 + 204, T0 + 204), Step::Ready { refresh: None });
    assert_eq!(code(&s, &token, T0 + 204), "unknown_kid");
}

/// Refetching keys on an unknown kid is rate-limited from the moment it
/// starts, so a failed refetch counts too.
#[test]
fn unknown_kid_refetch_cooldown_starts_with_the_fetch() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let refetch = s.refetch_keys(T0 + 20).unwrap();
    s.on_response(refetch.id, T0 + 21, Outcome::Failed("HTTP 500"));
    assert_eq!(s.refetch_keys(T0 + 30), None);
    assert_eq!(s.refetch_keys(T0 + 10_019), None);
    assert!(s.refetch_keys(T0 + 10_020).is_some());
    assert_eq!(
        s.step(T0 + 30, T0 + 30),
        Step::Ready { refresh: None },
        "a failed key refetch is no failed sync"
    );
}

/// A shared copy counts from when it was observed, and never moves the
/// state's age backwards.
#[test]
fn shared_answers_count_from_when_they_were_observed() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let refresh = background_refresh(&mut s, T0 + 300);
    assert_eq!(refresh.shared_fresh_ms, Some(T0 + 200));
    assert_eq!(refresh.shared_useful_ms, Some(T0 + 1));
    let shared = Outcome::Body {
        text: &page("a:1", false, false, "1", &[]),
        observed_ms: Some(T0 + 250),
    };
    s.on_response(refresh.id, T0 + 301, shared);
    assert_eq!(s.status(T0 + 301).age_ms, Some(51));
}

/// A shared copy stamped by a clock that runs ahead is not taken: its
/// state would count as fresh for as long as the copy stays cached,
/// whatever the age of its data. The same page is asked of the issuer
/// instead, in the same run; a copy within the allowance is taken.
#[test]
fn a_shared_copy_stamped_in_the_future_is_asked_of_the_issuer_instead() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let refresh = background_refresh(&mut s, T0 + 300);
    let ahead = Outcome::Body {
        text: &page("a:1", false, false, "1", &[]),
        observed_ms: Some(T0 + 301 + SHARED_STAMP_AHEAD_MS + 1),
    };
    let again = s
        .on_response(refresh.id, T0 + 301, ahead)
        .expect("the issuer is asked instead");
    assert_eq!((again.kind, &again.path), (FetchKind::Feed, &refresh.path));
    assert_eq!(
        (again.shared_fresh_ms, again.shared_useful_ms),
        (None, None)
    );
    assert_eq!(s.status(T0 + 301).age_ms, Some(301), "the copy was taken");
    let sid = Uuid::from_u128(51);
    assert_eq!(
        s.on_response(
            again.id,
            T0 + 320,
            ok(&page("a:2", false, false, "1", &[sid]))
        ),
        None
    );
    // Counted from the run's start, as any issuer answer.
    assert_eq!(s.status(T0 + 320).age_ms, Some(20));
    assert_eq!(code(&s, &token_for(&keys, sid), T0 + 320), "revoked");

    let refresh = background_refresh(&mut s, T0 + 500);
    let within = Outcome::Body {
        text: &page("a:2", false, false, "1", &[]),
        observed_ms: Some(T0 + 500 + SHARED_STAMP_AHEAD_MS),
    };
    assert_eq!(s.on_response(refresh.id, T0 + 500, within), None);
    assert_eq!(s.status(T0 + 500).age_ms, Some(0));
}

/// Settings that would fail open are refused.
#[test]
fn settings_that_fail_open_are_refused() {
    let mut bad = options();
    bad.max_age_ms = 5000;
    assert!(Syncer::new(bad, VerifierOptions::new(ISSUER, AUDIENCE)).is_err());
    let mut bad = options();
    bad.fail_after_ms = 0;
    bad.max_age_ms = 0;
    bad.refresh_ahead_ms = 0;
    assert!(Syncer::new(bad, VerifierOptions::new(ISSUER, AUDIENCE)).is_err());
    let mut lenient = VerifierOptions::new(ISSUER, AUDIENCE);
    lenient.leeway_secs = u32::MAX;
    assert!(Syncer::new(options(), lenient).is_err());
    assert!(tollgate_verifier::check_leeway(-1).is_err());
    assert_eq!(tollgate_verifier::check_leeway(30), Ok(30));
}

/// A JWKS that names a key-set version older than the one the feed
/// announced (a cached copy, a lagging replica) is not trusted: the run
/// fails, and the withdrawn key's tokens are never accepted meanwhile.
#[test]
fn a_jwks_older_than_the_announced_version_is_refused() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let token = token_for(&keys, Uuid::from_u128(4));
    let jwks_fetch = announce_keys(&mut s, "7");
    let stale_jwks =
        json!({"keys": [Keys::ed_jwk(&keys.ed, "ed")], "keys_version": "6"}).to_string();
    assert_eq!(
        s.on_response(jwks_fetch.id, T0 + 202, ok(&stale_jwks)),
        None
    );
    assert!(s.status(T0 + 202).last_error.unwrap().contains("older"));
    assert!(
        matches!(s.step(T0 + 203, T0 + 203), Step::Stale { .. }),
        "keys announced and not loaded: fail closed, do not serve"
    );
    assert_eq!(
        code(&s, &token, T0 + 203),
        "ok",
        "verify alone does not know; step decides"
    );
    let current =
        json!({"keys": [Keys::ed_jwk(&keys.ed, "other")], "keys_version": "8"}).to_string();
    let retry = s.sync_now(T0 + 800).unwrap();
    let jwks_fetch = s
        .on_response(retry.id, T0 + 801, ok(&page("a:1", false, false, "7", &[])))
        .unwrap();
    s.on_response(jwks_fetch.id, T0 + 802, ok(&current));
    assert_eq!(
        s.step(T0 + 803, T0 + 803),
        Step::Ready { refresh: None },
        "newer than announced is fine"
    );
    assert_eq!(code(&s, &token, T0 + 803), "unknown_kid");
}

/// A feed page announcing an older key-set version than the one loaded (a
/// shared copy from before a withdrawal) never brings a withdrawn key back:
/// it announces nothing pending, and a JWKS at that older version (a
/// lagging replica) is refused even though it matches the announcement.
#[test]
fn an_older_announcement_never_brings_a_withdrawn_key_back() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let token = token_for(&keys, Uuid::from_u128(4));
    // Key "ed" is withdrawn at version 3.
    let jwks_fetch = announce_keys(&mut s, "3");
    let withdrawn =
        json!({"keys": [Keys::ed_jwk(&keys.ed, "other")], "keys_version": "3"}).to_string();
    s.on_response(jwks_fetch.id, T0 + 202, ok(&withdrawn));
    assert_eq!(code(&s, &token, T0 + 203), "unknown_kid");
    // An old shared copy of the feed announces version 2.
    let refresh = s.sync_now(T0 + 400).unwrap();
    let next = s.on_response(
        refresh.id,
        T0 + 401,
        ok(&page("a:1", false, false, "2", &[])),
    );
    if let Some(jwks_fetch) = next {
        // Were a JWKS asked for, a lagging copy at version 2 still has "ed".
        let lagging =
            json!({"keys": [Keys::ed_jwk(&keys.ed, "ed")], "keys_version": "2"}).to_string();
        s.on_response(jwks_fetch.id, T0 + 402, ok(&lagging));
    }
    assert_eq!(
        code(&s, &token, T0 + 403),
        "unknown_kid",
        "the withdrawn key is back"
    );
    assert!(
        matches!(s.step(T0 + 403, T0 + 403), Step::Ready { .. }),
        "nothing is pending"
    );
    // Nor does a keys-only refetch take a JWKS older than the loaded one.
    let made_up = s.refetch_keys(T0 + 500).unwrap();
    let lagging = json!({"keys": [Keys::ed_jwk(&keys.ed, "ed")], "keys_version": "2"}).to_string();
    s.on_response(made_up.id, T0 + 501, ok(&lagging));
    assert_eq!(code(&s, &token, T0 + 502), "unknown_kid");
}

/// However many pages an issuer hands out (`more: true` for ever), no fetch
/// of one run ends later than the run's start plus fail_after, and nobody
/// waits longer.
#[test]
fn one_run_never_outlives_fail_after() {
    let mut s = syncer();
    let mut fetch = fetch(s.step(T0, T0));
    let mut now = T0;
    for n in 1..10 {
        now += 1000;
        match s.on_response(
            fetch.id,
            now,
            ok(&page(&format!("a:{n}"), n == 1, true, "1", &[])),
        ) {
            Some(next) => {
                assert!(
                    next.deadline_ms <= T0 + 3000,
                    "deadline {} past the run's end",
                    next.deadline_ms
                );
                fetch = next;
            }
            None => break,
        }
        let step = s.step(now, now);
        assert!(
            matches!(step, Step::Wait { until_ms } if until_ms <= T0 + 3000 + REPORT_GRACE_MS)
                || matches!(step, Step::Stale { .. }),
            "{step:?}"
        );
    }
    assert!(matches!(s.step(T0 + 3001, T0 + 3001), Step::Stale { .. }));
}

/// A wall clock stepped back (NTP, a restored VM) does not make old state
/// look fresh for the size of the step, nor leave a fetch "in flight" until
/// the clock catches up.
#[test]
fn a_clock_stepped_back_does_not_freeze_the_state() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let token = token_for(&keys, Uuid::from_u128(4));
    let back = T0 - 600_000;
    assert!(!s.is_fresh(back));
    assert_eq!(code(&s, &token, back), "revocation_state_stale");
    let feed = fetch(s.step(back, back));
    s.on_response(feed.id, back + 5, ok(&page("a:1", false, false, "1", &[])));
    assert!(
        s.is_fresh(back + 6),
        "a sync at the new time makes it fresh again"
    );

    let mut s = warm(&keys, &[]);
    let feed = fetch(s.step(T0 + 1500, T0 + 1500));
    assert!(
        !s.in_flight(back),
        "a fetch started 'in the future' is over"
    );
    let _ = feed;
}

/// A verifier that catches up through an old shared copy goes on at once
/// to the copy's cursor, and stops when its data is fresh (or after a few).
#[test]
fn an_old_shared_copy_is_followed_by_the_next_fetch_at_once() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let refresh = background_refresh(&mut s, T0 + 500);
    let old = Outcome::Body {
        text: &page("a:2", false, false, "1", &[Uuid::from_u128(1)]),
        observed_ms: Some(T0 + 100),
    };
    let next = s.on_response(refresh.id, T0 + 501, old).expect("chained");
    assert_eq!(next.path, "/v1/revocations?since=a%3A2");
    assert_eq!(
        s.status(T0 + 501).age_ms,
        Some(401),
        "the state moved to the copy's time"
    );
    let fresh = Outcome::Body {
        text: &page("a:3", false, false, "1", &[]),
        observed_ms: Some(T0 + 480),
    };
    assert_eq!(
        s.on_response(next.id, T0 + 502, fresh),
        None,
        "fresh: no more"
    );
    // An issuer answer that is slow to come never chains: only shared copies do.
    let feed = fetch(s.step(T0 + 2000, T0 + 2000));
    assert_eq!(
        s.on_response(feed.id, T0 + 2400, ok(&page("a:3", false, false, "1", &[]))),
        None
    );
}

/// A request that outwaited a slow key refetch is satisfied by the first
/// feed sync that started after it arrived, even when that sync took longer
/// than the soft bound: it must not fetch again and again while the issuer
/// stays slow (it used to: a sync more than a second "newer" than the
/// arrival counted as infinitely old).
#[test]
fn a_request_that_outwaited_a_slow_refetch_ends_with_the_next_sync() {
    let keys = Keys::new();
    // A fail-after long enough that the request may wait out the refetch.
    let mut s = warm_with(long_fail_after(), &keys, &[]);
    let refetch = s.refetch_keys(T0 + 900).unwrap();
    let arrived = T0 + 1500;
    assert!(matches!(s.step(arrived, arrived), Step::Wait { .. }));
    // The refetch never answers; at its deadline its adapter says so, and
    // the request pulls the feed.
    s.on_response(
        refetch.id,
        T0 + 5900,
        Outcome::Failed("no answer by the deadline"),
    );
    let feed = fetch(s.step(T0 + 5900, arrived));
    // A slow issuer: 600 ms, past the 100 ms soft bound.
    s.on_response(feed.id, T0 + 6500, ok(&page("a:1", false, false, "1", &[])));
    assert!(
        matches!(s.step(T0 + 6500, arrived), Step::Ready { .. }),
        "the sync that started after the request arrived satisfies it"
    );
}

/// A waiting request never waits longer than fail_after from its arrival,
/// even on state that is cold or already expired and fetches that keep
/// being abandoned.
#[test]
fn no_request_waits_past_fail_after_from_its_arrival() {
    let mut s = syncer();
    let arrived = T0;
    let mut now = arrived;
    let mut spawned = 0;
    loop {
        match s.step(now, arrived) {
            Step::Fetch(fetch) => {
                spawned += 1;
                // Nobody reports it: step past its deadline and the grace.
                now = fetch.deadline_ms + REPORT_GRACE_MS;
            }
            Step::Wait { until_ms } => {
                assert!(until_ms <= arrived + 3000, "told to wait until {until_ms}");
                now = until_ms;
            }
            Step::Stale { .. } => break,
            Step::Ready { .. } => panic!("nothing was ever loaded"),
        }
        assert!(
            now <= arrived + 3000 + REPORT_GRACE_MS,
            "still waiting at {now}"
        );
    }
    assert!(spawned >= 1);
}

/// A feed page announcing an older key-set version than one announced
/// before (a shared copy from earlier) does not clear the newer, pending
/// announcement.
#[test]
fn an_older_announcement_does_not_clear_a_newer_pending_one() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let jwks_fetch = announce_keys(&mut s, "5");
    // The JWKS fetch fails: version 5 stays announced and not loaded.
    s.on_response(jwks_fetch.id, T0 + 202, Outcome::Failed("HTTP 500"));
    let refresh = s.sync_now(T0 + 300).unwrap();
    // The old copy announces the version already loaded.
    let next = s.on_response(
        refresh.id,
        T0 + 301,
        ok(&page("a:1", false, false, "1", &[])),
    );
    assert!(
        next.is_some(),
        "version 5 is still pending: the JWKS is asked for again"
    );
}
