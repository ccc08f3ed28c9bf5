//! Claim rules: issuer, audience, time with leeway, required claims, claim types.

use serde_json::{Value, json};
use tollgate_verifier::{Audience, RevocationSet};

use crate::support::*;

fn code_at(keys: &Keys, claims: &Value, now: i64) -> Result<(), &'static str> {
    let verifier = keys.verifier();
    verifier
        .verify(&ed_token(keys, claims), now, &RevocationSet::new())
        .map(drop)
        .map_err(|e| e.code().as_str())
}

fn with(key: &str, value: Value) -> Value {
    claims_with(|c| {
        c.insert(key.into(), value);
    })
}

/// `iss` must equal the configured issuer exactly.
#[test]
fn wrong_issuer_is_refused() {
    let keys = Keys::new();
    for iss in [
        "https://issuer.test/",
        "https://ISSUER.test",
        "https://evil.test",
        "",
    ] {
        assert_eq!(
            code_at(&keys, &with("iss", json!(iss)), NOW),
            Err("wrong_issuer"),
            "{iss}"
        );
    }
}

/// `aud` as a string or an array must contain the configured audience.
#[test]
fn audience_string_or_array_must_contain_ours() {
    let keys = Keys::new();
    assert_eq!(
        code_at(&keys, &with("aud", json!("other")), NOW),
        Err("wrong_audience")
    );
    assert_eq!(
        code_at(&keys, &with("aud", json!(["other", "x"])), NOW),
        Err("wrong_audience")
    );
    assert_eq!(
        code_at(&keys, &with("aud", json!([])), NOW),
        Err("wrong_audience")
    );
    assert_eq!(
        code_at(&keys, &with("aud", json!(["other", AUDIENCE])), NOW),
        Ok(())
    );
    assert_eq!(code_at(&keys, &with("aud", json!([AUDIENCE])), NOW), Ok(()));
    assert_eq!(
        code_at(&keys, &with("aud", json!(7)), NOW),
        Err("malformed")
    );
    assert_eq!(
        code_at(&keys, &with("aud", json!([AUDIENCE, 7])), NOW),
        Err("malformed")
    );
    let verified = keys
        .verifier()
        .verify(
            &ed_token(&keys, &with("aud", json!(["x", AUDIENCE]))),
            NOW,
            &RevocationSet::new(),
        )
        .unwrap();
    assert_eq!(
        verified.aud,
        Audience::Many(vec!["x".into(), AUDIENCE.into()])
    );
}

/// A token is valid while now < exp + leeway, and expired from exp + leeway on.
#[test]
fn exp_edges_with_the_default_leeway() {
    let keys = Keys::new();
    let exp = NOW + 300;
    assert_eq!(code_at(&keys, &claims(), exp + 29), Ok(()));
    assert_eq!(code_at(&keys, &claims(), exp + 30), Err("expired"));
    assert_eq!(code_at(&keys, &claims(), exp + 31), Err("expired"));
    assert_eq!(code_at(&keys, &claims(), i64::MAX), Err("expired"));
}

/// With leeway 0 the token dies at exactly `exp`.
#[test]
fn exp_edges_with_zero_leeway() {
    let keys = Keys::new();
    let verifier = keys.verifier_with(|o| o.leeway_secs = 0);
    let token = ed_token(&keys, &claims());
    let none = RevocationSet::new();
    assert!(verifier.verify(&token, NOW + 299, &none).is_ok());
    assert_eq!(refusal(&verifier, &token, NOW + 300, &none), "expired");
}

/// `nbf` and `iat` may be up to the leeway in the future, not more.
#[test]
fn nbf_and_iat_edges() {
    let keys = Keys::new();
    for claim in ["nbf", "iat"] {
        assert_eq!(
            code_at(&keys, &with(claim, json!(NOW + 30)), NOW),
            Ok(()),
            "{claim}"
        );
        assert_eq!(
            code_at(&keys, &with(claim, json!(NOW + 31)), NOW),
            Err("not_yet_valid"),
            "{claim}"
        );
        assert_eq!(
            code_at(&keys, &with(claim, json!(NOW - 1000)), NOW),
            Ok(()),
            "{claim}"
        );
    }
}

/// Timestamps that are strings, booleans or out of `i64` range are malformed.
#[test]
fn timestamps_of_the_wrong_type_are_malformed() {
    let keys = Keys::new();
    for claim in ["exp", "iat", "nbf"] {
        for value in [
            json!("1763820300"),
            json!(true),
            json!([1]),
            json!({"t": 1}),
            json!(9_223_372_036_854_775_808u64),
            json!(1e300),
            json!(-1e300),
        ] {
            assert_eq!(
                code_at(&keys, &with(claim, value.clone()), NOW),
                Err("malformed"),
                "{claim}={value}"
            );
        }
    }
}

/// Fractional timestamps round towards the safe side: `exp` down, `iat`/`nbf` up.
#[test]
fn fractional_timestamps_round_to_the_safe_side() {
    let keys = Keys::new();
    let exp = with("exp", json!((NOW - 30) as f64 + 0.9));
    assert_eq!(code_at(&keys, &exp, NOW), Err("expired"));
    let exp = with("exp", json!((NOW - 29) as f64 + 0.5));
    assert_eq!(code_at(&keys, &exp, NOW), Ok(()));
    let nbf = with("nbf", json!((NOW + 30) as f64 + 0.1));
    assert_eq!(code_at(&keys, &nbf, NOW), Err("not_yet_valid"));
    let iat = with("iat", json!((NOW + 29) as f64 + 0.5));
    assert_eq!(code_at(&keys, &iat, NOW), Ok(()));
}

/// Each required claim, when absent or null, gives `missing_claim`.
#[test]
fn each_required_claim_is_required() {
    let keys = Keys::new();
    for claim in ["iss", "sub", "aud", "iat", "exp", "jti", "sid"] {
        let absent = claims_with(|c| {
            c.remove(claim);
        });
        let verifier = keys.verifier();
        let err = verify(&verifier, &ed_token(&keys, &absent)).unwrap_err();
        assert_eq!(err.code().as_str(), "missing_claim", "{claim}");
        assert!(err.to_string().contains(claim), "{err}");
        if !matches!(claim, "iat" | "exp") {
            assert_eq!(
                code_at(&keys, &with(claim, Value::Null), NOW),
                Err("missing_claim"),
                "{claim}"
            );
        }
    }
}

/// `roles` and `email` are optional; roles default to none.
#[test]
fn roles_and_email_are_optional() {
    let keys = Keys::new();
    let bare = claims_with(|c| {
        c.remove("roles");
        c.remove("email");
    });
    let verified = verify(&keys.verifier(), &ed_token(&keys, &bare)).unwrap();
    assert!(verified.roles.is_empty());
    assert_eq!(verified.email, None);
    assert!(!verified.has_role("USER"));
}

/// `sid` and `jti` must be UUIDs; other claim types must match too.
#[test]
fn claims_of_the_wrong_type_are_malformed() {
    let keys = Keys::new();
    let cases = [
        ("sid", json!("not-a-uuid")),
        ("jti", json!(12)),
        ("sub", json!(5)),
        ("iss", json!(["https://issuer.test"])),
        ("roles", json!("ADMIN")),
        ("roles", json!([1])),
        ("email", json!(false)),
    ];
    for (claim, value) in cases {
        assert_eq!(
            code_at(&keys, &with(claim, value.clone()), NOW),
            Err("malformed"),
            "{claim}={value}"
        );
    }
}

/// A claim given twice makes the payload malformed, so two parsers cannot disagree on it.
#[test]
fn duplicate_claims_are_malformed() {
    let keys = Keys::new();
    let payload = claims().to_string();
    let payload = payload.replacen('{', r#"{"sub":"someone-else","#, 1);
    let token = forge_raw(
        header("EdDSA", "ed").to_string().as_bytes(),
        payload.as_bytes(),
        Sign::Ed(&keys.ed),
    );
    assert_eq!(code_of(&keys.verifier(), &token), "malformed");
}

/// Unknown claims are ignored.
#[test]
fn unknown_claims_are_ignored() {
    let keys = Keys::new();
    assert_eq!(
        code_at(&keys, &with("scope", json!("read write")), NOW),
        Ok(())
    );
}
