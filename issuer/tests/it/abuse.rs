//! Unauthenticated paths cannot starve logouts: garbage refresh and revoke
//! tokens neither take SQLite's write turn nor go unlimited, the feed has a
//! hard page ceiling, and a burst of cold-start snapshots reads the log once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tollgate_issuer::config::Settings;
use tollgate_issuer::store::SqliteStore;

use crate::support::*;

/// A refresh with an unknown token; `x-forwarded-for` is `hops` (a single
/// address is prefixed with a value the client wrote).
async fn garbage_refresh(issuer: &Issuer, hops: &str) -> Reply {
    let hops = if hops.contains(',') {
        hops.to_owned()
    } else {
        format!("10.9.9.9, {hops}")
    };
    let request = Request::post("/v1/auth/refresh")
        .header("content-type", "application/json")
        .header("x-forwarded-for", hops)
        .body(Body::from(format!(
            "{{\"refresh_token\":\"{}\"}}",
            tollgate_issuer::auth::random_token()
        )))
        .unwrap();
    issuer.send(request).await
}

/// While another connection holds SQLite's write lock, an unknown refresh
/// token and an unknown non-JWT revocation are answered at once: they look
/// the token up before asking for the write turn.
#[tokio::test]
async fn garbage_tokens_do_not_wait_for_the_write_turn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuer.db");
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let issuer = Issuer::new(store).await;
    let holder = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    let mut lock = holder.begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("INSERT INTO meta (key, value) VALUES ('held', '1')")
        .execute(&mut *lock)
        .await
        .unwrap();

    let started = Instant::now();
    let refresh = tokio::time::timeout(Duration::from_secs(3), issuer.try_refresh("garbage"))
        .await
        .expect("a garbage refresh waited for the write lock");
    refresh.assert_problem(401, "invalid_refresh_token");
    let revoke = Request::post("/oauth/revoke")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("token=not-a-jwt-and-unknown"))
        .unwrap();
    let revoke = tokio::time::timeout(Duration::from_secs(3), issuer.send(revoke))
        .await
        .expect("a garbage revocation waited for the write lock");
    assert_eq!(revoke.status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(3));
    lock.rollback().await.unwrap();
}

/// Failed refreshes are limited per client address: the address that
/// sprays garbage gets 429 with Retry-After; another address does not.
#[tokio::test]
async fn garbage_refreshes_are_limited_per_address() {
    let (store, _dir) = sqlite().await;
    let settings = Settings {
        token_failures_per_address: 5,
        client_ip_header: Some("x-forwarded-for".parse().unwrap()),
        ..test_settings()
    };
    let issuer = Issuer::with(store, settings).await;
    for _ in 0..5 {
        garbage_refresh(&issuer, "203.0.113.7")
            .await
            .assert_problem(401, "invalid_refresh_token");
    }
    let limited = garbage_refresh(&issuer, "203.0.113.7").await;
    limited.assert_problem(429, "rate_limited");
    assert!(limited.header("retry-after").is_some());
    garbage_refresh(&issuer, "198.51.100.1")
        .await
        .assert_problem(401, "invalid_refresh_token");
}

/// No public request gets more than 1,000 entries in a page.
#[tokio::test]
async fn the_feed_page_has_a_hard_ceiling() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store.clone()).await;
    store
        .append_revocations(&(0..1500).map(sid).collect::<Vec<_>>())
        .await
        .unwrap();
    let page = issuer.call("GET", "/v1/revocations", None, None).await;
    assert_eq!(page.body["revoked"].as_array().unwrap().len(), 1000);
    assert_eq!(page.body["more"], true);
    for limit in ["1001", "100000"] {
        issuer
            .call("GET", &format!("/v1/revocations?limit={limit}"), None, None)
            .await
            .assert_problem(400, "validation_failed");
    }
}

/// Twenty cold starts at once read the log once: the first snapshot page is
/// served from one serialization, keyed by the log's head; a new revocation
/// changes the head, and the next snapshot holds it.
#[tokio::test]
async fn concurrent_cold_snapshots_read_the_log_once() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store.clone()).await;
    store
        .append_revocations(&(0..100).map(sid).collect::<Vec<_>>())
        .await
        .unwrap();
    let builds = || issuer.state.metrics.snapshot_builds();
    let before = builds();
    let replies: Vec<_> = (0..20)
        .map(|_| {
            let issuer = issuer.clone();
            tokio::spawn(async move { issuer.call("GET", "/v1/revocations", None, None).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for reply in replies {
        let reply = reply.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        bodies.push(reply.body);
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    assert_eq!(
        builds() - before,
        1,
        "one read of the log served all twenty"
    );

    store.append_revocations(&[sid(5000)]).await.unwrap();
    let fresh = issuer.call("GET", "/v1/revocations", None, None).await;
    assert_eq!(builds() - before, 2);
    assert_eq!(fresh.body["revoked"].as_array().unwrap().len(), 101);
}

/// Four clients that send the headers of a refresh and then trickle the
/// body do not hold the routes' work slots: a normal refresh over another
/// connection still answers at once (the slots are taken only after the
/// body is read and the per-address limit has passed).
#[tokio::test]
async fn slow_bodies_do_not_hold_the_token_slots() {
    use tokio::io::AsyncWriteExt as _;
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(tollgate_issuer::serve(
        listener,
        issuer.state.clone(),
        std::future::pending(),
    ));
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(
                b"POST /v1/auth/refresh HTTP/1.1\r\nHost: issuer\r\n\
                  Content-Type: application/json\r\nContent-Length: 16000\r\n\r\n{\"refresh",
            )
            .await
            .unwrap();
        slow.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let (status, _, body) = tokio::time::timeout(
        Duration::from_secs(3),
        raw_http(
            addr,
            "POST",
            "/v1/auth/refresh",
            None,
            r#"{"refresh_token":"nope"}"#,
        ),
    )
    .await
    .expect("a refresh waited behind slow bodies");
    assert_eq!(status, 401, "{body}");
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(slow);
    server.abort();
}

/// The proxy header's right-most hop counts even as `ip:port` or
/// `[v6]:port`; a hop that does not parse stops the walk (the peer counts),
/// rather than letting the client's own values to its left through; and
/// IPv6 clients are counted per /64.
#[tokio::test]
async fn proxy_hops_parse_and_ipv6_counts_per_64() {
    use tollgate_issuer::extract::{limit_key, parse_hop};
    assert_eq!(parse_hop("203.0.113.7:50000"), "203.0.113.7".parse().ok());
    assert_eq!(parse_hop("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
    assert_eq!(parse_hop("::ffff:10.1.2.3"), "10.1.2.3".parse().ok());
    assert_eq!(parse_hop("unknown"), None);
    assert_eq!(
        limit_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
        limit_key("2001:db8:1:2:bbbb::9".parse().unwrap())
    );
    assert_ne!(
        limit_key("2001:db8:1:2::1".parse().unwrap()),
        limit_key("2001:db8:1:3::1".parse().unwrap())
    );

    let (store, _dir) = sqlite().await;
    let settings = Settings {
        token_failures_per_address: 2,
        client_ip_header: Some("x-forwarded-for".parse().unwrap()),
        ..test_settings()
    };
    let issuer = Issuer::with(store, settings).await;
    // The client rotates its own left-hand values; the proxy appends ip:port.
    for spoof in ["1.1.1.1", "2.2.2.2"] {
        garbage_refresh(&issuer, &format!("{spoof}, 203.0.113.9:4242"))
            .await
            .assert_problem(401, "invalid_refresh_token");
    }
    garbage_refresh(&issuer, "3.3.3.3, 203.0.113.9:4242")
        .await
        .assert_problem(429, "rate_limited");
    // Different addresses of one /64 are one client.
    for host in ["1", "2"] {
        garbage_refresh(&issuer, &format!("2001:db8:9:9::{host}"))
            .await
            .assert_problem(401, "invalid_refresh_token");
    }
    garbage_refresh(&issuer, "2001:db8:9:9::3")
        .await
        .assert_problem(429, "rate_limited");
}

/// Anonymous callers cannot make the issuer read the log per request: a
/// garbage or foreign cursor, and any page size, get their snapshot from
/// the one cached read of the log's head (the feed is public through the
/// edge, and a flood of uncached snapshots would push every verifier's sync
/// past its deadline). A page of another size is cut from that read.
#[tokio::test]
async fn garbage_cursors_and_odd_page_sizes_share_the_cached_snapshot() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store.clone()).await;
    store
        .append_revocations(&(0..10).map(sid).collect::<Vec<_>>())
        .await
        .unwrap();
    let builds = || issuer.state.metrics.snapshot_builds();
    let whole = issuer.call("GET", "/v1/revocations", None, None).await;
    let after_first = builds();
    for query in [
        "?since=garbage",
        "?since=other-epoch:5:abc",
        "?since=",
        "?limit=999",
        "?limit=3",
        "?since=garbage&limit=7",
    ] {
        let reply = issuer
            .call("GET", &format!("/v1/revocations{query}"), None, None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {:?}", reply.body);
        assert_eq!(reply.body["reset"], true, "{query}");
    }
    assert_eq!(builds() - after_first, 0, "none of them read the log again");
    // A smaller page is the cached snapshot's beginning, and continues from there.
    let three = issuer
        .call("GET", "/v1/revocations?limit=3", None, None)
        .await;
    assert_eq!(three.body["revoked"].as_array().unwrap().len(), 3);
    assert_eq!(three.body["more"], true);
    assert_eq!(
        three.body["revoked"].as_array().unwrap()[..],
        whole.body["revoked"].as_array().unwrap()[..3]
    );
    let cursor = three.body["cursor"].as_str().unwrap();
    let rest = issuer
        .call(
            "GET",
            &format!("/v1/revocations?since={cursor}"),
            None,
            None,
        )
        .await;
    assert_eq!(rest.body["reset"], false);
    assert_eq!(rest.body["revoked"].as_array().unwrap().len(), 7);
}

/// Deltas cannot be made expensive either: a cursor at seq 0 (valid for any
/// log, with any digest), an old cursor still in the log, and the ordinary
/// "caught up" poll are all answered from one read of the log's newest
/// entries per head, or from the cached snapshot; a cursor too far behind
/// gets the snapshot.
#[tokio::test]
async fn deltas_from_any_cursor_share_one_read_of_the_log() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store.clone()).await;
    store
        .append_revocations(&(0..50).map(sid).collect::<Vec<_>>())
        .await
        .unwrap();
    let reads = || issuer.state.metrics.snapshot_builds() + issuer.state.metrics.tail_reads();
    let whole = issuer.call("GET", "/v1/revocations", None, None).await;
    let head = whole.body["cursor"].as_str().unwrap().to_owned();
    let epoch = head.split(':').next().unwrap().to_owned();
    let first = issuer
        .call("GET", "/v1/revocations?limit=1", None, None)
        .await;
    let old = first.body["cursor"].as_str().unwrap().to_owned();
    // Warm: one delta from an old cursor.
    let warm = issuer
        .call("GET", &format!("/v1/revocations?since={old}"), None, None)
        .await;
    assert_eq!(warm.body["revoked"].as_array().unwrap().len(), 49);
    let before = reads();
    for since in [
        format!("{epoch}:0:x"),
        format!("{epoch}:0:0"),
        old.clone(),
        head.clone(),
    ] {
        for _ in 0..5 {
            let reply = issuer
                .call("GET", &format!("/v1/revocations?since={since}"), None, None)
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{since}");
        }
    }
    assert_eq!(reads() - before, 0, "no request read the log again");
    // What they got is right: seq 0 is a snapshot, the old cursor its delta,
    // the head nothing new.
    let zero = issuer
        .call(
            "GET",
            &format!("/v1/revocations?since={epoch}:0:x"),
            None,
            None,
        )
        .await;
    assert_eq!(zero.body["reset"], true);
    assert_eq!(zero.body["revoked"], whole.body["revoked"]);
    let delta = issuer
        .call("GET", &format!("/v1/revocations?since={old}"), None, None)
        .await;
    assert_eq!(delta.body["reset"], false);
    assert_eq!(
        delta.body["revoked"].as_array().unwrap()[..],
        whole.body["revoked"].as_array().unwrap()[1..]
    );
    assert_eq!(delta.body["cursor"], head);
    let caught_up = issuer
        .call("GET", &format!("/v1/revocations?since={head}"), None, None)
        .await;
    assert_eq!(caught_up.body["revoked"].as_array().unwrap().len(), 0);
    assert_eq!(caught_up.body["cursor"], head);
    // A new revocation moves the head: one read, then the new entry for all.
    store.append_revocations(&[sid(99)]).await.unwrap();
    let before = reads();
    for _ in 0..3 {
        let next = issuer
            .call("GET", &format!("/v1/revocations?since={head}"), None, None)
            .await;
        assert_eq!(next.body["revoked"].as_array().unwrap().len(), 1);
    }
    assert_eq!(reads() - before, 1);
}

/// A snapshot of more pages than the cached tail reaches still completes:
/// its later pages are deltas behind the tail, read from the log a few at
/// a time (they looped back to a snapshot before this was fixed).
#[tokio::test]
async fn a_snapshot_longer_than_the_tail_completes_page_by_page() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store.clone()).await;
    store
        .append_revocations(&(0..2500).map(sid).collect::<Vec<_>>())
        .await
        .unwrap();
    let mut page = issuer.call("GET", "/v1/revocations", None, None).await;
    assert_eq!(page.body["reset"], true);
    let mut held = page.body["revoked"].as_array().unwrap().len();
    let mut pages = 1;
    while page.body["more"] == true {
        let cursor = page.body["cursor"].as_str().unwrap().to_owned();
        page = issuer
            .call(
                "GET",
                &format!("/v1/revocations?since={cursor}"),
                None,
                None,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        assert_eq!(
            page.body["reset"], false,
            "page {pages} started a snapshot again"
        );
        held += page.body["revoked"].as_array().unwrap().len();
        pages += 1;
        assert!(pages <= 3, "more pages than entries");
    }
    assert_eq!(held, 2500);
    assert!(
        issuer.state.metrics.deep_reads() >= 1,
        "the page behind the tail was read from the log"
    );
}
