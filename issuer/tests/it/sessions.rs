//! Device sessions: refresh rotation and reuse detection, the concurrent
//! refresh race, same-device relogin, logout, logout-all, the session list,
//! admin deactivation and RFC 7009 revocation. Every logout must be on the
//! feed.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tollgate_issuer::store::Store;

use crate::support::*;

on_both!(refresh_rotates_and_keeps_the_session);
/// A refresh returns a new pair for the same session; the new refresh token works again and the count rises.
async fn refresh_rotates_and_keeps_the_session(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    issuer.signup("r@example.com").await;
    let first = issuer.login("r@example.com", "laptop").await;
    issuer.clock.advance(60);
    let second = tokens(&issuer.try_refresh(&first.refresh).await);
    assert_eq!(second.session, first.session);
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    issuer.clock.advance(60);
    let third = issuer.try_refresh(&second.refresh).await;
    assert_eq!(third.status, StatusCode::OK, "{:?}", third.body);
    let listed = issuer
        .call("GET", "/v1/sessions", Some(&tokens(&third).access), None)
        .await;
    assert_eq!(listed.body["sessions"][0]["refresh_count"], 2);
    assert_eq!(listed.body["sessions"][0]["last_used_at"], NOW + 120);
}

on_both!(a_reused_refresh_token_revokes_the_session);
/// Presenting a rotated refresh token (after the race grace) revokes the whole session: its newest tokens die and the feed says so.
async fn a_reused_refresh_token_revokes_the_session(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    issuer.signup("victim@example.com").await;
    let stolen = issuer.login("victim@example.com", "phone").await;
    let current = tokens(&issuer.try_refresh(&stolen.refresh).await);
    issuer.clock.advance(30);

    issuer
        .try_refresh(&stolen.refresh)
        .await
        .assert_problem(401, "refresh_token_reused");
    issuer
        .me(&current.access)
        .await
        .assert_problem(401, "revoked");
    issuer
        .try_refresh(&current.refresh)
        .await
        .assert_problem(401, "invalid_refresh_token");
    assert!(revokes_sid(&issuer.feed().await, &current.session));
}

on_both!(concurrent_refreshes_have_exactly_one_winner);
/// Eight refreshes racing with one token, over ten rounds: each round one gets a new pair, the rest `invalid_refresh_token`, and the session survives.
async fn concurrent_refreshes_have_exactly_one_winner(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    issuer.signup("race@example.com").await;
    let mut current = issuer.login("race@example.com", "tab").await;
    // Later rounds race on connections the pool already holds open, so the
    // requests really overlap inside the database.
    for _round in 0..10 {
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let issuer = issuer.clone();
                let refresh = current.refresh.clone();
                tokio::spawn(async move { issuer.try_refresh(&refresh).await })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            let reply = racer.await.unwrap();
            if reply.status == StatusCode::OK {
                winners.push(tokens(&reply));
            } else {
                reply.assert_problem(401, "invalid_refresh_token");
            }
        }
        assert_eq!(winners.len(), 1, "exactly one refresh wins");
        current = winners.pop().unwrap();
        assert_eq!(issuer.me(&current.access).await.status, StatusCode::OK);
    }
    assert!(
        issuer.feed().await.revoked.is_empty(),
        "no session was revoked"
    );
}

on_both!(a_second_login_from_the_same_device_replaces_the_first);
/// Logging in again from one device revokes that device's old session; another device is untouched.
async fn a_second_login_from_the_same_device_replaces_the_first(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    issuer.signup("twice@example.com").await;
    let old = issuer.login("twice@example.com", "fp-1").await;
    let other = issuer.login("twice@example.com", "fp-2").await;
    let new = issuer.login("twice@example.com", "fp-1").await;
    assert_ne!(new.session, old.session);

    issuer.me(&old.access).await.assert_problem(401, "revoked");
    issuer
        .try_refresh(&old.refresh)
        .await
        .assert_problem(401, "invalid_refresh_token");
    assert_eq!(issuer.me(&other.access).await.status, StatusCode::OK);
    let listed = issuer
        .call("GET", "/v1/sessions", Some(&new.access), None)
        .await;
    let sessions = listed.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let feed = issuer.feed().await;
    assert!(revokes_sid(&feed, &old.session));
    assert_eq!(feed.revoked.len(), 1);
}

on_both!(logout_revokes_the_session_everywhere);
/// Logout is 204; the access token is then refused with `revoked` and a Bearer challenge, the refresh token is dead, and the feed carries the sid until the last token could expire.
async fn logout_revokes_the_session_everywhere(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    issuer.signup("bye@example.com").await;
    let t = issuer.login("bye@example.com", "d").await;
    let reply = issuer
        .call("POST", "/v1/auth/logout", Some(&t.access), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);

    let refused = issuer.me(&t.access).await;
    refused.assert_problem(401, "revoked");
    assert_eq!(
        refused.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token", error_description="revoked""#)
    );
    issuer
        .try_refresh(&t.refresh)
        .await
        .assert_problem(401, "invalid_refresh_token");
    let feed = issuer.feed().await;
    assert!(revokes_sid(&feed, &t.session));
    assert_eq!(feed.revoked[0].until, NOW + 300 + 30);
    // A second logout with the dead token is refused, not repeated.
    issuer
        .call("POST", "/v1/auth/logout", Some(&t.access), None)
        .await
        .assert_problem(401, "revoked");
}

on_both!(logout_all_ends_every_device);
/// Logout-all revokes every session of the user and no one else's.
async fn logout_all_ends_every_device(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    issuer.signup("all@example.com").await;
    issuer.signup("bystander@example.com").await;
    let a = issuer.login("all@example.com", "a").await;
    let b = issuer.login("all@example.com", "b").await;
    let c = issuer.login("bystander@example.com", "a").await;
    let reply = issuer
        .call("POST", "/v1/auth/logout-all", Some(&b.access), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    issuer.me(&a.access).await.assert_problem(401, "revoked");
    issuer.me(&b.access).await.assert_problem(401, "revoked");
    assert_eq!(issuer.me(&c.access).await.status, StatusCode::OK);
    let feed = issuer.feed().await;
    assert!(revokes_sid(&feed, &a.session) && revokes_sid(&feed, &b.session));
    assert_eq!(feed.revoked.len(), 2);
}

on_both!(sessions_list_and_delete_only_touch_your_own);
/// The list marks the current session; deleting your other device works; another user's session or a garbage id is 404 and nothing changes.
async fn sessions_list_and_delete_only_touch_your_own(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    issuer.signup("owner@example.com").await;
    issuer.signup("intruder@example.com").await;
    let laptop = issuer.login("owner@example.com", "laptop").await;
    let phone = issuer.login("owner@example.com", "phone").await;
    let intruder = issuer.login("intruder@example.com", "x").await;

    let listed = issuer
        .call("GET", "/v1/sessions", Some(&phone.access), None)
        .await;
    let sessions = listed.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    for s in sessions {
        assert_eq!(s["current"], s["id"] == phone.session.as_str(), "{s}");
        assert!(s["device_type"] == "browser" && s.get("refresh_hash").is_none());
    }

    let steal = format!("/v1/sessions/{}", laptop.session);
    issuer
        .call("DELETE", &steal, Some(&intruder.access), None)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(issuer.me(&laptop.access).await.status, StatusCode::OK);
    issuer
        .call(
            "DELETE",
            "/v1/sessions/not-a-uuid",
            Some(&phone.access),
            None,
        )
        .await
        .assert_problem(404, "not_found");

    let reply = issuer
        .call("DELETE", &steal, Some(&phone.access), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    issuer
        .me(&laptop.access)
        .await
        .assert_problem(401, "revoked");
    assert_eq!(issuer.me(&phone.access).await.status, StatusCode::OK);
    issuer
        .call("DELETE", &steal, Some(&phone.access), None)
        .await
        .assert_problem(404, "not_found");
}

on_both!(only_an_admin_deactivates_and_it_revokes_everything);
/// A user cannot deactivate anyone (403); an admin can: the user's sessions die and login says `account_disabled`.
async fn only_an_admin_deactivates_and_it_revokes_everything(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    let admin = issuer.admin("root@example.com").await;
    let user = issuer.signup("user@example.com").await;
    let root = issuer.login("root@example.com", "console").await;
    let u1 = issuer.login("user@example.com", "a").await;
    let u2 = issuer.login("user@example.com", "b").await;
    let path = format!(
        "/v1/admin/users/{}/deactivate",
        user["id"].as_str().unwrap()
    );

    issuer
        .call("POST", &path, Some(&u1.access), None)
        .await
        .assert_problem(403, "forbidden");
    let root_me = issuer.me(&root.access).await;
    assert_eq!(root_me.body["roles"], serde_json::json!(["USER", "ADMIN"]));
    assert_eq!(root_me.body["id"], admin["id"]);

    let reply = issuer.call("POST", &path, Some(&root.access), None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    issuer.me(&u1.access).await.assert_problem(401, "revoked");
    issuer.me(&u2.access).await.assert_problem(401, "revoked");
    issuer
        .try_login("user@example.com", PASSWORD, "a")
        .await
        .assert_problem(403, "account_disabled");
    issuer
        .call(
            "POST",
            "/v1/admin/users/00000000-0000-4000-8000-000000000000/deactivate",
            Some(&root.access),
            None,
        )
        .await
        .assert_problem(404, "not_found");
}

async fn oauth_revoke(issuer: &Issuer, token: &str) -> Reply {
    issuer
        .send(
            Request::post("/oauth/revoke")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "token={token}&token_type_hint=whatever"
                )))
                .unwrap(),
        )
        .await
}

on_both!(rfc7009_revokes_refresh_and_access_tokens);
/// `/oauth/revoke` with a refresh token ends its session; with an access token, only that token (its jti); unknown tokens get 200 too.
async fn rfc7009_revokes_refresh_and_access_tokens(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    issuer.signup("oauth@example.com").await;
    let a = issuer.login("oauth@example.com", "a").await;
    let b = issuer.login("oauth@example.com", "b").await;

    assert_eq!(
        oauth_revoke(&issuer, &a.refresh).await.status,
        StatusCode::OK
    );
    issuer.me(&a.access).await.assert_problem(401, "revoked");

    assert_eq!(
        oauth_revoke(&issuer, &b.access).await.status,
        StatusCode::OK
    );
    issuer.me(&b.access).await.assert_problem(401, "revoked");
    // The session lives on: a refresh gives a token with a new jti that works.
    let fresh = tokens(&issuer.try_refresh(&b.refresh).await);
    assert_eq!(issuer.me(&fresh.access).await.status, StatusCode::OK);
    let feed = issuer.feed().await;
    assert_eq!(feed.revoked.len(), 2);
    assert!(revokes_sid(&feed, &a.session) && !revokes_sid(&feed, &b.session));

    assert_eq!(
        oauth_revoke(&issuer, "unknown-token").await.status,
        StatusCode::OK
    );
    assert_eq!(oauth_revoke(&issuer, "a.b.c").await.status, StatusCode::OK);
    assert_eq!(issuer.feed().await.revoked.len(), 2);
    let missing = issuer
        .send(
            Request::post("/oauth/revoke")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("token_type_hint=refresh_token"))
                .unwrap(),
        )
        .await;
    missing.assert_problem(422, "validation_failed");
}

/// Missing, foreign-scheme and garbage Authorization headers get a coded 401 with the right challenge.
#[tokio::test]
async fn bearer_auth_failures_are_coded() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store).await;
    let missing = issuer.call("GET", "/v1/users/me", None, None).await;
    missing.assert_problem(401, "missing_token");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let garbage = issuer.me("not-a-jwt").await;
    garbage.assert_problem(401, "malformed");
    assert!(
        garbage
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );

    issuer.signup("late@example.com").await;
    let t = issuer.login("late@example.com", "d").await;
    issuer.clock.advance(300 + 31);
    issuer.me(&t.access).await.assert_problem(401, "expired");
}
