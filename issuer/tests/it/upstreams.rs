//! Upstream identity providers through the issuer's HTTP API: their keys
//! fetched over a real socket from a scripted provider and republished
//! bound to their issuer, their logout tokens and security events turned
//! into feed entries, and every bad one refused with nothing revoked.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use base64ct::{Base64UrlUnpadded, Encoding};
use p256::ecdsa::signature::Signer as _;
use serde_json::{Value, json};
use tollgate_issuer::store::Store;
use tollgate_verifier::{KeySet, RevocationSet, Revoked, Verifier, VerifierOptions};

use crate::support::*;

const BCL: &str = "http://schemas.openid.net/event/backchannel-logout";
const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn es_key(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap()
}

fn es_jwk(key: &p256::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
}

/// A compact JWS with this header and payload, signed ES256 by `key`.
fn sign(header: Value, claims: &Value, key: &p256::ecdsa::SigningKey) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

/// A provider scripted over a real socket: discovery and a JWKS the test
/// can change.
struct Provider {
    issuer: String,
    jwks: Arc<Mutex<Value>>,
    key: p256::ecdsa::SigningKey,
}

impl Provider {
    async fn start(seed: u8) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let key = es_key(seed);
        let jwks = Arc::new(Mutex::new(json!({"keys": [es_jwk(&key, "k1")]})));
        let document = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
        let served = Arc::clone(&jwks);
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let document = document.clone();
                    async move { axum::Json(document) }
                }),
            )
            .route(
                "/jwks",
                get(move || {
                    let jwks = served.lock().unwrap().clone();
                    async move { axum::Json(jwks) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Provider { issuer, jwks, key }
    }

    fn logout_claims(&self, sub: &str, sid: &str) -> Value {
        json!({
            "iss": self.issuer, "aud": "tollgate", "iat": NOW - 1, "exp": NOW + 120,
            "jti": format!("j-{sid}"), "sub": sub, "sid": sid, "events": {BCL: {}},
        })
    }

    fn logout_token(&self, claims: &Value) -> String {
        sign(
            json!({"alg": "ES256", "kid": "k1", "typ": "logout+jwt"}),
            claims,
            &self.key,
        )
    }

    fn access_token(&self, sub: &str, sid: &str) -> String {
        let claims = json!({
            "iss": self.issuer, "sub": sub, "aud": "tollgate-api", "iat": NOW - 5,
            "exp": NOW + 300, "jti": format!("at-{sid}"), "sid": sid,
            "realm_access": {"roles": ["todo"]},
        });
        sign(
            json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}),
            &claims,
            &self.key,
        )
    }
}

/// An issuer trusting providers `a` and `b`, with `a`'s and `b`'s keys fetched.
async fn issuer_with(
    store: Arc<dyn Store>,
    a: &Provider,
    b: &Provider,
) -> (Issuer, tempfile::TempDir) {
    issuer_with_settings(store, a, b, test_settings()).await
}

async fn issuer_with_settings(
    store: Arc<dyn Store>,
    a: &Provider,
    b: &Provider,
    settings: tollgate_issuer::config::Settings,
) -> (Issuer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("upstreams.toml");
    let entry = |name: &str, p: &Provider| {
        format!(
            "[[upstream]]\nname = \"{name}\"\nissuer = \"{}\"\naudiences = [\"tollgate-api\"]\n\
             client_id = \"tollgate\"\nalgorithms = [\"ES256\"]\nroles_claim = \"realm_access.roles\"\n\
             max_token_lifetime_secs = 600\n",
            p.issuer
        )
    };
    std::fs::write(&file, format!("{}\n{}", entry("a", a), entry("b", b))).unwrap();
    let settings = tollgate_issuer::config::Settings {
        upstreams: Some(file),
        ..settings
    };
    let issuer = Issuer::with(store, settings).await;
    for name in ["a", "b"] {
        let provider = issuer.state.upstreams.get(name).unwrap();
        tollgate_issuer::upstream::refresh(&issuer.state, provider)
            .await
            .unwrap();
    }
    (issuer, dir)
}

impl Issuer {
    async fn post(&self, path: &str, content_type: &str, body: String) -> Reply {
        let request = Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    async fn logout(&self, upstream: &str, token: &str) -> Reply {
        self.post(
            &format!("/v1/upstreams/{upstream}/backchannel-logout"),
            "application/x-www-form-urlencoded",
            format!("logout_token={token}"),
        )
        .await
    }
}

/// A valid logout token of `a` revokes that session of `a`: 200 with
/// `no-store`, an issuer-scoped entry on the feed, and an edge verifier
/// built from the JWKS and the feed refuses `a`'s token of that session,
/// while `b`'s token with the same `sid` and the same `kid` still passes.
async fn a_logout_revokes_that_session_of_that_provider(store: Arc<dyn Store>) {
    let (a, b) = (Provider::start(31).await, Provider::start(32).await);
    let (issuer, _dir) = issuer_with(store, &a, &b).await;
    let edge = issuer.edge_verifier().await;
    let token_a = a.access_token("alice", "s-1");
    let token_b = b.access_token("alice", "s-1");
    let empty = RevocationSet::new();
    let verified = edge.verify(&token_a, NOW, &empty).unwrap();
    assert_eq!(verified.roles, ["todo"]);
    assert!(edge.verify(&token_b, NOW, &empty).is_ok());

    let reply = issuer
        .logout("a", &a.logout_token(&a.logout_claims("alice", "s-1")))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));

    let feed = issuer.feed().await;
    assert_eq!(
        feed.revoked
            .iter()
            .map(|e| e.target.clone())
            .collect::<Vec<_>>(),
        [Revoked::UpstreamSid {
            iss: a.issuer.clone(),
            sid: "s-1".into()
        }
        .published()]
    );
    assert_eq!(feed.revoked[0].until, NOW + 600 + 30);
    let mut set = RevocationSet::new();
    set.apply(&feed);
    assert_eq!(
        edge.verify(&token_a, NOW, &set)
            .unwrap_err()
            .code()
            .as_str(),
        "revoked"
    );
    assert!(edge.verify(&token_b, NOW, &set).is_ok());

    // The same token again is a replay: refused, nothing more on the feed.
    let again = issuer
        .logout("a", &a.logout_token(&a.logout_claims("alice", "s-1")))
        .await;
    assert_eq!(again.status, 400);
    assert!(
        again.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("replayed")
    );
    assert_eq!(issuer.feed().await.revoked.len(), 1);
}
on_both!(a_logout_revokes_that_session_of_that_provider);

/// Every bad logout token is refused with 400 `invalid_request` naming
/// its code, and none of them puts anything on the feed.
async fn bad_logout_tokens_revoke_nothing(store: Arc<dyn Store>) {
    let (a, b) = (Provider::start(41).await, Provider::start(42).await);
    let (issuer, _dir) = issuer_with(store, &a, &b).await;
    let good = a.logout_claims("alice", "s-2");
    let with = |name: &str, value: Value| {
        let mut claims = good.clone();
        claims[name] = value;
        a.logout_token(&claims)
    };
    let without = |name: &str| {
        let mut claims = good.clone();
        claims.as_object_mut().unwrap().remove(name);
        a.logout_token(&claims)
    };
    let header = json!({"alg": "ES256", "kid": "k1", "typ": "logout+jwt"});
    let public_x = es_jwk(&a.key, "k1")["x"].as_str().unwrap().to_owned();
    let hs256 = {
        use hmac::Mac as _;
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256","kid":"k1"}"#),
            b64(good.to_string().as_bytes())
        );
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(public_x.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", b64(&mac.finalize().into_bytes()))
    };
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","kid":"k1"}"#),
        b64(good.to_string().as_bytes())
    );
    let mut of_b = b.logout_claims("alice", "s-2");
    of_b["aud"] = json!("tollgate");
    let cases = [
        ("bad_signature", sign(header.clone(), &good, &es_key(99))),
        ("bad_signature", sign(header.clone(), &good, &b.key)),
        ("wrong_issuer", b.logout_token(&of_b)),
        ("unsupported_alg", none),
        ("unsupported_alg", hs256),
        (
            "wrong_issuer",
            with("iss", json!("https://elsewhere.example")),
        ),
        ("wrong_audience", with("aud", json!("someone-else"))),
        ("nonce_present", with("nonce", json!("abc"))),
        ("wrong_event", without("events")),
        ("wrong_event", with("events", json!({SESSION_REVOKED: {}}))),
        ("expired", with("exp", json!(NOW - 60))),
        ("too_old", {
            let mut claims = good.clone();
            claims["iat"] = json!(NOW - 1000);
            claims.as_object_mut().unwrap().remove("exp");
            a.logout_token(&claims)
        }),
        ("not_yet_valid", with("iat", json!(NOW + 120))),
        ("missing_claim", without("jti")),
        ("no_subject", {
            let mut claims = good.clone();
            let object = claims.as_object_mut().unwrap();
            object.remove("sub");
            object.remove("sid");
            a.logout_token(&claims)
        }),
        ("too_large", with("pad", json!("x".repeat(9000)))),
        ("malformed", "not.a.token".to_owned()),
    ];
    for (code, token) in cases {
        let reply = issuer.logout("a", &token).await;
        assert_eq!(reply.status, 400, "{code}: {:?}", reply.body);
        assert_eq!(reply.body["error"], "invalid_request");
        let description = reply.body["error_description"].as_str().unwrap();
        assert!(description.starts_with(code), "{code}: {description}");
    }
    // Not a form, two tokens, no token.
    for (content_type, body) in [
        (
            "application/json",
            json!({"logout_token": a.logout_token(&good)}).to_string(),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("logout_token={0}&logout_token={0}", a.logout_token(&good)),
        ),
        ("application/x-www-form-urlencoded", "token=x".to_owned()),
    ] {
        let reply = issuer
            .post("/v1/upstreams/a/backchannel-logout", content_type, body)
            .await;
        assert_eq!(reply.status, 400, "{content_type}: {:?}", reply.body);
    }
    // An unknown upstream name is a 404 problem.
    issuer
        .logout("nobody", &a.logout_token(&good))
        .await
        .assert_problem(404, "not_found");
    assert!(
        issuer.feed().await.revoked.is_empty(),
        "nothing was revoked"
    );
}
on_both!(bad_logout_tokens_revoke_nothing);

/// SSF push: a CAEP session-revoked SET is accepted with 202; bad ones
/// get RFC 8935's `{"err","description"}`; only the good one is on the feed.
async fn security_events_pushed(store: Arc<dyn Store>) {
    let (a, b) = (Provider::start(51).await, Provider::start(52).await);
    let (issuer, _dir) = issuer_with(store, &a, &b).await;
    let set = |claims: &Value, key: &p256::ecdsa::SigningKey| {
        sign(
            json!({"alg": "ES256", "kid": "k1", "typ": "secevent+jwt"}),
            claims,
            key,
        )
    };
    let claims = json!({
        "iss": a.issuer, "aud": "tollgate", "iat": NOW - 1, "jti": "set-1",
        "sub_id": {"format": "iss_sub", "iss": a.issuer, "sub": "bob"},
        "events": {SESSION_REVOKED: {"event_timestamp": NOW - 2}},
    });
    let push = |body: String, content_type: &'static str| {
        let issuer = issuer.clone();
        async move {
            issuer
                .post("/v1/upstreams/a/events", content_type, body)
                .await
        }
    };
    let reply = push(set(&claims, &a.key), "application/secevent+jwt").await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);

    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("other");
    wrong_aud["jti"] = json!("set-2");
    for (body, content_type, err) in [
        (
            set(&claims, &a.key),
            "application/secevent+jwt",
            "invalid_request",
        ), // replay
        (
            set(&claims, &b.key),
            "application/secevent+jwt",
            "invalid_key",
        ),
        (
            set(&wrong_aud, &a.key),
            "application/secevent+jwt",
            "invalid_audience",
        ),
        (set(&claims, &a.key), "application/jwt", "invalid_request"),
        (
            a.logout_token(&a.logout_claims("bob", "s")),
            "application/secevent+jwt",
            "invalid_request",
        ),
    ] {
        let reply = push(body, content_type).await;
        assert_eq!(reply.status, 400, "{err}: {:?}", reply.body);
        assert_eq!(reply.body["err"], err, "{:?}", reply.body);
    }
    let feed = issuer.feed().await;
    assert_eq!(
        feed.revoked
            .iter()
            .map(|e| e.target.clone())
            .collect::<Vec<_>>(),
        [Revoked::Subject {
            iss: Some(a.issuer.clone()),
            sub: "bob".into(),
            before: NOW - 2
        }
        .published()]
    );
    // The public feed names nobody.
    let raw = issuer
        .call("GET", "/v1/revocations", None, None)
        .await
        .body
        .to_string();
    assert!(!raw.contains("bob"), "{raw}");
}
on_both!(security_events_pushed);

/// "Remove the public key to revoke": a key gone from the provider's JWKS
/// leaves the issuer's JWKS on the next fetch, with a new key-set version
/// on the JWKS and the feed alike, and its tokens stop verifying.
#[tokio::test]
async fn a_key_removed_at_the_provider_leaves_the_published_jwks() {
    let (store, _db) = sqlite().await;
    let (a, b) = (Provider::start(61).await, Provider::start(62).await);
    let (issuer, _dir) = issuer_with(store, &a, &b).await;
    let jwks = issuer
        .call("GET", "/.well-known/jwks.json", None, None)
        .await
        .body;
    // A verifier that knows nothing of upstreams (any JOSE library) reads
    // `keys`: no upstream key may be there.
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|key| key.get("iss").is_none()),
        "{jwks}"
    );
    let bound: Vec<&Value> = jwks["upstream_keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|key| key["iss"] == json!(a.issuer))
        .collect();
    assert_eq!(bound.len(), 1);
    assert_eq!(jwks["upstreams"].as_array().unwrap().len(), 2);
    let before = jwks["keys_version"].clone();
    assert_eq!(
        issuer.feed().await.keys.as_ref(),
        before.as_str().map(str::to_owned).as_ref()
    );
    let token = a.access_token("carol", "s-3");
    assert!(
        issuer
            .edge_verifier()
            .await
            .verify(&token, NOW, &RevocationSet::new())
            .is_ok()
    );

    *a.jwks.lock().unwrap() = json!({"keys": [es_jwk(&es_key(63), "k2")]});
    tollgate_issuer::upstream::refresh(&issuer.state, issuer.state.upstreams.get("a").unwrap())
        .await
        .unwrap();
    let jwks = issuer
        .call("GET", "/.well-known/jwks.json", None, None)
        .await
        .body;
    assert_ne!(jwks["keys_version"], before);
    assert_eq!(
        issuer.feed().await.keys.as_ref(),
        jwks["keys_version"].as_str().map(str::to_owned).as_ref()
    );
    let keys = KeySet::from_json(&jwks.to_string()).unwrap();
    let edge = Verifier::new(VerifierOptions::new("tollgate", "tollgate-api"), keys);
    assert_eq!(
        edge.verify(&token, NOW, &RevocationSet::new())
            .unwrap_err()
            .code()
            .as_str(),
        "unknown_kid"
    );
    // A fetch that finds the same keys moves nothing.
    tollgate_issuer::upstream::refresh(&issuer.state, issuer.state.upstreams.get("a").unwrap())
        .await
        .unwrap();
    let again = issuer
        .call("GET", "/.well-known/jwks.json", None, None)
        .await
        .body;
    assert_eq!(again["keys_version"], jwks["keys_version"]);
}

/// A logout token signed by a key the provider published after the last
/// fetch is accepted: the unknown `kid` makes the issuer fetch once more.
#[tokio::test]
async fn an_unknown_kid_fetches_the_providers_keys_once_more() {
    let (store, _db) = sqlite().await;
    let (a, b) = (Provider::start(71).await, Provider::start(72).await);
    let (issuer, _dir) = issuer_with(store, &a, &b).await;
    let new_key = es_key(73);
    *a.jwks.lock().unwrap() = json!({"keys": [es_jwk(&a.key, "k1"), es_jwk(&new_key, "k2")]});
    let token = sign(
        json!({"alg": "ES256", "kid": "k2", "typ": "logout+jwt"}),
        &a.logout_claims("dave", "s-4"),
        &new_key,
    );
    let reply = issuer.logout("a", &token).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // A made-up kid right after is refused without another fetch.
    let made_up = sign(
        json!({"alg": "ES256", "kid": "k9", "typ": "logout+jwt"}),
        &a.logout_claims("dave", "s-5"),
        &new_key,
    );
    // It may be a key the provider added since: not a final refusal, but
    // one to try again after the cooldown (the provider retries; the next
    // periodic fetch has the key by then).
    let reply = issuer.logout("a", &made_up).await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("10"));
    assert_eq!(reply.body["error"], "temporarily_unavailable");
    assert_eq!(
        issuer.feed().await.revoked.len(),
        1,
        "only the first logout"
    );
}

/// An anonymous caller who sends a made-up `kid` first cannot make a
/// genuine logout signed by the provider's new key be refused for good.
#[tokio::test]
async fn a_forged_unknown_kid_cannot_turn_away_a_genuine_new_key() {
    let (store, _db) = sqlite().await;
    let (a, b) = (Provider::start(74).await, Provider::start(75).await);
    let (issuer, _dir) = issuer_with(store, &a, &b).await;
    let forged = sign(
        json!({"alg": "ES256", "kid": "made-up", "typ": "logout+jwt"}),
        &a.logout_claims("eve", "s-6"),
        &es_key(99),
    );
    assert_eq!(issuer.logout("a", &forged).await.status, 503);
    let new_key = es_key(76);
    *a.jwks.lock().unwrap() = json!({"keys": [es_jwk(&a.key, "k1"), es_jwk(&new_key, "k2")]});
    let genuine = sign(
        json!({"alg": "ES256", "kid": "k2", "typ": "logout+jwt"}),
        &a.logout_claims("frank", "s-7"),
        &new_key,
    );
    let reply = issuer.logout("a", &genuine).await;
    assert_eq!(
        reply.status, 503,
        "retryable, not a final 400: {:?}",
        reply.body
    );
    // Once the provider's keys are fetched again (the periodic refresh),
    // the retry is accepted.
    tollgate_issuer::upstream::refresh(&issuer.state, issuer.state.upstreams.get("a").unwrap())
        .await
        .unwrap();
    assert_eq!(issuer.logout("a", &genuine).await.status, 200);
}

/// The revocation log keeps its indexes across the migration that rebuilt
/// it on SQLite: `is_revoked`, on every Bearer request, looks up `target`.
#[tokio::test]
async fn the_sqlite_log_keeps_its_indexes() {
    let (_store, dir) = sqlite().await;
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite:{}",
        dir.path().join("issuer.db").display()
    ))
    .await
    .unwrap();
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_index_list('revocations') ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        names.contains(&"revocations_target".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"revocations_until".to_owned()), "{names:?}");
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM revocations WHERE target IN (x'00', x'01')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        plan.iter().any(|row| row.3.contains("revocations_target")),
        "{plan:?}"
    );
}

/// An address whose announcements keep being refused is answered 429
/// before any signature is checked (a flood of forgeries costs no RSA),
/// and nothing it sends is stored; another address is not held up.
#[tokio::test]
async fn an_address_that_sends_forgeries_is_limited_before_the_signature() {
    let (store, _db) = sqlite().await;
    let (a, b) = (Provider::start(81).await, Provider::start(82).await);
    let settings = tollgate_issuer::config::Settings {
        token_failures_per_address: 3,
        ..test_settings()
    };
    let (issuer, _dir) = issuer_with_settings(store, &a, &b, settings).await;
    let forged = sign(
        json!({"alg": "ES256", "kid": "k1", "typ": "logout+jwt"}),
        &a.logout_claims("gina", "s-8"),
        &es_key(98),
    );
    for _ in 0..3 {
        assert_eq!(issuer.logout("a", &forged).await.status, 400);
    }
    let limited = issuer.logout("a", &forged).await;
    assert_eq!(limited.status, 429, "{:?}", limited.body);
    assert!(limited.header("retry-after").is_some());
    // Even a valid one from that address waits out the window.
    let genuine = a.logout_token(&a.logout_claims("gina", "s-8"));
    assert_eq!(issuer.logout("a", &genuine).await.status, 429);
    assert!(issuer.feed().await.revoked.is_empty());
    let window = tollgate_issuer::config::defaults::RATE_WINDOW_SECS;
    issuer.clock.advance(window);
    let mut later = a.logout_claims("gina", "s-8");
    later["iat"] = json!(NOW + window);
    later["exp"] = json!(NOW + window + 120);
    assert_eq!(
        issuer.logout("a", &a.logout_token(&later)).await.status,
        200
    );
}

/// A body over the size limit is refused in each standard's own error
/// shape (OIDC Back-Channel Logout §2.8, RFC 8935 §2.4) with nothing
/// revoked, as every other refused announcement is: never the extractor's
/// plain-text 413, which neither the document nor a provider expects.
#[tokio::test]
async fn an_oversized_announcement_is_refused_in_the_standards_shape() {
    let (store, _db) = sqlite().await;
    let (a, b) = (Provider::start(83).await, Provider::start(84).await);
    let (issuer, _dir) = issuer_with(store, &a, &b).await;
    let big = "a".repeat(tollgate_issuer::BODY_LIMIT + 1);
    let logout = issuer
        .post(
            "/v1/upstreams/a/backchannel-logout",
            "application/x-www-form-urlencoded",
            format!("logout_token={big}"),
        )
        .await;
    assert_eq!(logout.status, 400, "{:?}", logout.body);
    assert_eq!(logout.header("content-type"), Some("application/json"));
    assert_eq!(logout.body["error"], "invalid_request");
    let event = issuer
        .post("/v1/upstreams/a/events", "application/secevent+jwt", big)
        .await;
    assert_eq!(event.status, 400, "{:?}", event.body);
    assert_eq!(event.header("content-type"), Some("application/json"));
    assert_eq!(event.body["err"], "invalid_request");
    assert!(issuer.feed().await.revoked.is_empty());
}

/// A body cut off or too slow to arrive (the client went away, or the
/// body timeout struck) says nothing about the announcement: a 503 to try
/// again, in the standard's shape, not counted against the address; a
/// 400 would tell the provider never to send it again.
#[tokio::test]
async fn a_body_cut_off_is_try_again_not_malformed() {
    let (store, _db) = sqlite().await;
    let (a, b) = (Provider::start(85).await, Provider::start(86).await);
    let settings = tollgate_issuer::config::Settings {
        token_failures_per_address: 1,
        ..test_settings()
    };
    let (issuer, _dir) = issuer_with_settings(store, &a, &b, settings).await;
    let cut_off = |path: &str, content_type: &str| {
        let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = vec![
            Ok(axum::body::Bytes::from_static(b"logout_token=eyJ")),
            Err(std::io::Error::other("the client went away")),
        ];
        Request::post(path)
            .header("content-type", content_type)
            .body(Body::from_stream(futures_util::stream::iter(chunks)))
            .unwrap()
    };
    for (path, content_type, field) in [
        (
            "/v1/upstreams/a/backchannel-logout",
            "application/x-www-form-urlencoded",
            "error",
        ),
        ("/v1/upstreams/a/events", "application/secevent+jwt", "err"),
    ] {
        for _ in 0..2 {
            let reply = issuer.send(cut_off(path, content_type)).await;
            assert_eq!(reply.status, 503, "{path}: {:?}", reply.body);
            assert!(reply.header("retry-after").is_some());
            assert_eq!(reply.body[field], "temporarily_unavailable");
        }
    }
    // Not counted: with a limit of one refusal, a genuine logout still lands.
    let genuine = a.logout_token(&a.logout_claims("hana", "s-9"));
    assert_eq!(issuer.logout("a", &genuine).await.status, 200);
}
