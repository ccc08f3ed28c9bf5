//! The service around the handlers: a real socket, metrics, request ids,
//! restart persistence, and two issuers on one Postgres.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};
use tollgate_issuer::config::Settings;
use tollgate_issuer::store::{SqliteStore, Store};
use tollgate_issuer::{AppState, SystemClock, serve};
use tollgate_verifier::{RevocationSet, Revoked, Uuid};

use crate::support::*;

/// One request with an optional JSON body; the response body parsed as JSON.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let (status, head, body) = raw_http(addr, method, path, token, &body).await;
    (
        status,
        head,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

/// Over a real socket, with `serve` as the binary runs it: login, an authenticated call, logout, and the feed.
#[tokio::test]
async fn login_and_logout_over_a_real_socket() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store).await;
    issuer.signup("socket@example.com").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, issuer.state.clone(), async {
        let _ = stopped.await;
    }));

    let login = json!({"email": "socket@example.com", "password": PASSWORD, "device": {"id": "d", "type": "cli"}});
    let (status, head, body) = http(addr, "POST", "/v1/auth/login", None, Some(login)).await;
    assert_eq!(status, 200, "{head}");
    assert!(head.to_lowercase().contains("x-request-id: "), "{head}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let (status, _, me) = http(addr, "GET", "/v1/users/me", Some(&access), None).await;
    assert_eq!(
        (status, me["email"].as_str()),
        (200, Some("socket@example.com"))
    );
    let (status, _, _) = http(addr, "POST", "/v1/auth/logout", Some(&access), None).await;
    assert_eq!(status, 204);
    let (status, head, problem) = http(addr, "GET", "/v1/users/me", Some(&access), None).await;
    assert_eq!((status, problem["code"].as_str()), (401, Some("revoked")));
    assert!(head.contains("WWW-Authenticate") || head.contains("www-authenticate"));
    let (_, _, feed) = http(addr, "GET", "/v1/revocations", None, None).await;
    assert_eq!(feed["revoked"][0]["sid"], body["session_id"]);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// `/metrics` counts logins by result, refreshes, revocations and feed polls, with a latency histogram per route pattern.
#[tokio::test]
async fn metrics_count_what_happened() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store).await;
    issuer.signup("m@example.com").await;
    let t = issuer.login("m@example.com", "d").await;
    issuer
        .try_login("m@example.com", "wrong wrong wrong", "d")
        .await;
    issuer.try_refresh(&t.refresh).await;
    issuer
        .call("POST", "/v1/auth/logout-all", Some(&t.access), None)
        .await;
    issuer.feed().await;
    issuer
        .call(
            "DELETE",
            &format!("/v1/sessions/{}", t.session),
            Some(&t.access),
            None,
        )
        .await;

    let reply = issuer.call("GET", "/metrics", None, None).await;
    assert_eq!(
        reply.header("content-type"),
        Some(tollgate_issuer::metrics::CONTENT_TYPE)
    );
    let text = reply.body.as_str().unwrap();
    for line in [
        "tollgate_logins_total{result=\"success\"} 1",
        "tollgate_logins_total{result=\"invalid_credentials\"} 1",
        "tollgate_refreshes_total{result=\"rotated\"} 1",
        "tollgate_revocations_total 1",
        "tollgate_feed_polls_total{kind=\"snapshot\"} 1",
        "tollgate_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/auth/login\"} 2",
        "tollgate_http_request_duration_seconds_count{method=\"DELETE\",route=\"/v1/sessions/{id}\"} 1",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    assert!(
        !text.contains(&t.session),
        "raw paths must not become labels"
    );
}

/// A client's x-request-id comes back on the response; without one, the issuer makes one.
#[tokio::test]
async fn request_ids_are_propagated_or_made() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store).await;
    let reply = issuer
        .send(
            axum::http::Request::get("/healthz")
                .header("x-request-id", "abc-123")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.header("x-request-id"), Some("abc-123"));
    let made = issuer.call("GET", "/healthz", None, None).await;
    assert!(made.header("x-request-id").unwrap().parse::<Uuid>().is_ok());
}

/// After a restart on the same SQLite file, a logged-out token stays revoked, keys are the same, and live sessions still refresh.
#[tokio::test]
async fn revocations_sessions_and_keys_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuer.db");
    let (dead, live, kid) = {
        let issuer = Issuer::new(Arc::new(SqliteStore::open(&path).await.unwrap())).await;
        issuer.signup("persist@example.com").await;
        let dead = issuer.login("persist@example.com", "a").await;
        let live = issuer.login("persist@example.com", "b").await;
        issuer
            .call("POST", "/v1/auth/logout", Some(&dead.access), None)
            .await;
        (
            dead,
            live,
            issuer.state.keys().ring.current_kid().to_owned(),
        )
    };
    let issuer = Issuer::new(Arc::new(SqliteStore::open(&path).await.unwrap())).await;
    assert_eq!(issuer.state.keys().ring.current_kid(), kid);
    issuer.me(&dead.access).await.assert_problem(401, "revoked");
    assert!(revokes_sid(&issuer.feed().await, &dead.session));
    assert_eq!(issuer.me(&live.access).await.status, 200);
    assert_eq!(issuer.try_refresh(&live.refresh).await.status, 200);
}

/// Two issuers on one Postgres: 40 logouts spread over both, concurrently, and a verifier following the feed from either sees every one.
#[tokio::test]
async fn two_issuers_on_postgres_publish_every_logout() {
    let Some(server) = postgres_url() else { return };
    let url = fresh_postgres_database(&server).await;
    let open = || async {
        Arc::new(
            tollgate_issuer::store::PostgresStore::open(&url)
                .await
                .unwrap(),
        ) as Arc<dyn Store>
    };
    let a = Issuer::new(open().await).await;
    let b = Issuer::new(open().await).await;
    assert_eq!(
        a.state.keys().ring.current_kid(),
        b.state.keys().ring.current_kid()
    );

    let mut sessions = Vec::new();
    for user in 0..4 {
        let email = format!("u{user}@example.com");
        a.signup(&email).await;
        for device in 0..10 {
            let issuer = if device % 2 == 0 { &a } else { &b };
            sessions.push(issuer.login(&email, &format!("dev{device}")).await);
        }
    }
    // A reader follows the feed from `b` while logouts land on both.
    let mut set = RevocationSet::new();
    let logouts = sessions.iter().enumerate().map(|(i, t)| {
        let issuer = if i % 3 == 0 { a.clone() } else { b.clone() };
        let access = t.access.clone();
        tokio::spawn(async move {
            let reply = issuer
                .call("POST", "/v1/auth/logout", Some(&access), None)
                .await;
            assert_eq!(reply.status, 204, "{:?}", reply.body);
        })
    });
    let logouts: Vec<_> = logouts.collect();
    let mut cursor: Option<String> = None;
    let poll = |cursor: Option<String>| {
        let b = b.clone();
        async move {
            let uri = match cursor {
                Some(c) => format!("/v1/revocations?since={c}&limit=3"),
                None => "/v1/revocations?limit=3".to_owned(),
            };
            let body = b.call("GET", &uri, None, None).await.body;
            tollgate_verifier::RevocationFeed::from_json(&body.to_string()).unwrap()
        }
    };
    for logout in logouts {
        let page = poll(cursor.clone()).await;
        set.apply(&page);
        cursor = Some(page.cursor.clone());
        logout.await.unwrap();
    }
    loop {
        let page = poll(cursor.clone()).await;
        set.apply(&page);
        cursor = Some(page.cursor.clone());
        if !page.more && page.revoked.is_empty() {
            break;
        }
    }
    let expected: HashSet<Uuid> = sessions
        .iter()
        .map(|t| t.session.parse().unwrap())
        .collect();
    for sid in &expected {
        assert!(
            set.is_revoked(sid, &Uuid::nil()),
            "logout of {sid} never reached the reader"
        );
    }
    let snapshot = a.feed().await;
    let on_feed: HashSet<Uuid> = snapshot
        .revoked
        .iter()
        .filter_map(|e| match e.target {
            Revoked::Sid(sid) => Some(sid),
            _ => None,
        })
        .collect();
    assert_eq!(on_feed, expected);
}

/// Settings that would fail open refuse to start, naming the flag: a negative or huge leeway, a zero or negative TTL.
#[tokio::test]
async fn settings_that_would_fail_open_refuse_to_start() {
    for (settings, flag) in [
        (
            Settings {
                leeway_secs: -1,
                ..test_settings()
            },
            "--leeway-secs",
        ),
        (
            Settings {
                leeway_secs: 100_000,
                ..test_settings()
            },
            "--leeway-secs",
        ),
        (
            Settings {
                access_ttl_secs: 0,
                ..test_settings()
            },
            "--access-ttl-secs",
        ),
        (
            Settings {
                access_ttl_secs: -5,
                ..test_settings()
            },
            "--access-ttl-secs",
        ),
    ] {
        let (store, _dir) = sqlite().await;
        let started = AppState::new(store, Arc::new(SystemClock), settings).await;
        let err = started.err().expect("refused");
        assert!(err.to_string().contains(flag), "{err}");
    }
}

/// Without a Postgres server named, the Postgres half of a test fails
/// rather than passing without running; only `TOLLGATE_SKIP_POSTGRES=1`
/// skips it, and says so.
#[test]
fn the_postgres_half_is_never_skipped_in_silence() {
    use crate::support::postgres_url_from;
    let url = Some("postgres://db".to_owned());
    assert_eq!(postgres_url_from(url.clone(), None), url);
    assert_eq!(postgres_url_from(None, Some("1".into())), None);
    for skip in [
        None,
        Some(String::new()),
        Some("0".into()),
        Some("yes".into()),
    ] {
        let refused =
            std::panic::catch_unwind(|| postgres_url_from(Some(String::new()), skip.clone()));
        assert!(refused.is_err(), "skipped in silence with {skip:?}");
    }
}
