//! DPoP at the issuer (RFC 9449): a login with a proof binds the session to
//! the key; its refresh needs a proof from that key; its access tokens need
//! a proof at the issuer's own Bearer routes; server nonces; `--require-dpop`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use base64ct::{Base64UrlUnpadded, Encoding};
use p256::ecdsa::signature::Signer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tollgate_issuer::config::Settings;
use tollgate_issuer::store::Store;
use tollgate_verifier::dpop::ReplayCache;
use tollgate_verifier::{Jwk, RevocationSet};

use crate::support::*;

const PUBLIC: &str = "https://issuer.test";

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// A device's ES256 key, as a browser's WebCrypto would hold it.
struct Device(p256::ecdsa::SigningKey);

impl Device {
    fn new(seed: u8) -> Self {
        Device(p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap())
    }

    fn jwk(&self) -> Value {
        let point = self.0.verifying_key().to_encoded_point(false);
        json!({"kty": "EC", "crv": "P-256",
               "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
    }

    fn jkt(&self) -> String {
        tollgate_verifier::dpop::thumbprint(&Jwk::from_json(&self.jwk().to_string()).unwrap())
    }

    /// A proof for `method` on `path` at [`PUBLIC`], with `token`'s hash and `nonce` if given.
    fn proof(&self, method: &str, path: &str, token: Option<&str>, nonce: Option<&str>) -> String {
        let mut claims = json!({
            "jti": tollgate_verifier::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": format!("{PUBLIC}{path}"),
            "iat": NOW,
        });
        if let Some(token) = token {
            claims["ath"] = json!(b64(&Sha256::digest(token.as_bytes())));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk()});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature: p256::ecdsa::Signature = self.0.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature.to_bytes()))
    }
}

fn settings(adjust: impl FnOnce(&mut Settings)) -> Settings {
    let mut settings = Settings {
        public_url: vec![PUBLIC.into()],
        ..test_settings()
    };
    adjust(&mut settings);
    settings
}

/// `POST path` with a JSON body, an optional `Authorization` and `DPoP` headers.
async fn post(
    issuer: &Issuer,
    path: &str,
    authorization: Option<String>,
    proofs: &[String],
    body: Value,
) -> Reply {
    let mut request = Request::post(path).header("content-type", "application/json");
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    for proof in proofs {
        request = request.header("dpop", proof);
    }
    issuer
        .send(request.body(Body::from(body.to_string())).unwrap())
        .await
}

async fn get(issuer: &Issuer, path: &str, authorization: String, proofs: &[String]) -> Reply {
    let mut request = Request::get(path).header("authorization", authorization);
    for proof in proofs {
        request = request.header("dpop", proof);
    }
    issuer.send(request.body(Body::empty()).unwrap()).await
}

fn login_body(device: &str) -> Value {
    json!({"email": "ada@example.com", "password": PASSWORD, "device": {"id": device, "type": "browser"}})
}

async fn bound_login(issuer: &Issuer, device: &Device) -> Tokens {
    let proof = device.proof("POST", "/v1/auth/login", None, None);
    let reply = post(
        issuer,
        "/v1/auth/login",
        None,
        &[proof],
        login_body("phone"),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["token_type"], "DPoP");
    tokens(&reply)
}

on_both!(a_login_with_a_proof_binds_the_session_and_its_tokens);
/// The access token carries `cnf.jkt`, is refused as Bearer, and passes at
/// the issuer's own routes with a proof of the key.
async fn a_login_with_a_proof_binds_the_session_and_its_tokens(store: Arc<dyn Store>) {
    let issuer = Issuer::with(store, settings(|_| {})).await;
    issuer.signup("ada@example.com").await;
    let device = Device::new(3);
    let tokens = bound_login(&issuer, &device).await;
    let verified = issuer
        .edge_verifier()
        .await
        .inspect(&tokens.access, NOW, &RevocationSet::new())
        .unwrap();
    assert_eq!(verified.cnf.as_ref().unwrap().jkt, device.jkt());

    let as_bearer = issuer.me(&tokens.access).await;
    as_bearer.assert_problem(401, "invalid_dpop_proof");
    assert_eq!(
        as_bearer.header("www-authenticate"),
        Some(r#"DPoP algs="ES256 EdDSA Ed25519", error="invalid_dpop_proof""#)
    );
    let auth = format!("DPoP {}", tokens.access);
    let no_proof = get(&issuer, "/v1/users/me", auth.clone(), &[]).await;
    no_proof.assert_problem(401, "invalid_dpop_proof");
    let proof = device.proof("GET", "/v1/users/me", Some(&tokens.access), None);
    let me = get(
        &issuer,
        "/v1/users/me",
        auth.clone(),
        std::slice::from_ref(&proof),
    )
    .await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    // The same proof again is a replay.
    get(&issuer, "/v1/users/me", auth.clone(), &[proof])
        .await
        .assert_problem(401, "invalid_dpop_proof");
    // A proof of another key, or for another route, does not do.
    let thief = Device::new(5).proof("GET", "/v1/users/me", Some(&tokens.access), None);
    get(&issuer, "/v1/users/me", auth.clone(), &[thief])
        .await
        .assert_problem(401, "invalid_dpop_proof");
    let elsewhere = device.proof("GET", "/v1/sessions", Some(&tokens.access), None);
    get(&issuer, "/v1/users/me", auth.clone(), &[elsewhere])
        .await
        .assert_problem(401, "invalid_dpop_proof");

    let sessions = get(
        &issuer,
        "/v1/sessions",
        auth.clone(),
        &[device.proof("GET", "/v1/sessions", Some(&tokens.access), None)],
    )
    .await;
    assert_eq!(sessions.body["sessions"][0]["dpop_bound"], true);

    let logout = post(
        &issuer,
        "/v1/auth/logout",
        Some(auth),
        &[device.proof("POST", "/v1/auth/logout", Some(&tokens.access), None)],
        json!({}),
    )
    .await;
    assert_eq!(logout.status, 204, "{:?}", logout.body);
    assert!(revokes_sid(&issuer.feed().await, &tokens.session));
}

on_both!(a_bound_refresh_token_is_useless_without_its_key);
/// A thief with the refresh token but not the key gets 400
/// `invalid_dpop_proof`, and nothing rotates: the device refreshes after.
async fn a_bound_refresh_token_is_useless_without_its_key(store: Arc<dyn Store>) {
    let issuer = Issuer::with(store, settings(|_| {})).await;
    issuer.signup("ada@example.com").await;
    let device = Device::new(3);
    let tokens = bound_login(&issuer, &device).await;
    let body = json!({"refresh_token": tokens.refresh});

    post(&issuer, "/v1/auth/refresh", None, &[], body.clone())
        .await
        .assert_problem(400, "invalid_dpop_proof");
    let thief = Device::new(5).proof("POST", "/v1/auth/refresh", None, None);
    post(&issuer, "/v1/auth/refresh", None, &[thief], body.clone())
        .await
        .assert_problem(400, "invalid_dpop_proof");

    let proof = device.proof("POST", "/v1/auth/refresh", None, None);
    let refreshed = post(&issuer, "/v1/auth/refresh", None, &[proof], body).await;
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    assert_eq!(refreshed.body["token_type"], "DPoP");
    let next = crate::support::tokens(&refreshed);
    assert_eq!(next.session, tokens.session);
    let verified = issuer
        .edge_verifier()
        .await
        .inspect(&next.access, NOW, &RevocationSet::new())
        .unwrap();
    assert_eq!(verified.cnf.as_ref().unwrap().jkt, device.jkt());
    // Nothing the thief did counted as reuse.
    assert!(!revokes_sid(&issuer.feed().await, &tokens.session));
}

on_both!(bad_proofs_at_login_are_refused_before_the_password_is_checked);
/// Two proofs, a replayed proof, a proof for another URL: 400 `invalid_dpop_proof`, no session.
async fn bad_proofs_at_login_are_refused_before_the_password_is_checked(store: Arc<dyn Store>) {
    let issuer = Issuer::with(store, settings(|_| {})).await;
    issuer.signup("ada@example.com").await;
    let device = Device::new(3);
    let proof = device.proof("POST", "/v1/auth/login", None, None);
    let two = [
        proof.clone(),
        device.proof("POST", "/v1/auth/login", None, None),
    ];
    post(&issuer, "/v1/auth/login", None, &two, login_body("a"))
        .await
        .assert_problem(400, "invalid_dpop_proof");
    let wrong_url = device.proof("POST", "/v1/auth/refresh", None, None);
    post(
        &issuer,
        "/v1/auth/login",
        None,
        &[wrong_url],
        login_body("a"),
    )
    .await
    .assert_problem(400, "invalid_dpop_proof");
    let first = post(
        &issuer,
        "/v1/auth/login",
        None,
        std::slice::from_ref(&proof),
        login_body("a"),
    )
    .await;
    assert_eq!(first.status, 200);
    let replay = post(&issuer, "/v1/auth/login", None, &[proof], login_body("a")).await;
    replay.assert_problem(400, "invalid_dpop_proof");
    assert!(
        replay.body["detail"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
}

on_both!(nonces_are_asked_for_then_accepted);
/// With `--dpop-nonce`, a proof without the server's nonce gets 400
/// `use_dpop_nonce` with a `DPoP-Nonce`; with it, the login works, and the
/// answer carries the next nonce.
async fn nonces_are_asked_for_then_accepted(store: Arc<dyn Store>) {
    let issuer = Issuer::with(store, settings(|s| s.dpop_nonce = true)).await;
    issuer.signup("ada@example.com").await;
    let device = Device::new(3);
    let first = post(
        &issuer,
        "/v1/auth/login",
        None,
        &[device.proof("POST", "/v1/auth/login", None, None)],
        login_body("a"),
    )
    .await;
    first.assert_problem(400, "use_dpop_nonce");
    let nonce = first.header("dpop-nonce").unwrap().to_owned();
    let forged = post(
        &issuer,
        "/v1/auth/login",
        None,
        &[device.proof(
            "POST",
            "/v1/auth/login",
            None,
            Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )],
        login_body("a"),
    )
    .await;
    forged.assert_problem(400, "use_dpop_nonce");
    let second = post(
        &issuer,
        "/v1/auth/login",
        None,
        &[device.proof("POST", "/v1/auth/login", None, Some(&nonce))],
        login_body("a"),
    )
    .await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert!(second.header("dpop-nonce").is_some());
}

on_both!(require_dpop_refuses_a_login_without_a_proof);
/// With `--require-dpop`, a plain login is 400 `invalid_dpop_proof`.
async fn require_dpop_refuses_a_login_without_a_proof(store: Arc<dyn Store>) {
    let issuer = Issuer::with(store, settings(|s| s.require_dpop = true)).await;
    issuer.signup("ada@example.com").await;
    issuer
        .try_login("ada@example.com", PASSWORD, "a")
        .await
        .assert_problem(400, "invalid_dpop_proof");
    bound_login(&issuer, &Device::new(3)).await;
}

on_both!(a_login_without_a_proof_stays_bearer);
/// Without a proof (and without `--require-dpop`) nothing changes: Bearer
/// tokens, no `cnf`, a refresh needs no proof.
async fn a_login_without_a_proof_stays_bearer(store: Arc<dyn Store>) {
    let issuer = Issuer::with(store, settings(|_| {})).await;
    issuer.signup("ada@example.com").await;
    let tokens = issuer.login("ada@example.com", "a").await;
    let verified = issuer
        .edge_verifier()
        .await
        .inspect(&tokens.access, NOW, &RevocationSet::new())
        .unwrap();
    assert!(verified.cnf.is_none());
    let refreshed = issuer.try_refresh(&tokens.refresh).await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(refreshed.body["token_type"], "Bearer");
}

on_both!(a_proof_sent_with_a_wrong_password_is_not_spent);
/// A proof is recorded only once the credentials passed, so proofs sent
/// with garbage credentials cannot fill the replay cache: the same proof
/// then logs in with the right password.
async fn a_proof_sent_with_a_wrong_password_is_not_spent(store: Arc<dyn Store>) {
    let issuer = Issuer::with(store, settings(|_| {})).await;
    issuer.signup("ada@example.com").await;
    let proof = Device::new(3).proof("POST", "/v1/auth/login", None, None);
    let mut wrong = login_body("a");
    wrong["password"] = json!("not the password");
    post(
        &issuer,
        "/v1/auth/login",
        None,
        std::slice::from_ref(&proof),
        wrong,
    )
    .await
    .assert_problem(401, "invalid_credentials");
    assert_eq!(issuer.state.dpop_replays.with(|cache| cache.len()), 0);
    let right = post(&issuer, "/v1/auth/login", None, &[proof], login_body("a")).await;
    assert_eq!(right.status, 200, "{:?}", right.body);
    assert_eq!(issuer.state.dpop_replays.with(|cache| cache.len()), 1);
}

on_both!(a_full_replay_cache_never_refuses_a_logout);
/// With the replay cache full, bound requests are refused (it never
/// forgets early), but logging out still works: logouts check the proof
/// without recording it.
async fn a_full_replay_cache_never_refuses_a_logout(store: Arc<dyn Store>) {
    let issuer = Issuer::with(store, settings(|_| {})).await;
    issuer.signup("ada@example.com").await;
    let device = Device::new(3);
    let tokens = bound_login(&issuer, &device).await;
    let auth = format!("DPoP {}", tokens.access);
    let me = || device.proof("GET", "/v1/users/me", Some(&tokens.access), None);
    let before = get(&issuer, "/v1/users/me", auth.clone(), &[me()]).await;
    assert_eq!(before.status, 200, "{:?}", before.body);
    issuer
        .state
        .dpop_replays
        .with(|cache| *cache = ReplayCache::new(0, 0));
    get(&issuer, "/v1/users/me", auth.clone(), &[me()])
        .await
        .assert_problem(401, "invalid_dpop_proof");
    let proof = device.proof("POST", "/v1/auth/logout", Some(&tokens.access), None);
    let logout = post(&issuer, "/v1/auth/logout", Some(auth), &[proof], json!({})).await;
    assert_eq!(logout.status, 204, "{:?}", logout.body);
    assert!(revokes_sid(&issuer.feed().await, &tokens.session));
}

on_both!(require_dpop_refuses_to_refresh_an_unbound_session);
/// Turning `--require-dpop` on ends Bearer sessions at their next refresh
/// (400 `invalid_dpop_proof`), without counting it as reuse.
async fn require_dpop_refuses_to_refresh_an_unbound_session(store: Arc<dyn Store>) {
    let before = Issuer::with(store.clone(), settings(|_| {})).await;
    before.signup("ada@example.com").await;
    let tokens = before.login("ada@example.com", "a").await;
    let after = Issuer::with(store, settings(|s| s.require_dpop = true)).await;
    after
        .try_refresh(&tokens.refresh)
        .await
        .assert_problem(400, "invalid_dpop_proof");
    assert!(!revokes_sid(&after.feed().await, &tokens.session));
}

on_both!(a_rotated_bound_refresh_token_without_its_key_is_still_reuse);
/// A thief presenting an already rotated refresh token is reuse, key or
/// not: the session is revoked, as for any reuse. Only a current token
/// without its key's proof is left untouched.
async fn a_rotated_bound_refresh_token_without_its_key_is_still_reuse(store: Arc<dyn Store>) {
    let issuer = Issuer::with(store, settings(|_| {})).await;
    issuer.signup("ada@example.com").await;
    let device = Device::new(3);
    let tokens = bound_login(&issuer, &device).await;
    let body = json!({"refresh_token": tokens.refresh});
    let proof = device.proof("POST", "/v1/auth/refresh", None, None);
    let rotated = post(&issuer, "/v1/auth/refresh", None, &[proof], body.clone()).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    issuer.clock.advance(120);
    post(&issuer, "/v1/auth/refresh", None, &[], body)
        .await
        .assert_problem(401, "refresh_token_reused");
    assert!(revokes_sid(&issuer.feed().await, &tokens.session));
}

/// Every login and refresh outcome is counted under its own label: a login
/// refused for its proof and a refresh with another key's proof are not
/// lost (they were, when labels the metrics did not list were dropped).
#[tokio::test]
async fn every_login_and_refresh_outcome_is_counted() {
    let (store, _dir) = crate::support::sqlite().await;
    let issuer = Issuer::with(store, settings(|_| {})).await;
    issuer.signup("ada@example.com").await;
    let device = Device::new(3);
    let tokens = bound_login(&issuer, &device).await;
    let thief = Device::new(5).proof("POST", "/v1/auth/refresh", None, None);
    post(
        &issuer,
        "/v1/auth/refresh",
        None,
        &[thief],
        json!({"refresh_token": tokens.refresh}),
    )
    .await
    .assert_problem(400, "invalid_dpop_proof");
    // A proof used once more at login.
    let proof = device.proof("POST", "/v1/auth/login", None, None);
    let first = post(
        &issuer,
        "/v1/auth/login",
        None,
        std::slice::from_ref(&proof),
        login_body("tablet"),
    )
    .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    post(
        &issuer,
        "/v1/auth/login",
        None,
        &[proof],
        login_body("tablet"),
    )
    .await
    .assert_problem(400, "invalid_dpop_proof");
    let metrics = issuer.call("GET", "/metrics", None, None).await;
    let text = metrics.body.as_str().unwrap();
    let count = |line: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(line).map(str::trim))
            .unwrap_or_else(|| panic!("no `{line}` in\n{text}"))
            .to_owned()
    };
    assert_eq!(count("tollgate_logins_total{result=\"success\"}"), "2");
    assert_eq!(
        count("tollgate_logins_total{result=\"invalid_dpop_proof\"}"),
        "1"
    );
    assert_eq!(count("tollgate_refreshes_total{result=\"wrong_key\"}"), "1");
}

/// A Bearer route called with a DPoP proof and no token offers both schemes
/// (RFC 9449 §7.1); without a proof, a bare Bearer (RFC 6750 §3).
#[tokio::test]
async fn a_missing_token_with_a_proof_is_offered_both_schemes() {
    let (store, _dir) = crate::support::sqlite().await;
    let issuer = Issuer::with(store, settings(|_| {})).await;
    let proof = Device::new(3).proof("POST", "/v1/auth/logout", None, None);
    let reply = post(&issuer, "/v1/auth/logout", None, &[proof], json!({})).await;
    reply.assert_problem(401, "missing_token");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer, DPoP algs="ES256 EdDSA Ed25519""#)
    );
    let bare = issuer.call("POST", "/v1/auth/logout", None, None).await;
    bare.assert_problem(401, "missing_token");
    assert_eq!(bare.header("www-authenticate"), Some("Bearer"));
}
