//! The extractor on its own, against a real issuer on a socket: a valid
//! token passes, a revoked one is refused once the feed says so, a missing
//! one is refused, and an unreachable issuer turns into 503 after fail_after.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use tollgate_axum::{Claims, Tollgate, TollgateConfig};
use tollgate_issuer::config::Settings;
use tollgate_issuer::keys::KeyRing;
use tollgate_issuer::store::SqliteStore;
use tollgate_issuer::{AppState, Clock as _, SystemClock, serve};
use tollgate_verifier::{AccessClaims, Audience, Confirmation, RevocationEntry, Revoked, Uuid};
use tower::ServiceExt;

pub struct Issuer {
    pub url: String,
    pub state: AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

pub async fn issuer() -> Issuer {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("i.db")).await.unwrap());
    let settings = Settings {
        argon2_memory_kib: 256,
        argon2_iterations: 1,
        ..Settings::default()
    };
    let state = AppState::new(store, Arc::new(SystemClock), settings)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    Issuer {
        url,
        state,
        stop,
        _dir: dir,
    }
}

/// A duration as the milliseconds `SyncSettings` takes.
pub fn ms(duration: Duration) -> Option<u64> {
    Some(u64::try_from(duration.as_millis()).unwrap())
}

/// The system clock plus an offset the test moves forward: time rules are
/// tested by moving it rather than by sleeping.
#[derive(Clone, Default)]
pub struct ManualClock(Arc<std::sync::atomic::AtomicU64>);

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap();
        self.0.fetch_add(by, std::sync::atomic::Ordering::SeqCst);
    }
}

impl tollgate_axum::Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        tollgate_axum::SystemClock.now_ms() + self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The Unix time now, in seconds.
pub fn now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

/// Claims as the tollgate issuer makes them, for session `sid`, valid for
/// five minutes, bound to a DPoP key if `cnf` says so.
pub fn claims(sid: Uuid, cnf: Option<Confirmation>) -> AccessClaims {
    let now = now();
    AccessClaims {
        iss: "tollgate".into(),
        sub: Uuid::new_v4().to_string(),
        aud: Audience::One("tollgate-api".into()),
        iat: now,
        exp: now + 300,
        nbf: None,
        jti: Some(Uuid::new_v4().to_string()),
        sid: Some(sid.to_string()),
        roles: vec!["USER".into()],
        email: None,
        cnf,
    }
}

fn token(issuer: &Issuer) -> (String, Uuid) {
    let sid = Uuid::new_v4();
    (
        issuer.state.keys().ring.sign(&claims(sid, None)).unwrap(),
        sid,
    )
}

pub fn app(tollgate: Tollgate) -> Router {
    Router::new()
        .route(
            "/me",
            get(|Claims(claims): Claims| async move { claims.sub }),
        )
        .with_state(tollgate)
}

pub async fn call(app: &Router, token: Option<&str>) -> (StatusCode, String, Option<String>) {
    let mut request = Request::get("/me");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap(), challenge)
}

/// Valid passes; revoked (after a sync) and missing are refused with coded 401s.
#[tokio::test]
async fn valid_revoked_and_missing_tokens() {
    let issuer = issuer().await;
    let mut config = TollgateConfig::new(&issuer.url, "tollgate", "tollgate-api");
    config.sync.max_age_ms = ms(Duration::ZERO);
    let app = app(Tollgate::connect(config).await.unwrap());
    let (good, sid) = token(&issuer);

    let (status, body, _) = call(&app, Some(&good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    issuer
        .state
        .store
        .append_revocations(&[RevocationEntry {
            target: Revoked::Sid(sid),
            until: i64::MAX,
        }])
        .await
        .unwrap();
    let (status, body, challenge) = call(&app, Some(&good)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("\"code\":\"revoked\""), "{body}");
    assert!(challenge.unwrap().contains("invalid_token"));

    let (status, body, challenge) = call(&app, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("missing_token"), "{body}");
    assert_eq!(challenge.as_deref(), Some("Bearer"));

    let (status, body, _) = call(&app, Some("garbage")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("malformed"), "{body}");
}

/// With the issuer gone the last state serves until fail_after, then 503.
#[tokio::test]
async fn an_unreachable_issuer_fails_closed_after_fail_after() {
    let issuer = issuer().await;
    let mut config = TollgateConfig::new(&issuer.url, "tollgate", "tollgate-api");
    config.sync.max_age_ms = ms(Duration::ZERO);
    config.sync.fail_after_ms = ms(Duration::from_millis(300));
    let clock = ManualClock::default();
    config.clock = Arc::new(clock.clone());
    let app = app(Tollgate::connect(config).await.unwrap());
    let (good, _) = token(&issuer);
    issuer.stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // until it has stopped
    assert_eq!(call(&app, Some(&good)).await.0, StatusCode::OK);
    clock.advance(Duration::from_millis(300));
    let (status, body, _) = call(&app, Some(&good)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("revocation_state_stale"));
}

/// After `keys withdraw` at the issuer, its tokens are refused within max_age + 100 ms.
#[tokio::test]
async fn a_withdrawn_key_is_refused_within_max_age() {
    let issuer = issuer().await;
    let mut config = TollgateConfig::new(&issuer.url, "tollgate", "tollgate-api");
    config.sync.max_age_ms = ms(Duration::from_millis(200));
    let app = app(Tollgate::connect(config).await.unwrap());
    let (good, _) = token(&issuer);
    assert_eq!(call(&app, Some(&good)).await.0, StatusCode::OK);
    let kid = issuer.state.keys().ring.current_kid().to_owned();
    let policy = issuer.state.settings.key_policy();
    let now = tollgate_issuer::SystemClock.now();
    KeyRing::withdraw(issuer.state.store.as_ref(), &kid, now, &policy)
        .await
        .unwrap();
    let withdrawn = std::time::Instant::now();
    loop {
        let (status, body, _) = call(&app, Some(&good)).await;
        if status == StatusCode::UNAUTHORIZED {
            assert!(body.contains("unknown_kid"), "{body}");
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            withdrawn.elapsed() < Duration::from_millis(300),
            "a withdrawn key still verifies after {:?}",
            withdrawn.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A request without a token but with a DPoP proof is challenged with both
/// schemes (RFC 9449 §7.1); without one, with a bare Bearer.
#[tokio::test]
async fn a_missing_token_with_a_dpop_proof_is_offered_both_schemes() {
    let issuer = issuer().await;
    let config = TollgateConfig::new(&issuer.url, "tollgate", "tollgate-api");
    let app = app(Tollgate::connect(config).await.unwrap());
    let request = Request::get("/me").header("dpop", "a.b.c");
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer, DPoP algs=\"ES256 EdDSA Ed25519\""
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let (status, body, challenge) = call(&app, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("missing_token"), "{body}");
    assert_eq!(challenge.as_deref(), Some("Bearer"));
}
