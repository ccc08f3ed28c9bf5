//! The feed over HTTP: through the router, and over a real socket.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate_issuer::{AppState, app};
use tollgate_verifier::{Jwks, RevocationFeed};
use tower::ServiceExt;

use crate::support::*;

async fn state() -> (AppState, tempfile::TempDir) {
    let (store, dir) = sqlite().await;
    let state = AppState::new(store, Arc::new(FixedClock(NOW)), test_settings())
        .await
        .unwrap();
    (state, dir)
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, String, Vec<u8>) {
    let response = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, content_type, body)
}

/// The feed answers JSON: a snapshot without a cursor, a delta with one.
#[tokio::test]
async fn feed_over_the_router() {
    let (state, _dir) = state().await;
    state.store.append_revocations(&[sid(1)]).await.unwrap();
    let (status, content_type, body) = get(&state, "/v1/revocations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let snapshot = RevocationFeed::from_json(std::str::from_utf8(&body).unwrap()).unwrap();
    assert!(snapshot.reset);
    assert_eq!(snapshot.revoked, vec![sid(1)]);

    state.store.append_revocations(&[sid(2)]).await.unwrap();
    let (_, _, body) = get(
        &state,
        &format!("/v1/revocations?since={}&limit=5", snapshot.cursor),
    )
    .await;
    let delta = RevocationFeed::from_json(std::str::from_utf8(&body).unwrap()).unwrap();
    assert!(!delta.reset);
    assert_eq!(delta.revoked, vec![sid(2)]);
}

/// Asserts a 400 `validation_failed` problem naming `field`.
fn assert_problem((status, content_type, body): (StatusCode, String, Vec<u8>), field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(content_type, "application/problem+json");
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "validation_failed");
    assert_eq!(problem["status"], 400);
    assert_eq!(problem["errors"][0]["field"], field);
}

/// A bad `limit` or query string is a 400 problem+json with code `validation_failed` naming the field.
#[tokio::test]
async fn bad_limit_is_a_problem() {
    let (state, _dir) = state().await;
    assert_problem(
        get(&state, "/v1/revocations?since=a&since=b").await,
        "query",
    );
    for limit in ["0", "-1", "abc", "100001", "1.5"] {
        assert_problem(
            get(&state, &format!("/v1/revocations?limit={limit}")).await,
            "limit",
        );
    }
}

/// The app serves the feed on a real socket bound to port 0.
#[tokio::test]
async fn feed_over_a_real_socket() {
    let (state, _dir) = state().await;
    state.store.append_revocations(&[sid(7)]).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });

    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /v1/revocations HTTP/1.1\r\nHost: issuer\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let feed = RevocationFeed::from_json(body).unwrap();
    assert_eq!(feed.revoked, vec![sid(7)]);
    server.abort();
}

/// The JWKS route publishes the current signing key.
#[tokio::test]
async fn jwks_over_the_router() {
    let (state, _dir) = state().await;
    let (status, content_type, body) = get(&state, "/.well-known/jwks.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let jwks = Jwks::from_json(std::str::from_utf8(&body).unwrap()).unwrap();
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(
        jwks.keys[0].kid.as_deref(),
        Some(state.keys().ring.current_kid())
    );
    assert!(jwks.keys[0].k.is_none() && !String::from_utf8_lossy(&body).contains("\"d\""));
}

/// A CDN in front of the issuer (Cloudflare with a "cache everything" rule
/// aside) must not serve a verifier an old feed page or JWKS as news: the
/// feed is `no-store`, the JWKS `no-cache`.
#[tokio::test]
async fn feed_and_jwks_tell_caches_not_to_serve_them_stale() {
    let (state, _dir) = state().await;
    state.store.append_revocations(&[sid(1)]).await.unwrap();
    let cache_control = |uri: String| {
        let state = state.clone();
        async move {
            let response = app(state)
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap().to_owned())
        }
    };
    let (_, _, body) = get(&state, "/v1/revocations").await;
    let snapshot = RevocationFeed::from_json(std::str::from_utf8(&body).unwrap()).unwrap();
    assert_eq!(
        cache_control("/v1/revocations".into()).await.as_deref(),
        Some("no-store")
    );
    assert_eq!(
        cache_control(format!("/v1/revocations?since={}", snapshot.cursor))
            .await
            .as_deref(),
        Some("no-store")
    );
    assert_eq!(
        cache_control("/.well-known/jwks.json".into())
            .await
            .as_deref(),
        Some("no-cache")
    );
}
