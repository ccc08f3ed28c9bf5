//! Revocation through the verifier: by session, by token, reset, pruning, feed parsing.

use serde_json::json;
use tollgate_verifier::{RevocationFeed, RevocationSet, Revoked, Uuid};

use crate::support::*;

fn page(reset: bool, cursor: &str, revoked: serde_json::Value) -> RevocationFeed {
    RevocationFeed::from_json(
        &json!({"cursor": cursor, "reset": reset, "revoked": revoked}).to_string(),
    )
    .unwrap()
}

/// Revoking the token's session makes it `revoked`; an unrelated session does not.
#[test]
fn revoked_by_sid() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let mut set = RevocationSet::new();
    set.apply(&page(
        true,
        "c1",
        json!([{"sid": Uuid::from_u128(1), "until": NOW + 330}]),
    ));
    assert!(verifier.verify(&token, NOW, &set).is_ok());
    set.apply(&page(
        false,
        "c2",
        json!([{"sid": SID, "until": NOW + 330}]),
    ));
    assert_eq!(refusal(&verifier, &token, NOW, &set), "revoked");
    assert_eq!(set.cursor(), Some("c2"));
}

/// Revoking the token's `jti` makes it `revoked`; a `sid` entry equal to the jti does not.
#[test]
fn revoked_by_jti_and_id_spaces_are_separate() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let mut set = RevocationSet::new();
    set.apply(&page(
        true,
        "c1",
        json!([{"sid": JTI, "until": NOW + 330}, {"jti": SID, "until": NOW + 330}]),
    ));
    assert!(verifier.verify(&token, NOW, &set).is_ok());
    set.apply(&page(
        false,
        "c2",
        json!([{"jti": JTI, "until": NOW + 330}]),
    ));
    assert_eq!(refusal(&verifier, &token, NOW, &set), "revoked");
}

/// A reset page replaces the whole set: an entry it lacks is gone, the cursor is its cursor.
#[test]
fn reset_replaces_the_set() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let mut set = RevocationSet::new();
    set.apply(&page(
        true,
        "a:1",
        json!([{"sid": SID, "until": NOW + 330}]),
    ));
    assert!(verifier.verify(&token, NOW, &set).is_err());
    set.apply(&page(
        true,
        "b:1",
        json!([{"sid": Uuid::from_u128(9), "until": NOW + 330}]),
    ));
    assert!(verifier.verify(&token, NOW, &set).is_ok());
    assert_eq!(set.len(), 1);
    assert_eq!(set.cursor(), Some("b:1"));
}

/// An entry revokes until pruned, and pruning never drops one before its `until`.
#[test]
fn prune_respects_until() {
    let mut set = RevocationSet::new();
    set.insert(Revoked::Sid(SID), NOW + 100);
    set.insert(Revoked::Jti(JTI), NOW - 1);
    assert_eq!(set.prune(NOW), 1);
    assert!(set.is_revoked(&SID, &Uuid::nil()));
    assert!(!set.is_revoked(&Uuid::nil(), &JTI));
    assert_eq!(set.prune(NOW + 100), 0);
    assert!(set.is_revoked(&SID, &Uuid::nil()));
    assert_eq!(set.prune(NOW + 101), 1);
    assert!(set.is_empty());
}

/// Revoking an already revoked target keeps the later `until`.
#[test]
fn a_later_until_extends_an_entry() {
    let mut set = RevocationSet::new();
    set.insert(Revoked::Sid(SID), NOW + 100);
    set.insert(Revoked::Sid(SID), NOW + 50);
    assert_eq!(set.until(&Revoked::Sid(SID)), Some(NOW + 100));
    set.insert(Revoked::Sid(SID), NOW + 400);
    assert_eq!(set.until(&Revoked::Sid(SID)), Some(NOW + 400));
    assert_eq!(set.len(), 1);
}

/// Feed entries need exactly one of `sid`/`jti`; the wire shape round-trips.
#[test]
fn feed_entries_parse_strictly_and_round_trip() {
    let text = r#"{"cursor":"e:5","reset":false,"more":true,"revoked":[{"sid":"6c9a1b0e-3c0f-4d4e-9a57-0f7f8f2c1d11","until":5},{"jti":"0b7d4d0a-51b5-4bd8-8d0e-1f2a3b4c5d6e","until":6}]}"#;
    let feed = RevocationFeed::from_json(text).unwrap();
    assert!(feed.more);
    assert_eq!(feed.revoked[0].target, Revoked::Sid(SID));
    assert_eq!(feed.revoked[1].target, Revoked::Jti(JTI));
    assert_eq!(serde_json::to_string(&feed).unwrap(), text);
    for bad in [
        r#"{"cursor":"c","revoked":[{"until":5}]}"#,
        r#"{"cursor":"c","revoked":[{"sid":"6c9a1b0e-3c0f-4d4e-9a57-0f7f8f2c1d11","jti":"6c9a1b0e-3c0f-4d4e-9a57-0f7f8f2c1d11","until":5}]}"#,
        r#"{"cursor":"c","revoked":[{"sid":"nope","until":5}]}"#,
        r#"{"cursor":"c","revoked":[{"sid":"6c9a1b0e-3c0f-4d4e-9a57-0f7f8f2c1d11"}]}"#,
        r#"{"revoked":[]}"#,
    ] {
        assert!(RevocationFeed::from_json(bad).is_err(), "{bad}");
    }
    let minimal = RevocationFeed::from_json(r#"{"cursor":"c","revoked":[]}"#).unwrap();
    assert!(!minimal.reset && !minimal.more);
}

/// A million revocations, loaded as a JSON snapshot and as deltas, all stay revoked.
#[test]
fn a_million_entries_all_stay_revoked() {
    const N: u128 = 1_000_000;
    let json = serde_json::to_string(&snapshot_page(N)).unwrap();
    let mut snapshot = RevocationSet::new();
    snapshot.apply(&RevocationFeed::from_json(&json).unwrap());
    let mut deltas = RevocationSet::new();
    for n in 0..N {
        let id = spread_id(n);
        deltas.insert(
            if n % 2 == 0 {
                Revoked::Sid(id)
            } else {
                Revoked::Jti(id)
            },
            NOW + 330,
        );
    }
    for set in [&snapshot, &deltas] {
        assert_eq!(set.len(), N as usize);
        assert!((0..N).all(|n| set.is_revoked(&spread_id(n), &spread_id(n))));
        assert!(!set.is_revoked(&spread_id(N), &spread_id(N + 1)));
    }
    let keys = Keys::new();
    let token = ed_token(
        &keys,
        &claims_with(|c| {
            c.insert("sid".into(), json!(spread_id(N - 2)));
        }),
    );
    assert_eq!(
        keys.verifier()
            .verify(&token, NOW, &deltas)
            .unwrap_err()
            .code()
            .as_str(),
        "revoked"
    );
}
