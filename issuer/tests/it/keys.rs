//! Signing keys: created once, persisted, published, rotated with overlap,
//! and accepted by the verifier crate.

use std::sync::Arc;

use base64ct::Encoding as _;
use tollgate_issuer::keys::{KeyPolicy, KeyRing, SigningAlg, Withdrawn};
use tollgate_issuer::store::{KeyStore as _, SqliteStore, Store};
use tollgate_verifier::{
    AccessClaims, Audience, KeySet, RevocationSet, Uuid, Verifier, VerifierOptions,
};

use crate::support::*;

const RETENTION: i64 = 330;
const POLICY: KeyPolicy = KeyPolicy {
    alg: SigningAlg::EdDsa,
    retention: RETENTION,
};

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "https://issuer.test".into(),
        sub: Uuid::from_u128(5).to_string(),
        aud: Audience::One("api".into()),
        iat: NOW,
        exp: NOW + 300,
        nbf: None,
        jti: Some(Uuid::from_u128(6).to_string()),
        sid: Some(Uuid::from_u128(7).to_string()),
        roles: vec!["USER".into()],
        email: None,
        cnf: None,
    }
}

/// The verifier crate, configured from the ring's published JWKS at `now`.
fn verify(ring: &KeyRing, token: &str, now: i64) -> Result<AccessClaims, &'static str> {
    let keys = KeySet::from_jwks(&ring.jwks(now)).unwrap();
    let verifier = Verifier::new(VerifierOptions::new("https://issuer.test", "api"), keys);
    verifier
        .verify(token, now, &RevocationSet::new())
        .map(|v| v.claims().clone())
        .map_err(|e| e.code().as_str())
}

on_both!(first_start_creates_one_key_that_the_verifier_accepts);
/// The first start creates a key; a second load finds it rather than making another.
async fn first_start_creates_one_key_that_the_verifier_accepts(store: Arc<dyn Store>) {
    let ring = KeyRing::load_or_create(store.as_ref(), NOW, &POLICY)
        .await
        .unwrap();
    let again = KeyRing::load_or_create(store.as_ref(), NOW + 5, &POLICY)
        .await
        .unwrap();
    assert_eq!(ring.current_kid(), again.current_kid());
    assert_eq!(store.signing_keys().await.unwrap().len(), 1);
    let token = ring.sign(&claims()).unwrap();
    assert_eq!(verify(&again, &token, NOW), Ok(claims()));
}

on_both!(rotation_keeps_the_old_key_published_until_its_tokens_expire);
/// After a rotation the new key signs, and the old one stays in the JWKS for the retention only.
async fn rotation_keeps_the_old_key_published_until_its_tokens_expire(store: Arc<dyn Store>) {
    let old = KeyRing::load_or_create(store.as_ref(), NOW, &POLICY)
        .await
        .unwrap();
    let old_token = old.sign(&claims()).unwrap();
    let new = KeyRing::rotate(store.as_ref(), NOW + 10, &POLICY)
        .await
        .unwrap();
    assert_ne!(new.current_kid(), old.current_kid());
    assert_eq!(new.jwks(NOW + 10).keys.len(), 2);
    assert_eq!(verify(&new, &old_token, NOW + 20), Ok(claims()));
    let new_token = new.sign(&claims()).unwrap();
    assert!(new_token != old_token);
    assert_eq!(verify(&new, &new_token, NOW + 20), Ok(claims()));

    let later = NOW + 10 + RETENTION;
    let jwks = new.jwks(later);
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].kid.as_deref(), Some(new.current_kid()));
}

/// Keys survive a restart of a SQLite issuer: same kid, old tokens still verify.
#[tokio::test]
async fn keys_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuer.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let ring = KeyRing::load_or_create(&store, NOW, &POLICY).await.unwrap();
    let token = ring.sign(&claims()).unwrap();
    drop(store);
    let store = SqliteStore::open(&path).await.unwrap();
    let reloaded = KeyRing::load_or_create(&store, NOW + 60, &POLICY)
        .await
        .unwrap();
    assert_eq!(reloaded.current_kid(), ring.current_kid());
    assert_eq!(verify(&reloaded, &token, NOW + 60), Ok(claims()));
}

/// Two issuers starting together on one Postgres end up with one shared key.
#[tokio::test]
async fn concurrent_first_starts_share_one_key() {
    let Some(server) = postgres_url() else { return };
    let url = fresh_postgres_database(&server).await;
    let a = tollgate_issuer::store::PostgresStore::open(&url)
        .await
        .unwrap();
    let b = tollgate_issuer::store::PostgresStore::open(&url)
        .await
        .unwrap();
    let (ra, rb) = tokio::join!(
        KeyRing::load_or_create(&a, NOW, &POLICY),
        KeyRing::load_or_create(&b, NOW, &POLICY)
    );
    assert_eq!(ra.unwrap().current_kid(), rb.unwrap().current_kid());
    assert_eq!(a.signing_keys().await.unwrap().len(), 1);
}

/// Stored keys and the ring never show a secret in `Debug`.
#[tokio::test]
async fn debug_output_hides_key_material() {
    let (store, _dir) = sqlite().await;
    let ring = KeyRing::load_or_create(store.as_ref(), NOW, &POLICY)
        .await
        .unwrap();
    let stored = store.signing_keys().await.unwrap();
    let secret = format!("{:?}", stored[0].secret);
    assert!(!format!("{stored:?}").contains(&secret));
    assert!(!format!("{ring:?}").contains(&secret));
}

on_both!(es256_keys_sign_tokens_the_verifier_accepts);
/// With ES256 selected, new keys are P-256: published as EC JWKs, and tokens verify; the EdDSA key they replaced still does.
async fn es256_keys_sign_tokens_the_verifier_accepts(store: Arc<dyn Store>) {
    let ed = KeyRing::load_or_create(store.as_ref(), NOW, &POLICY)
        .await
        .unwrap();
    let ed_token = ed.sign(&claims()).unwrap();
    let es_policy = KeyPolicy {
        alg: SigningAlg::Es256,
        ..POLICY
    };
    let es = KeyRing::rotate(store.as_ref(), NOW + 1, &es_policy)
        .await
        .unwrap();
    let jwks = es.jwks(NOW + 1);
    let current = jwks
        .keys
        .iter()
        .find(|k| k.kid.as_deref() == Some(es.current_kid()))
        .unwrap();
    assert_eq!(
        (current.kty.as_str(), current.alg.as_deref()),
        ("EC", Some("ES256"))
    );
    let token = es.sign(&claims()).unwrap();
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&base64ct::Base64UrlUnpadded::decode_vec(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(verify(&es, &token, NOW + 2), Ok(claims()));
    assert_eq!(verify(&es, &ed_token, NOW + 2), Ok(claims()));
}

on_both!(a_withdrawn_key_leaves_the_jwks_and_is_trusted_by_nobody);
/// `keys withdraw` of a retired key: it leaves the JWKS at once, the key-set version on the feed changes, and the issuer's own Bearer check refuses its tokens, on this replica and on one that loaded its keys before the withdrawal.
async fn a_withdrawn_key_leaves_the_jwks_and_is_trusted_by_nobody(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store.clone()).await;
    let other_replica = Issuer::new(store.clone()).await;
    issuer.signup("w@example.com").await;
    let old = issuer.login("w@example.com", "a").await;
    let old_kid = issuer.state.keys().ring.current_kid().to_owned();
    let policy = issuer.state.settings.key_policy();
    KeyRing::rotate(store.as_ref(), NOW, &policy).await.unwrap();
    let version_before = issuer.feed().await.keys.unwrap();
    assert_eq!(
        issuer.me(&old.access).await.status.as_u16(),
        200,
        "rotation keeps old tokens"
    );

    let done = KeyRing::withdraw(store.as_ref(), &old_kid, NOW, &policy)
        .await
        .unwrap();
    assert!(
        matches!(
            done,
            Withdrawn::Done {
                replaced: false,
                ..
            }
        ),
        "{done:?}"
    );
    let jwks = issuer
        .call("GET", "/.well-known/jwks.json", None, None)
        .await;
    let kids: Vec<_> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert!(!kids.contains(&old_kid), "{kids:?}");
    assert_ne!(issuer.feed().await.keys.unwrap(), version_before);
    issuer
        .me(&old.access)
        .await
        .assert_problem(401, "unknown_kid");
    other_replica
        .me(&old.access)
        .await
        .assert_problem(401, "unknown_kid");
    assert!(matches!(
        KeyRing::withdraw(store.as_ref(), &old_kid, NOW, &policy)
            .await
            .unwrap(),
        Withdrawn::AlreadyWithdrawn
    ));
    assert!(matches!(
        KeyRing::withdraw(store.as_ref(), "nope", NOW, &policy)
            .await
            .unwrap(),
        Withdrawn::Unknown
    ));
}

on_both!(withdrawing_the_current_key_makes_a_new_one_first);
/// Withdrawing the key that signs makes a new one current first; every replica signs with the new key at once, and the old tokens die.
async fn withdrawing_the_current_key_makes_a_new_one_first(store: Arc<dyn Store>) {
    let issuer = Issuer::new(store.clone()).await;
    let other_replica = Issuer::new(store.clone()).await;
    issuer.signup("c@example.com").await;
    let old = issuer.login("c@example.com", "a").await;
    let old_kid = issuer.state.keys().ring.current_kid().to_owned();
    let policy = issuer.state.settings.key_policy();
    let Withdrawn::Done { replaced, ring } =
        KeyRing::withdraw(store.as_ref(), &old_kid, NOW, &policy)
            .await
            .unwrap()
    else {
        panic!("withdrawn");
    };
    assert!(replaced);
    assert_ne!(ring.current_kid(), old_kid);
    issuer
        .me(&old.access)
        .await
        .assert_problem(401, "unknown_kid");
    let fresh = other_replica.login("c@example.com", "b").await;
    let header = fresh.access.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&base64ct::Base64UrlUnpadded::decode_vec(header).unwrap()).unwrap();
    assert_eq!(
        header["kid"],
        ring.current_kid(),
        "the other replica signs with the new key"
    );
    assert_eq!(issuer.me(&fresh.access).await.status.as_u16(), 200);
}

/// A retired key stays published for the access TTL + leeway + the key-reload interval.
#[test]
fn retention_covers_ttl_leeway_and_the_reload_interval() {
    let settings = test_settings();
    let reload = i64::try_from(settings.key_reload_secs).unwrap();
    assert_eq!(
        settings.key_policy().retention,
        settings.access_ttl_secs + settings.leeway_secs + reload
    );
}

/// An issuer picks up a rotation made by another process when it reloads its keys.
#[tokio::test]
async fn a_running_issuer_picks_up_a_rotation_on_reload() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store.clone()).await;
    let before = issuer.state.keys().ring.current_kid().to_owned();
    let rotated = KeyRing::rotate(store.as_ref(), NOW + 5, &POLICY)
        .await
        .unwrap();
    assert_eq!(issuer.state.keys().ring.current_kid(), before);
    issuer.state.maintain().await;
    assert_eq!(
        issuer.state.keys().ring.current_kid(),
        rotated.current_kid()
    );
}
