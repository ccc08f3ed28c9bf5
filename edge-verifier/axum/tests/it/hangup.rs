//! Clients that hang up: the extractor served on a real socket, and a client
//! that sends a request and closes its connection while the sync that
//! request started is in flight (hyper then drops the handler). A fetch
//! whose requester went away is not evidence that the issuer is down: a
//! revoked session must stay refused, and nobody may be left waiting on a
//! fetch nobody drives.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tollgate_axum::{Tollgate, TollgateConfig};
use tollgate_verifier::Uuid;

use crate::layer::{app, ms};
use crate::stub::Stub;

const MAX_AGE: Duration = Duration::from_millis(200);
/// A healthy issuer that takes this long to answer.
const ISSUER_DELAY: Duration = Duration::from_millis(400);
/// Each fetch's deadline: short, so the test sees what happens past it.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1000);

/// The extractor behind a real listener; its address.
async fn serve(stub: &Stub, request_timeout: Duration) -> String {
    let mut config = TollgateConfig::new(&stub.url, "tollgate", "tollgate-api");
    config.sync.max_age_ms = ms(MAX_AGE);
    config.sync.request_timeout_ms = ms(request_timeout);
    let tollgate = Tollgate::connect(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app(tollgate)).await });
    addr
}

fn request(addr: &str, token: &str) -> String {
    format!(
        "GET /me HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
    )
}

/// Sends `token` and reads the status code.
async fn status(addr: &str, token: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(request(addr, token).as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

/// Sends `token`, then closes the connection after `after` without reading.
async fn hang_up(addr: &str, token: &str, after: Duration) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(request(addr, token).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(after).await;
    drop(stream);
}

/// A client that starts a sync and hangs up does not open a window in
/// which a revoked session passes: the sync it started still completes,
/// and the issuer is not taken for unreachable.
#[tokio::test]
async fn a_client_that_hangs_up_mid_sync_lets_no_revoked_token_through() {
    let stub = Stub::start().await;
    let addr = serve(&stub, REQUEST_TIMEOUT).await;
    stub.with(|s| s.feed_delay = ISSUER_DELAY);
    let revoked = Uuid::new_v4();
    let token = stub.mint(revoked, "k1");
    assert_eq!(status(&addr, &token).await, 200);
    stub.with(|s| s.entries.push(revoked));
    // The state turns older than max age; one request starts the sync that
    // would bring the revocation, and its client goes away.
    tokio::time::sleep(MAX_AGE + Duration::from_millis(100)).await;
    let other = stub.mint(Uuid::new_v4(), "k1");
    hang_up(&addr, &other, Duration::from_millis(30)).await;
    // Past the abandoned fetch's deadline.
    tokio::time::sleep(REQUEST_TIMEOUT + Duration::from_millis(400)).await;
    let mut passed = 0;
    let end = Instant::now() + Duration::from_millis(1500);
    let mut sent = 0;
    while Instant::now() < end {
        sent += 1;
        if status(&addr, &token).await == 200 {
            passed += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        passed, 0,
        "{passed} of {sent} requests with a revoked token reached the handler"
    );
}

/// A made-up `kid` whose client hangs up during the JWKS refetch does not
/// hold the sync up: a request that needs a sync next answers in about
/// the issuer's time, not the fetch timeout.
#[tokio::test]
async fn an_abandoned_unknown_kid_refetch_does_not_hold_up_other_requests() {
    let stub = Stub::start().await;
    // A long fetch timeout: an abandoned fetch would hold the slot for it.
    let addr = serve(&stub, Duration::from_secs(3)).await;
    stub.with(|s| s.jwks_delay = ISSUER_DELAY);
    let good = stub.mint(Uuid::new_v4(), "k1");
    assert_eq!(status(&addr, &good).await, 200);
    let made_up = stub.add_key();
    stub.withdraw(&made_up);
    stub.with(|s| s.keys_version -= 2); // the feed announces no change
    let forged = stub.mint(Uuid::new_v4(), &made_up);
    hang_up(&addr, &forged, Duration::from_millis(30)).await;
    tokio::time::sleep(MAX_AGE).await;
    let started = Instant::now();
    assert_eq!(status(&addr, &good).await, 200);
    assert!(
        started.elapsed() < ISSUER_DELAY + Duration::from_millis(300),
        "a request waited {:?} behind an abandoned refetch",
        started.elapsed()
    );
}
