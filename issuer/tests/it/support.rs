//! Stores on real databases, and a fixed clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tollgate_issuer::config::Settings;
use tollgate_issuer::http::accounts;
use tollgate_issuer::store::{PostgresStore, SqliteStore, Store};
use tollgate_issuer::{AppState, Clock, app};
use tollgate_verifier::{
    KeySet, RevocationEntry, RevocationFeed, Revoked, Uuid, Verifier, VerifierOptions,
};
use tower::ServiceExt;

pub const NOW: i64 = 1_763_820_000;

pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0
    }
}

/// A SQLite store in a fresh directory (kept alive by the returned guard).
pub async fn sqlite() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("issuer.db"))
        .await
        .unwrap();
    (Arc::new(store), dir)
}

/// The Postgres server the tests use (`TOLLGATE_TEST_POSTGRES_URL`, which
/// `make test` sets), or `None` when `TOLLGATE_SKIP_POSTGRES=1` says to skip
/// them on purpose. Neither set: the test fails, naming both, so a plain
/// `cargo test` never passes the Postgres half without running it.
pub fn postgres_url() -> Option<String> {
    postgres_url_from(
        std::env::var("TOLLGATE_TEST_POSTGRES_URL").ok(),
        std::env::var("TOLLGATE_SKIP_POSTGRES").ok(),
    )
}

/// [`postgres_url`] from the two variables' values.
pub fn postgres_url_from(url: Option<String>, skip: Option<String>) -> Option<String> {
    if let Some(url) = url.filter(|u| !u.is_empty()) {
        return Some(url);
    }
    assert!(
        skip.as_deref() == Some("1"),
        "the Postgres half of this test needs a server: set TOLLGATE_TEST_POSTGRES_URL \
         (scripts/postgres-url.sh prints it; make test sets it), or TOLLGATE_SKIP_POSTGRES=1 \
         to skip it on purpose"
    );
    eprintln!("TOLLGATE_SKIP_POSTGRES=1: this Postgres test is SKIPPED");
    None
}

/// A fresh, empty database on that server; returns its URL.
pub async fn fresh_postgres_database(server: &str) -> String {
    let name = format!("tollgate_test_{}", Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(server).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = server.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

pub async fn postgres(server: &str) -> Arc<dyn Store> {
    Arc::new(
        PostgresStore::open(&fresh_postgres_database(server).await)
            .await
            .unwrap(),
    )
}

pub fn sid(n: u128) -> RevocationEntry {
    RevocationEntry {
        target: Revoked::Sid(Uuid::from_u128(n)),
        until: NOW + 330,
    }
}

pub fn jti(n: u128, until: i64) -> RevocationEntry {
    RevocationEntry {
        target: Revoked::Jti(Uuid::from_u128(n)),
        until,
    }
}

/// A clock tests move by hand.
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn at(now: i64) -> Arc<Self> {
        Arc::new(TestClock(AtomicI64::new(now)))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Default settings but a cheap Argon2, so tests do not crawl.
pub fn test_settings() -> Settings {
    Settings {
        argon2_memory_kib: 256,
        argon2_iterations: 1,
        ..Settings::default()
    }
}

pub const PASSWORD: &str = "correct horse battery";

/// A response: status, headers and body (parsed as JSON where it is JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Asserts a problem+json with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.body["code"], code, "{:?}", self.body);
        assert_eq!(self.body["status"], status);
    }
}

/// An issuer driven through its router, with a clock the test moves.
#[derive(Clone)]
pub struct Issuer {
    pub state: AppState,
    pub clock: Arc<TestClock>,
}

/// Tokens from a login or refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub session: String,
}

impl Issuer {
    pub async fn new(store: Arc<dyn Store>) -> Self {
        Self::with(store, test_settings()).await
    }

    pub async fn with(store: Arc<dyn Store>, settings: Settings) -> Self {
        let clock = TestClock::at(NOW);
        let state = AppState::new(store, clock.clone(), settings).await.unwrap();
        Issuer { state, clock }
    }

    /// Sends a request through the router.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `method uri` with an optional Bearer token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    pub async fn signup(&self, email: &str) -> Value {
        let reply = self
            .call(
                "POST",
                "/v1/auth/signup",
                None,
                Some(json!({"email": email, "password": PASSWORD, "name": "Test User"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body
    }

    /// Creates an admin as `user add --admin` does.
    pub async fn admin(&self, email: &str) -> Value {
        let user = accounts::create_user(&self.state, email, PASSWORD.into(), "Admin", true)
            .await
            .unwrap();
        json!({"id": user.id})
    }

    pub async fn try_login(&self, email: &str, password: &str, device: &str) -> Reply {
        self.call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password, "device": {"id": device, "type": "browser"}})),
        )
        .await
    }

    pub async fn login(&self, email: &str, device: &str) -> Tokens {
        let reply = self.try_login(email, PASSWORD, device).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        tokens(&reply)
    }

    pub async fn try_refresh(&self, refresh: &str) -> Reply {
        self.call(
            "POST",
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await
    }

    /// `GET /v1/users/me`: the simplest authenticated call.
    pub async fn me(&self, access: &str) -> Reply {
        self.call("GET", "/v1/users/me", Some(access), None).await
    }

    /// Every revocation on the feed, from a snapshot.
    pub async fn feed(&self) -> RevocationFeed {
        let reply = self.call("GET", "/v1/revocations", None, None).await;
        assert_eq!(reply.status, StatusCode::OK);
        RevocationFeed::from_json(&reply.body.to_string()).unwrap()
    }

    /// A verifier configured as an edge would be: from the JWKS route.
    pub async fn edge_verifier(&self) -> Verifier {
        let jwks = self.call("GET", "/.well-known/jwks.json", None, None).await;
        let keys = KeySet::from_json(&jwks.body.to_string()).unwrap();
        let settings = &self.state.settings;
        Verifier::new(
            VerifierOptions::new(&settings.issuer, &settings.audience),
            keys,
        )
    }
}

pub fn tokens(reply: &Reply) -> Tokens {
    Tokens {
        access: reply.body["access_token"].as_str().unwrap().to_owned(),
        refresh: reply.body["refresh_token"].as_str().unwrap().to_owned(),
        session: reply.body["session_id"].as_str().unwrap().to_owned(),
    }
}

/// Whether the feed revokes this session id.
pub fn revokes_sid(feed: &RevocationFeed, sid: &str) -> bool {
    let sid: Uuid = sid.parse().unwrap();
    feed.revoked.iter().any(|e| e.target == Revoked::Sid(sid))
}

/// One HTTP/1.1 request over a real connection: status, head, body.
pub async fn raw_http(
    addr: impl tokio::net::ToSocketAddrs,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: issuer\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (
        head[9..12].parse().unwrap(),
        head.to_owned(),
        body.to_owned(),
    )
}
