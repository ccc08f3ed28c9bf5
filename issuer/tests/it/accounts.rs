//! Signup and login: input rules, the enumeration rule, rate limits,
//! disabled accounts, and tokens the verifier crate accepts.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use tollgate_issuer::config::Settings;
use tollgate_issuer::store::{NewSession, Session, Store};
use tollgate_verifier::RevocationSet;

use crate::support::*;

on_both!(login_tokens_verify_at_the_edge);
/// Signup then login: the access token verifies with a verifier configured only from the JWKS route, with the right claims.
async fn login_tokens_verify_at_the_edge(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    let user = issuer.signup(" Ada@Example.COM ").await;
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["roles"], json!(["USER"]));
    assert_eq!(user["active"], true);
    assert!(user.get("password_hash").is_none());

    let reply = issuer
        .try_login("ada@example.com", PASSWORD, "device-1")
        .await;
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 300);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let tokens = tokens(&reply);
    assert_eq!(tokens.refresh.len(), 43, "256 bits in base64url");

    let verified = issuer
        .edge_verifier()
        .await
        .verify(&tokens.access, NOW + 10, &RevocationSet::new())
        .unwrap();
    assert_eq!(verified.sub, user["id"].as_str().unwrap());
    assert_eq!(verified.sid.as_deref(), Some(tokens.session.as_str()));
    assert_eq!(verified.roles, ["USER"]);
    assert_eq!(verified.email.as_deref(), Some("ada@example.com"));
    assert_eq!(verified.exp - verified.iat, 300);

    let me = issuer.me(&tokens.access).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], user["id"]);
}

/// Bad signup input is a 400 naming each bad field; a taken email is 409.
#[tokio::test]
async fn signup_validates_every_field() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store).await;
    let cases = [
        (
            json!({"email": "nope", "password": PASSWORD, "name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@b", "password": PASSWORD, "name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@b.co", "password": "short", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@b.co", "password": "password123", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "longname@b.co", "password": "longname@b.co", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@b.co", "password": "aaaaaaaaaaaa", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@b.co", "password": PASSWORD, "name": "  "}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let reply = issuer
            .call("POST", "/v1/auth/signup", None, Some(body.clone()))
            .await;
        reply.assert_problem(400, "validation_failed");
        assert_eq!(reply.body["errors"][0]["field"], field, "{body}");
    }
    issuer.signup("taken@example.com").await;
    let again = issuer
        .call(
            "POST",
            "/v1/auth/signup",
            None,
            Some(json!({"email": "TAKEN@example.com", "password": PASSWORD, "name": "B"})),
        )
        .await;
    again.assert_problem(409, "email_taken");
}

/// Malformed, mistyped, oversized and wrongly typed bodies are 400/422/413/415 problems, never a 500 or plain text.
#[tokio::test]
async fn bad_bodies_are_problems() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store).await;
    let post = |body: Body, content_type: &str| {
        Request::post("/v1/auth/login")
            .header("content-type", content_type)
            .body(body)
            .unwrap()
    };
    let syntax = issuer
        .send(post(Body::from("{\"email\":"), "application/json"))
        .await;
    syntax.assert_problem(400, "validation_failed");
    let shape = issuer
        .send(post(
            Body::from(r#"{"email":"a@b.co"}"#),
            "application/json",
        ))
        .await;
    shape.assert_problem(422, "validation_failed");
    assert!(shape.body["detail"].as_str().unwrap().contains("password"));
    let typed = issuer.send(post(Body::from("{}"), "text/plain")).await;
    typed.assert_problem(415, "validation_failed");
    let huge = format!(r#"{{"email":"{}"}}"#, "a".repeat(20_000));
    let large = issuer
        .send(post(Body::from(huge), "application/json"))
        .await;
    large.assert_problem(413, "validation_failed");
    let device = issuer
        .call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"email": "a@b.co", "password": PASSWORD, "device": {"id": "", "type": "browser"}})),
        )
        .await;
    device.assert_problem(400, "validation_failed");
    assert_eq!(device.body["errors"][0]["field"], "device.id");
    let nowhere = issuer.call("GET", "/v1/nowhere", None, None).await;
    nowhere.assert_problem(404, "not_found");
}

on_both!(unknown_email_and_wrong_password_look_the_same);
/// Unknown email and wrong password give byte-identical answers, and both pay for one Argon2 check.
async fn unknown_email_and_wrong_password_look_the_same(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    issuer.signup("known@example.com").await;
    let passwords = &issuer.state.passwords;

    let before = passwords.verifications();
    let wrong = issuer
        .try_login("known@example.com", "not the password", "d")
        .await;
    assert_eq!(passwords.verifications(), before + 1);
    let unknown = issuer
        .try_login("nobody@example.com", "not the password", "d")
        .await;
    assert_eq!(passwords.verifications(), before + 2);

    wrong.assert_problem(401, "invalid_credentials");
    unknown.assert_problem(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(
        wrong.headers.get("content-type"),
        unknown.headers.get("content-type")
    );
    assert!(wrong.headers.get("www-authenticate").is_none());
}

/// The eleventh attempt on one account within the window is a 429 with Retry-After; after the window it may try again.
#[tokio::test]
async fn login_is_rate_limited_per_account() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store).await;
    issuer.signup("target@example.com").await;
    for _ in 0..10 {
        issuer
            .try_login("target@example.com", "guess guess guess", "d")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let verifications = issuer.state.passwords.verifications();
    let limited = issuer.try_login("target@example.com", PASSWORD, "d").await;
    limited.assert_problem(429, "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("300"));
    assert_eq!(
        issuer.state.passwords.verifications(),
        verifications,
        "a refused attempt costs no Argon2 time"
    );
    // Another account from the same address is not affected.
    issuer.signup("other@example.com").await;
    issuer.login("other@example.com", "d").await;

    issuer.clock.advance(120);
    let later = issuer.try_login("target@example.com", PASSWORD, "d").await;
    assert_eq!(later.header("retry-after"), Some("180"));
    issuer.clock.advance(180);
    issuer.login("target@example.com", "d").await;
}

/// Attempts from one address across many accounts are limited too, and a success forgives its account's count.
#[tokio::test]
async fn login_is_rate_limited_per_address() {
    let (store, _dir) = sqlite().await;
    let settings = Settings {
        login_limit_per_address: 5,
        login_limit_per_account: 2,
        ..test_settings()
    };
    let issuer = Issuer::with(store, settings).await;
    issuer.signup("me@example.com").await;
    // Each signup counts against the address too.
    issuer
        .try_login("me@example.com", "wrong wrong wrong", "d")
        .await
        .assert_problem(401, "invalid_credentials");
    issuer.login("me@example.com", "d").await;
    // The success forgave the failure: two more attempts on the account pass.
    issuer
        .try_login("me@example.com", "wrong wrong wrong", "d")
        .await
        .assert_problem(401, "invalid_credentials");
    issuer
        .try_login("x@example.com", "wrong wrong wrong", "d")
        .await
        .assert_problem(401, "invalid_credentials");
    issuer
        .try_login("y@example.com", "wrong wrong wrong", "d")
        .await
        .assert_problem(429, "rate_limited");
}

on_both!(a_disabled_account_cannot_log_in);
/// A deactivated user with the right password gets `account_disabled`; with a wrong one, `invalid_credentials`.
async fn a_disabled_account_cannot_log_in(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    let user = issuer.signup("gone@example.com").await;
    let id = user["id"].as_str().unwrap().parse().unwrap();
    let revoked = issuer
        .state
        .store
        .deactivate_user(id, NOW, issuer.state.settings.revoke_until(NOW))
        .await
        .unwrap();
    assert_eq!(
        revoked,
        Some(Vec::new()),
        "the user exists and had no sessions"
    );
    issuer
        .try_login("gone@example.com", PASSWORD, "d")
        .await
        .assert_problem(403, "account_disabled");
    issuer
        .try_login("gone@example.com", "wrong wrong wrong", "d")
        .await
        .assert_problem(401, "invalid_credentials");
}

on_both!(a_login_that_was_mid_hash_when_the_account_was_deactivated_starts_no_session);
/// The account check is repeated inside the session transaction: a login whose password check passed before the admin's deactivation committed still gets no session.
async fn a_login_that_was_mid_hash_when_the_account_was_deactivated_starts_no_session(
    store: Arc<dyn Store>,
) {
    let issuer = Issuer::new(store).await;
    let user = issuer.signup("midway@example.com").await;
    let id: tollgate_verifier::Uuid = user["id"].as_str().unwrap().parse().unwrap();
    // The login's password check has passed (it read `active = true`)...
    let user = issuer.state.store.user_by_id(id).await.unwrap().unwrap();
    assert!(user.active);
    // ...then the deactivation commits, before the login's transaction runs.
    let store = &issuer.state.store;
    store
        .deactivate_user(id, NOW, issuer.state.settings.revoke_until(NOW))
        .await
        .unwrap();
    let session = Session {
        id: tollgate_verifier::Uuid::new_v4(),
        user_id: id,
        device_id: "d".into(),
        device_type: "browser".into(),
        created_at: NOW,
        last_used_at: NOW,
        expires_at: NOW + 3600,
        refresh_count: 0,
        dpop_jkt: None,
    };
    let started = store
        .start_session(&NewSession {
            session,
            refresh_hash: [7; 32],
            access_exp: NOW + 300,
            revoke: issuer.state.settings.revoke_until(NOW),
        })
        .await
        .unwrap();
    assert_eq!(started, None, "no session for a deactivated account");
    assert!(store.live_sessions(id, NOW).await.unwrap().is_empty());
}
