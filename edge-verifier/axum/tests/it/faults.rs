//! The extractor against an issuer that fails the way real ones do: a
//! snapshot whose page 2 fails or hangs, an issuer that never answers or
//! stalls its body, many waiters on one dead sync, and a withdrawn key.
//! Every request settles within fail_after + 1 s, and a revoked session or
//! key is never accepted.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tollgate_axum::{Tollgate, TollgateConfig};
use tollgate_verifier::Uuid;

use crate::layer::{ManualClock, app, call, ms};
use crate::stub::{Fault, Stub, Which, log_with};

const MAX_AGE: Duration = Duration::from_millis(200);
const FAIL_AFTER: Duration = Duration::from_millis(1500);

async fn connect(stub: &Stub, fail_after: Duration) -> axum::Router {
    connect_with_clock(stub, fail_after).await.0
}

/// [`connect`], with a clock the test moves.
async fn connect_with_clock(stub: &Stub, fail_after: Duration) -> (axum::Router, ManualClock) {
    let mut config = TollgateConfig::new(&stub.url, "tollgate", "tollgate-api");
    config.sync.max_age_ms = ms(MAX_AGE);
    config.sync.fail_after_ms = ms(fail_after);
    let clock = ManualClock::default();
    config.clock = std::sync::Arc::new(clock.clone());
    (app(Tollgate::connect(config).await.unwrap()), clock)
}

/// Calls with `token` every 20 ms for `length`; returns every status.
async fn hammer(app: &axum::Router, token: &str, length: Duration) -> Vec<StatusCode> {
    let end = Instant::now() + length;
    let mut statuses = Vec::new();
    while Instant::now() < end {
        statuses.push(call(app, Some(token)).await.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    statuses
}

async fn page_two_is_never_applied_half(fault: Fault, fail_after: Duration) {
    let stub = Stub::start().await;
    let revoked = Uuid::new_v4();
    stub.with(|s| s.entries = log_with(revoked, 5, 1500));
    let app = connect(&stub, fail_after).await;
    let token = stub.mint(revoked, "k1");
    assert_eq!(call(&app, Some(&token)).await.0, StatusCode::UNAUTHORIZED);
    stub.with(|s| {
        s.entries = log_with(revoked, 1200, 1500);
        s.epoch = "b".into();
        s.fault = Some((fault, Which::LaterPages));
    });
    let statuses = hammer(&app, &token, fail_after - Duration::from_millis(500)).await;
    assert!(
        !statuses.contains(&StatusCode::OK),
        "a session revoked on page 2 was accepted: {statuses:?}"
    );
}

/// A snapshot whose page 2 fails does not replace the state.
#[tokio::test]
async fn a_failing_page_two_never_half_applies_a_snapshot() {
    page_two_is_never_applied_half(Fault::Error, FAIL_AFTER).await;
}

/// A snapshot whose page 2 hangs does not replace the state (the hang
/// outlasts the fetch timeout, within fail_after).
#[tokio::test]
async fn a_hanging_page_two_never_half_applies_a_snapshot() {
    page_two_is_never_applied_half(Fault::Silent, Duration::from_millis(7000)).await;
}

async fn fails_closed_in_time_and_recovers(fault: Fault) {
    let stub = Stub::start().await;
    let app = connect(&stub, FAIL_AFTER).await;
    let token = stub.mint(Uuid::new_v4(), "k1");
    assert_eq!(call(&app, Some(&token)).await.0, StatusCode::OK);
    let fault_at = Instant::now();
    stub.with(|s| s.fault = Some((fault, Which::All)));
    loop {
        let sent = Instant::now();
        let (status, body, _) = call(&app, Some(&token)).await;
        assert!(
            sent.elapsed() < FAIL_AFTER + Duration::from_secs(1),
            "one call took {:?}",
            sent.elapsed()
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(body.contains("revocation_state_stale"), "{body}");
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            fault_at.elapsed() <= FAIL_AFTER + Duration::from_secs(1),
            "still serving"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fault_at.elapsed() <= FAIL_AFTER + Duration::from_secs(1));
    // The held requests stay stuck; recovery must not depend on them.
    stub.with(|s| s.fault = None);
    let back = Instant::now();
    while call(&app, Some(&token)).await.0 != StatusCode::OK {
        assert!(back.elapsed() < Duration::from_secs(3), "did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An issuer that never answers: 503 within fail_after + 1 s, then recovery.
#[tokio::test]
async fn a_silent_issuer_fails_closed_in_time_and_recovers() {
    fails_closed_in_time_and_recovers(Fault::Silent).await;
}

/// An issuer that stalls after the headers: the same.
#[tokio::test]
async fn a_stalling_issuer_fails_closed_in_time_and_recovers() {
    fails_closed_in_time_and_recovers(Fault::Stall).await;
}

/// Twenty requests arriving on stale state while the issuer is silent all
/// answer within fail_after + 1 s: waiters do not queue one sync each.
#[tokio::test]
async fn waiters_on_a_dead_sync_all_answer_in_time() {
    let stub = Stub::start().await;
    let (app, clock) = connect_with_clock(&stub, FAIL_AFTER).await;
    let token = stub.mint(Uuid::new_v4(), "k1");
    assert_eq!(call(&app, Some(&token)).await.0, StatusCode::OK);
    stub.with(|s| s.fault = Some((Fault::Silent, Which::All)));
    clock.advance(MAX_AGE + Duration::from_millis(50));
    let started = Instant::now();
    let calls = (0..20).map(|_| {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(async move { call(&app, Some(&token)).await.0 })
    });
    for handle in calls {
        let status = handle.await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}"
        );
    }
    assert!(
        started.elapsed() < FAIL_AFTER + Duration::from_secs(1),
        "twenty waiters took {:?}",
        started.elapsed()
    );
}

/// A key withdrawn from the JWKS stops verifying within max_age + 100 ms.
#[tokio::test]
async fn a_withdrawn_key_stops_verifying_within_max_age() {
    let stub = Stub::start().await;
    let app = connect(&stub, FAIL_AFTER).await;
    let newer = stub.add_key();
    let token = stub.mint(Uuid::new_v4(), "k1");
    assert_eq!(call(&app, Some(&token)).await.0, StatusCode::OK);
    stub.withdraw("k1");
    let withdrawn = Instant::now();
    loop {
        let (status, body, _) = call(&app, Some(&token)).await;
        if status == StatusCode::UNAUTHORIZED {
            assert!(body.contains("unknown_kid"), "{body}");
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            withdrawn.elapsed() < MAX_AGE + Duration::from_millis(100),
            "a withdrawn key still verifies after {:?}",
            withdrawn.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let other = stub.mint(Uuid::new_v4(), &newer);
    assert_eq!(call(&app, Some(&other)).await.0, StatusCode::OK);
}
