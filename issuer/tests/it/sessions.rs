//! Device sessions: refresh rotation and reuse detection, the concurrent
//! refresh race, same-device relogin, logout, logout-all, the session list,
//! admin deactivation and RFC 7009 revocation. Every logout must be on the
//! feed.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tollgate_issuer::config::Settings;
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

on_both!(concurrent_refreshes_all_get_the_same_successor);
/// Eight refreshes racing with one token (tabs), over ten rounds: all get the same new refresh token, each with a working access token, and the session is never revoked or forked.
async fn concurrent_refreshes_all_get_the_same_successor(store: Arc<dyn Store>) {
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
        let mut pairs = Vec::new();
        for racer in racers {
            let reply = racer.await.unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            pairs.push(tokens(&reply));
        }
        let successor = pairs[0].refresh.clone();
        assert_ne!(successor, current.refresh);
        for pair in &pairs {
            assert_eq!(
                pair.refresh, successor,
                "one session, one live refresh token"
            );
            assert_eq!(pair.session, current.session);
            assert_eq!(issuer.me(&pair.access).await.status, StatusCode::OK);
        }
        current = pairs.pop().unwrap();
    }
    assert!(
        issuer.feed().await.revoked.is_empty(),
        "no session was revoked"
    );
}

on_both!(a_thief_who_refreshes_first_cannot_keep_the_session);
/// A thief refreshes a stolen token first; the real client refreshes it within the grace window and gets the same successor (no fork, no lock-out). The next rotation by either side makes the other's use reuse, which revokes the session for both.
async fn a_thief_who_refreshes_first_cannot_keep_the_session(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    issuer.signup("stolen@example.com").await;
    let login = issuer.login("stolen@example.com", "phone").await;
    let thief = tokens(&issuer.try_refresh(&login.refresh).await);
    issuer.clock.advance(1);
    let client = issuer.try_refresh(&login.refresh).await;
    assert_eq!(client.status, StatusCode::OK, "{:?}", client.body);
    let client = tokens(&client);
    assert_eq!(
        client.refresh, thief.refresh,
        "the same successor: the session did not fork"
    );

    // The thief rotates again; later the client uses what it holds.
    let thief_next = tokens(&issuer.try_refresh(&thief.refresh).await);
    issuer.clock.advance(60);
    issuer
        .try_refresh(&client.refresh)
        .await
        .assert_problem(401, "refresh_token_reused");
    issuer
        .try_refresh(&thief_next.refresh)
        .await
        .assert_problem(401, "invalid_refresh_token");
    issuer
        .me(&thief_next.access)
        .await
        .assert_problem(401, "revoked");
    assert!(revokes_sid(&issuer.feed().await, &login.session));
}

on_both!(a_late_second_presentation_is_reuse_even_within_the_grace_of_a_later_rotation);
/// A token two rotations old is reuse, however recent: only the direct successor is shared, and only while it is live.
async fn a_late_second_presentation_is_reuse_even_within_the_grace_of_a_later_rotation(
    store: Arc<dyn Store>,
) {
    let issuer = Issuer::new(store).await;
    issuer.signup("twice@example.com").await;
    let first = issuer.login("twice@example.com", "tab").await;
    let second = tokens(&issuer.try_refresh(&first.refresh).await);
    let _third = tokens(&issuer.try_refresh(&second.refresh).await);
    issuer
        .try_refresh(&first.refresh)
        .await
        .assert_problem(401, "refresh_token_reused");
    assert!(revokes_sid(&issuer.feed().await, &first.session));
}

on_both!(a_revocation_outlives_the_latest_token_whatever_the_ttl_setting);
/// A session logged in through a replica with a long TTL and logged out through one with a short TTL is revoked past the long token's `exp` + leeway.
async fn a_revocation_outlives_the_latest_token_whatever_the_ttl_setting(store: Arc<dyn Store>) {
    let long = Issuer::with(
        store.clone(),
        Settings {
            access_ttl_secs: 3600,
            ..test_settings()
        },
    )
    .await;
    let short = Issuer::with(
        store,
        Settings {
            access_ttl_secs: 60,
            ..test_settings()
        },
    )
    .await;
    long.signup("ttl@example.com").await;
    let tokens = long.login("ttl@example.com", "laptop").await;
    assert_eq!(
        short
            .call("POST", "/v1/auth/logout", Some(&tokens.access), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let sid = tokens.session.parse().unwrap();
    let entry = short
        .feed()
        .await
        .revoked
        .into_iter()
        .find(|e| e.target == tollgate_verifier::Revoked::Sid(sid))
        .unwrap();
    let leeway = test_settings().leeway_secs;
    assert!(
        entry.until >= NOW + 3600 + leeway,
        "until {} is before the token's exp + leeway {}",
        entry.until,
        NOW + 3600 + leeway
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

on_both!(revoking_one_access_token_again_and_again_adds_one_entry);
/// RFC 7009 with the same valid access token, ten times: one revocation on the feed, not ten.
async fn revoking_one_access_token_again_and_again_adds_one_entry(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store).await;
    issuer.signup("again@example.com").await;
    let tokens = issuer.login("again@example.com", "laptop").await;
    for _ in 0..10 {
        assert_eq!(
            oauth_revoke(&issuer, &tokens.access).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(issuer.feed().await.revoked.len(), 1);
}

on_both!(a_rotation_stamped_in_the_future_by_a_skewed_replica_is_reuse);
/// A replica whose clock is 5 s behind sees a rotation "in the future": that is no concurrent refresh, and the session is revoked as for reuse.
async fn a_rotation_stamped_in_the_future_by_a_skewed_replica_is_reuse(store: Arc<dyn Store>) {
    let ahead = Issuer::new(store.clone()).await;
    let behind = Issuer::new(store).await;
    ahead.clock.advance(5);
    ahead.signup("skew@example.com").await;
    let login = ahead.login("skew@example.com", "phone").await;
    let _ = tokens(&ahead.try_refresh(&login.refresh).await);
    behind
        .try_refresh(&login.refresh)
        .await
        .assert_problem(401, "refresh_token_reused");
}
