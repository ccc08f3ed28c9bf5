//! One request's way through the syncer ([`Admission`]) and explicit syncs
//! ([`Catchup`]), driven with a fake clock: every decision an adapter used
//! to make for itself (the fast path, spawning the sync, waiting, the
//! unknown-`kid` refetch and retry, beginning again after a key change) is
//! the machine's, and the adapter only does what [`Next`] says.

use tollgate_verifier::{
    Admission, Catchup, Fetch, FetchKind, Next, Outcome, POLL_MS, REPORT_GRACE_MS, ReplayMode,
    Request, Step, Syncer, Uuid, Verdicts, Verified, VerifyError,
};

use crate::support::{Keys, Sign, claims, forge, header};
use crate::sync::{T0, jwks, long_fail_after, ok, page, syncer, token_for, warm, warm_with};

type Answer = Result<Verified, VerifyError>;

fn admit(token: &str, now: u64) -> Admission {
    Admission::new(Request::bearer(token), now, ReplayMode::Record)
}

/// Advances, checking signatures natively whenever asked, until the machine
/// says something else than "check" (or answers).
fn advance(s: &mut Syncer, a: &mut Admission, now: u64) -> Next<Answer> {
    loop {
        match s.advance(a, now) {
            Next::Check => {
                let verdicts =
                    Verdicts::native(a.pending().expect("a check has something to check"));
                a.checked(verdicts);
            }
            other => return other,
        }
    }
}

fn spawned(next: Next<Answer>) -> Fetch {
    match next {
        Next::Spawn(fetch) => fetch,
        other => panic!("expected a fetch to spawn, got {other:?}"),
    }
}

fn answer(next: Next<Answer>) -> &'static str {
    match next {
        Next::Done(Ok(_)) => "ok",
        Next::Done(Err(err)) => err.code().as_str(),
        other => panic!("expected an answer, got {other:?}"),
    }
}

/// Fresh state: the request is checked at once, and answered.
#[test]
fn on_fresh_state_a_request_is_checked_and_answered_at_once() {
    let keys = Keys::new();
    let revoked = Uuid::from_u128(3);
    let mut s = warm(&keys, &[revoked]);
    let now = T0 + 20;
    let mut a = admit(&token_for(&keys, Uuid::from_u128(4)), now);
    assert!(matches!(s.advance(&mut a, now), Next::Check));
    assert_eq!(answer(advance(&mut s, &mut a, now)), "ok");
    let mut a = admit(&token_for(&keys, revoked), now);
    assert_eq!(answer(advance(&mut s, &mut a, now)), "revoked");
    // Advancing an answered request answers nothing new.
    assert_eq!(answer(s.advance(&mut a, now)), "malformed");
}

/// A token seen before needs no signature check: it is answered without a
/// `Check`, and the shared half answers it without changing the syncer.
#[test]
fn a_cached_token_on_fresh_state_is_answered_without_a_check_or_a_lock() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let token = token_for(&keys, Uuid::from_u128(5));
    let now = T0 + 20;
    assert_eq!(answer(advance(&mut s, &mut admit(&token, now), now)), "ok");
    let mut again = admit(&token, now);
    assert_eq!(answer(s.advance_shared(&mut again, now).unwrap()), "ok");
}

/// Past the hard bound the request spawns the sync, then waits on the
/// machine (polling) until the sync reports; it is then answered against
/// the new state.
#[test]
fn past_max_age_a_request_spawns_the_sync_and_waits_on_the_machine() {
    let keys = Keys::new();
    let revoked = Uuid::from_u128(6);
    let mut s = warm(&keys, &[]);
    let now = T0 + 1500;
    let mut a = admit(&token_for(&keys, revoked), now);
    let feed = spawned(s.advance(&mut a, now));
    assert_eq!(feed.kind, FetchKind::Feed);
    assert!(!feed.background);
    assert!(
        matches!(s.advance(&mut a, now + 1), Next::Sleep { until_ms } if until_ms == now + 1 + POLL_MS),
        "it sleeps a poll step at a time"
    );
    assert!(
        s.advance_shared(&mut a, now + 2).is_none(),
        "waiting needs the machine"
    );
    s.on_response(
        feed.id,
        now + 30,
        ok(&page("a:2", false, false, "1", &[revoked])),
    );
    assert_eq!(answer(advance(&mut s, &mut a, now + 31)), "revoked");
}

/// A request dropped while its sync is in flight (its client hung up)
/// leaves nothing behind: the fetch, run detached, still reports, and the
/// next request finds fresh state.
#[test]
fn a_request_dropped_mid_sync_leaves_nothing_behind() {
    let keys = Keys::new();
    let revoked = Uuid::from_u128(7);
    let mut s = warm(&keys, &[]);
    let now = T0 + 1500;
    let feed = spawned(s.advance(&mut admit(&token_for(&keys, Uuid::from_u128(8)), now), now));
    // The admission is gone; the detached fetch answers 400 ms later.
    s.on_response(
        feed.id,
        now + 400,
        ok(&page("a:2", false, false, "1", &[revoked])),
    );
    let later = now + 401;
    let mut next = admit(&token_for(&keys, revoked), later);
    // Within the hard bound (past the soft one, as the sync took 400 ms):
    // a background refresh, and no wait.
    assert!(spawned(s.advance(&mut next, later)).background);
    assert!(
        matches!(s.advance(&mut next, later), Next::Check),
        "no wait"
    );
    assert_eq!(answer(advance(&mut s, &mut next, later)), "revoked");
}

/// Past the soft bound the request is answered at once and spawns the
/// background refresh first.
#[test]
fn past_the_soft_bound_a_request_spawns_a_background_refresh_and_goes_on() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let now = T0 + 200;
    let mut a = admit(&token_for(&keys, Uuid::from_u128(9)), now);
    let refresh = spawned(s.advance(&mut a, now));
    assert!(refresh.background);
    assert_eq!(answer(advance(&mut s, &mut a, now)), "ok");
}

/// An unknown `kid` has the machine refetch the JWKS (detached), wait for
/// it, and try once more; the next unknown `kid` within the cooldown is
/// refused at once.
#[test]
fn an_unknown_kid_is_refetched_waited_for_and_tried_once_more() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let now = T0 + 20;
    let rotated = forge(&header("EdDSA", "ed2"), &claims(), Sign::Ed(&keys.ed));
    let mut a = admit(&rotated, now);
    let refetch = spawned(s.advance(&mut a, now));
    assert_eq!(refetch.kind, FetchKind::Jwks);
    assert!(matches!(s.advance(&mut a, now + 1), Next::Sleep { .. }));
    s.on_response(refetch.id, now + 40, ok(&jwks(&keys, &["ed", "ed2"])));
    assert_eq!(answer(advance(&mut s, &mut a, now + 41)), "ok");

    let made_up = forge(&header("EdDSA", "nope"), &claims(), Sign::Ed(&keys.ed));
    let mut b = admit(&made_up, now + 50);
    assert_eq!(
        answer(advance(&mut s, &mut b, now + 50)),
        "unknown_kid",
        "cooling down"
    );
}

/// A made-up `kid` whose requester went away: its refetch runs detached and
/// reports, and the run is free again for the next request's sync at once.
#[test]
fn an_abandoned_unknown_kid_refetch_holds_the_run_only_until_it_reports() {
    let keys = Keys::new();
    let mut s = warm_with(long_fail_after(), &keys, &[]);
    let now = T0 + 20;
    let made_up = forge(&header("EdDSA", "nope"), &claims(), Sign::Ed(&keys.ed));
    let refetch = spawned(s.advance(&mut admit(&made_up, now), now));
    s.on_response(refetch.id, now + 400, ok(&jwks(&keys, &["ed"])));
    let later = now + 1500;
    let mut next = admit(&token_for(&keys, Uuid::from_u128(10)), later);
    assert_eq!(
        spawned(s.advance(&mut next, later)).kind,
        FetchKind::Feed,
        "not held up"
    );
}

/// A key change between the halves (a JWKS reload while the signature was
/// checked) makes the request begin again; it is answered under the new keys.
#[test]
fn new_keys_between_the_halves_make_the_request_begin_again() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let now = T0 + 20;
    let mut a = admit(&token_for(&keys, Uuid::from_u128(11)), now);
    assert!(matches!(s.advance(&mut a, now), Next::Check));
    let verdicts = Verdicts::native(a.pending().unwrap());
    // An unknown kid elsewhere reloads the JWKS meanwhile.
    let made_up = forge(&header("EdDSA", "nope"), &claims(), Sign::Ed(&keys.ed));
    let refetch = spawned(s.advance(&mut admit(&made_up, now), now));
    s.on_response(refetch.id, now + 5, ok(&jwks(&keys, &["ed"])));
    a.checked(verdicts);
    assert!(
        matches!(s.advance(&mut a, now + 6), Next::Check),
        "begun again: its signature is checked under the new keys"
    );
    assert_eq!(answer(advance(&mut s, &mut a, now + 6)), "ok");
}

/// A cold machine whose first sync failed answers stale, and spawns nothing
/// more while the retry backs off.
#[test]
fn a_cold_machine_whose_sync_failed_answers_stale() {
    let keys = Keys::new();
    let mut s = syncer();
    let mut a = admit(&token_for(&keys, Uuid::from_u128(12)), T0);
    let feed = spawned(s.advance(&mut a, T0));
    s.on_response(feed.id, T0 + 10, Outcome::Failed("connection refused"));
    assert_eq!(
        answer(advance(&mut s, &mut a, T0 + 11)),
        "revocation_state_stale"
    );
}

/// `Catchup::usable` waits for the first snapshot and keys; `sync_now`
/// pulls the feed whatever the state's age and ends with its result.
#[test]
fn catchups_wait_for_usable_state_and_for_a_sync_now() {
    let keys = Keys::new();
    let mut s = syncer();
    let mut first = Catchup::usable(T0);
    let Next::Spawn(feed) = s.advance_catchup(&mut first, T0) else {
        panic!("a cold syncer fetches");
    };
    assert!(matches!(
        s.advance_catchup(&mut first, T0 + 1),
        Next::Sleep { .. }
    ));
    let keys_fetch = s
        .on_response(feed.id, T0 + 2, ok(&page("a:1", true, false, "1", &[])))
        .unwrap();
    s.on_response(keys_fetch.id, T0 + 3, ok(&jwks(&keys, &["ed"])));
    assert!(matches!(
        s.advance_catchup(&mut first, T0 + 4),
        Next::Done(Ok(()))
    ));

    let mut now_ = Catchup::sync_now(T0 + 10);
    let Next::Spawn(feed) = s.advance_catchup(&mut now_, T0 + 10) else {
        panic!("sync now fetches even on fresh state");
    };
    assert!(matches!(
        s.advance_catchup(&mut now_, T0 + 11),
        Next::Sleep { .. }
    ));
    s.on_response(feed.id, T0 + 12, Outcome::Failed("HTTP 500"));
    assert!(matches!(s.advance_catchup(&mut now_, T0 + 13), Next::Done(Err(e)) if e == "HTTP 500"));

    // A sync now that nobody reports ends when its fetch is abandoned.
    let mut lost = Catchup::sync_now(T0 + 2000);
    let Next::Spawn(feed) = s.advance_catchup(&mut lost, T0 + 2000) else {
        panic!("a new sync");
    };
    let over = feed.deadline_ms + REPORT_GRACE_MS;
    assert!(matches!(
        s.advance_catchup(&mut lost, over - 1),
        Next::Sleep { .. }
    ));
    assert!(matches!(s.advance_catchup(&mut lost, over), Next::Done(_)));
}

/// `sync_now` does not report success for a sync it did not see complete:
/// a keys-only refetch in flight is waited out and the feed is pulled after
/// it, and a sync that was abandoned is an error.
#[test]
fn a_sync_now_answers_for_a_feed_sync_it_saw_complete() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let now = T0 + 20;
    // An unknown kid has a keys-only refetch in flight.
    let made_up = forge(&header("EdDSA", "nope"), &claims(), Sign::Ed(&keys.ed));
    let refetch = spawned(s.advance(&mut admit(&made_up, now), now));
    let mut sync = Catchup::sync_now(now + 1);
    assert!(matches!(
        s.advance_catchup(&mut sync, now + 1),
        Next::Sleep { .. }
    ));
    s.on_response(refetch.id, now + 2, ok(&jwks(&keys, &["ed"])));
    let Next::Spawn(feed) = s.advance_catchup(&mut sync, now + 3) else {
        panic!("after the keys-only run, the feed is pulled");
    };
    assert_eq!(feed.kind, FetchKind::Feed);
    s.on_response(feed.id, now + 4, ok(&page("a:2", false, false, "1", &[])));
    assert!(matches!(
        s.advance_catchup(&mut sync, now + 5),
        Next::Done(Ok(()))
    ));

    // A sync nobody reports ends with an error, not with success.
    let mut lost = Catchup::sync_now(now + 10);
    let Next::Spawn(feed) = s.advance_catchup(&mut lost, now + 10) else {
        panic!("a new sync");
    };
    let over = feed.deadline_ms + REPORT_GRACE_MS;
    assert!(matches!(
        s.advance_catchup(&mut lost, over),
        Next::Done(Err(_))
    ));
}

/// An unknown `kid` that arrives while a sync is in flight waits for that
/// sync (it may bring the key) instead of being refused at once.
#[test]
fn an_unknown_kid_during_a_sync_waits_for_it() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    // A background refresh is in flight, and announces a new key set.
    let now = T0 + 200;
    let refresh = spawned(s.advance(&mut admit(&token_for(&keys, Uuid::from_u128(20)), now), now));
    let rotated = forge(&header("EdDSA", "ed2"), &claims(), Sign::Ed(&keys.ed));
    let mut a = admit(&rotated, now + 1);
    assert!(
        matches!(s.advance(&mut a, now + 1), Next::Sleep { .. }),
        "it waits for the sync in flight"
    );
    let keys_fetch = s
        .on_response(
            refresh.id,
            now + 5,
            ok(&page("a:1", false, false, "2", &[])),
        )
        .expect("the new key set is fetched");
    s.on_response(keys_fetch.id, now + 6, ok(&jwks(&keys, &["ed", "ed2"])));
    assert_eq!(answer(advance(&mut s, &mut a, now + 7)), "ok");
}

/// A background sync started at `now` by another request; a token naming
/// `kid` arrives at `now + 1` and waits for it; the sync ends at `now + 5`
/// with a copy another isolate shared, observed at `observed` (before any
/// rotation: it announces nothing new), old enough that the next sync is
/// chained at once. Returns the waiting request, what the machine says for
/// it at `now + 6`, and the chained sync's fetch.
fn behind_a_chained_sync(
    s: &mut Syncer,
    keys: &Keys,
    kid: &str,
    now: u64,
    observed: u64,
) -> (Admission, Next<Answer>, Fetch) {
    let other = token_for(keys, Uuid::from_u128(u128::from(now)));
    let refresh = spawned(s.advance(&mut admit(&other, now), now));
    let token = forge(&header("EdDSA", kid), &claims(), Sign::Ed(&keys.ed));
    let mut a = admit(&token, now + 1);
    assert!(
        matches!(s.advance(&mut a, now + 1), Next::Sleep { .. }),
        "it waits for the sync in flight"
    );
    let copy = page(&format!("a:{now}"), false, false, "1", &[]);
    let shared = Outcome::Body {
        text: &copy,
        observed_ms: Some(observed),
    };
    let chained = s.on_response(refresh.id, now + 5, shared).expect("chained");
    assert_eq!(chained.kind, FetchKind::Feed);
    let next = advance(s, &mut a, now + 6);
    (a, next, chained)
}

/// An unknown `kid` that waited for a sync which brought nothing new (a
/// shared copy of a page from before the rotation), and then finds the
/// next sync already in flight (chained after that copy), has that sync
/// fetch the JWKS before it ends, and waits for it: it is not refused
/// while the issuer holds its key. Seen at the edge after a provider
/// rotated its keys: the new key's first token was refused for a second.
#[test]
fn an_unknown_kid_behind_a_chained_sync_has_that_sync_fetch_the_keys() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let now = T0 + 500;
    let (mut a, next, chained) = behind_a_chained_sync(&mut s, &keys, "ed2", now, T0 + 300);
    assert!(
        matches!(next, Next::Sleep { .. }),
        "it waits for the chained sync, which will fetch the JWKS"
    );
    let keys_fetch = s
        .on_response(
            chained.id,
            now + 10,
            ok(&page("a:3", false, false, "1", &[])),
        )
        .expect("the JWKS is fetched before the sync ends");
    assert_eq!(keys_fetch.kind, FetchKind::Jwks);
    s.on_response(keys_fetch.id, now + 12, ok(&jwks(&keys, &["ed", "ed2"])));
    assert_eq!(answer(advance(&mut s, &mut a, now + 13)), "ok");

    // The same cooldown holds: a made-up kid right after waits for the sync
    // in flight, then finds the next one chained and is refused at once,
    // and that sync fetches no JWKS for it.
    let later = now + 700;
    let (_, next, chained) = behind_a_chained_sync(&mut s, &keys, "nope", later, now + 500);
    assert_eq!(
        answer(next),
        "unknown_kid",
        "cooling down: refused without waiting for the chained sync"
    );
    assert_eq!(
        s.on_response(
            chained.id,
            later + 10,
            ok(&page("a:5", false, false, "1", &[]))
        ),
        None,
        "no JWKS fetch within the cooldown"
    );
}

/// A made-up `kid` that has a sync in flight fetch the JWKS cannot fail
/// that sync: the pages it applied count as a sync, and the extra fetch
/// fails as a keys-only refetch does, saying nothing about the issuer.
#[test]
fn a_failed_jwks_fetch_asked_of_a_sync_leaves_that_sync_counted() {
    let keys = Keys::new();
    let mut s = warm(&keys, &[]);
    let now = T0 + 500;
    let (mut a, next, chained) = behind_a_chained_sync(&mut s, &keys, "nope", now, T0 + 300);
    assert!(matches!(next, Next::Sleep { .. }));
    let keys_fetch = s
        .on_response(
            chained.id,
            now + 10,
            ok(&page("a:3", false, false, "1", &[])),
        )
        .expect("the JWKS asked for");
    s.on_response(keys_fetch.id, now + 20, Outcome::Failed("HTTP 502"));
    assert_eq!(answer(advance(&mut s, &mut a, now + 21)), "unknown_kid");
    assert_eq!(
        s.status(now + 21).age_ms,
        Some(16),
        "the feed sync that started at +5 counts"
    );
    // Past max_age from that sync a request waits for the next one: the
    // issuer does not count as unreachable (which would serve the old state
    // without waiting until fail_after).
    assert!(matches!(s.step(now + 1100, now + 1100), Step::Fetch(_)));
}

/// A request that waited for one sync and then joined the next, slow one
/// never waits past fail_after from its arrival.
#[test]
fn an_unknown_kid_waits_no_longer_than_fail_after_from_its_arrival() {
    let keys = Keys::new();
    let mut s = warm_with(long_fail_after(), &keys, &[]);
    let now = T0 + 500;
    let give_up = now + 1 + 30_000;
    // The first sync ends with an old shared copy; the next is chained, and
    // the request joins it.
    let (mut a, next, mut fetch) = behind_a_chained_sync(&mut s, &keys, "ed2", now, T0 + 300);
    assert!(matches!(next, Next::Sleep { .. }));
    // A slow issuer: a page every 4 s, each within its fetch's deadline,
    // `more` every time, until the run's own fail_after.
    let mut at = now + 5;
    for cursor in 3.. {
        at += 4000;
        if at >= give_up {
            break;
        }
        let page = page(&format!("a:{cursor}"), false, true, "1", &[]);
        fetch = s
            .on_response(fetch.id, at, ok(&page))
            .expect("the next page");
        match s.advance(&mut a, at + 1) {
            Next::Sleep { until_ms } => assert!(until_ms <= give_up, "sleeps until {until_ms}"),
            other => panic!("at {at}: {other:?}"),
        }
    }
    assert!(s.in_flight(give_up), "the joined sync is still going");
    assert_eq!(answer(s.advance(&mut a, give_up)), "unknown_kid");
}

/// What cannot be a compact JWS (whitespace, a character outside base64url,
/// other than two dots, too long) is refused as such at once, whatever the
/// state: no sync spawned or waited on for it, and never `stale` (503) for
/// what is the client's fault (401).
#[test]
fn what_cannot_be_a_token_is_refused_before_any_sync() {
    let keys = Keys::new();
    let good = token_for(&keys, Uuid::from_u128(13));
    let mut spaced = good.clone();
    spaced.insert(5, ' ');
    let too_long = format!("{good}{}", "A".repeat(9000));
    let cases = [
        (spaced.as_str(), "malformed"),
        ("a.b c.d", "malformed"),
        ("a.b.c\n", "malformed"),
        ("a.b", "malformed"),
        ("a.b.c.d", "malformed"),
        ("a.b+/.c", "malformed"),
        ("", "malformed"),
        (too_long.as_str(), "token_too_large"),
    ];
    for (token, code) in cases {
        // Cold (no snapshot yet), and past the hard bound (a sync is due).
        let mut cold = syncer();
        assert_eq!(
            answer(cold.advance(&mut admit(token, T0), T0)),
            code,
            "cold: {token:?}"
        );
        let mut s = warm(&keys, &[]);
        let late = T0 + 1500;
        assert_eq!(
            answer(s.advance(&mut admit(token, late), late)),
            code,
            "due: {token:?}"
        );
    }
    // A well-shaped token still waits for the sync.
    let mut cold = syncer();
    assert_eq!(
        spawned(cold.advance(&mut admit(&good, T0), T0)).kind,
        FetchKind::Feed
    );
}
