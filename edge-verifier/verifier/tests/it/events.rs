//! Logout tokens and Security Event Tokens of upstream providers: what each
//! revokes, and every way one is refused.

use serde_json::{Value, json};
use tollgate_verifier::event::{
    BACKCHANNEL_LOGOUT_EVENT, CREDENTIAL_CHANGE_EVENT, EventOptions, SESSION_REVOKED_EVENT,
    VERIFICATION_EVENT, judge_logout_token, judge_security_event,
};
use tollgate_verifier::{KeySet, Revoked};

use crate::support::*;
use crate::upstream::{IDP_A, IDP_B, jwks, key_a, key_b, set_of, upstream_claims, verifier};

fn keys() -> KeySet {
    KeySet::from_jwks(&jwks()).unwrap()
}

fn options() -> EventOptions {
    EventOptions {
        issuer: IDP_A.into(),
        audience: "tollgate".into(),
        leeway_secs: 30,
        max_age_secs: 300,
    }
}

fn logout_claims() -> Value {
    json!({
        "iss": IDP_A,
        "aud": "tollgate",
        "iat": NOW - 5,
        "exp": NOW + 115,
        "jti": "bWJq",
        "sub": "248289761001",
        "sid": "08a5019c-17e1-4977-8f42-65a12843ea02",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    })
}

fn sign(typ: Option<&str>, claims: &Value, key: &p256::ecdsa::SigningKey) -> String {
    let mut header = json!({"alg": "ES256", "kid": "shared"});
    if let Some(typ) = typ {
        header["typ"] = json!(typ);
    }
    forge(&header, claims, Sign::Es(key))
}

fn logout(claims: &Value) -> Result<Vec<Revoked>, &'static str> {
    judge_logout_token(
        &sign(Some("logout+jwt"), claims, &key_a()),
        &keys(),
        &options(),
        NOW,
    )
    .map(|event| event.revoked.into_iter().map(|e| e.target).collect())
    .map_err(|err| err.code.as_str())
}

/// A `sid` revokes that session (A's access tokens carry `sid`), kept for
/// the provider's token lifetime plus leeway; the `jti` is remembered at
/// least until `exp`.
#[test]
fn a_logout_token_with_sid_revokes_the_session() {
    let token = sign(Some("logout+jwt"), &logout_claims(), &key_a());
    let event = judge_logout_token(&token, &keys(), &options(), NOW).unwrap();
    assert_eq!(event.jti, "bWJq");
    assert!(event.keep_until >= NOW + 115);
    assert_eq!(event.revoked.len(), 1);
    assert_eq!(
        event.revoked[0].target,
        Revoked::UpstreamSid {
            iss: IDP_A.into(),
            sid: "08a5019c-17e1-4977-8f42-65a12843ea02".into()
        }
    );
    assert_eq!(event.revoked[0].until, NOW + 3600 + 30);
}

/// Only `sub` (or a provider whose tokens name no session) cuts the user
/// off at the logout's `iat`; Keycloak's `typ: JWT` and no `exp` pass.
#[test]
fn a_logout_token_with_only_sub_cuts_the_user_off() {
    let mut claims = logout_claims();
    claims.as_object_mut().unwrap().remove("sid");
    claims.as_object_mut().unwrap().remove("exp");
    let token = sign(Some("JWT"), &claims, &key_a());
    let event = judge_logout_token(&token, &keys(), &options(), NOW).unwrap();
    assert_eq!(
        event.revoked[0].target,
        Revoked::Subject {
            iss: Some(IDP_A.into()),
            sub: "248289761001".into(),
            before: NOW - 5
        }
    );
    assert_eq!(event.revoked[0].until, NOW - 5 + 3600 + 30);
    assert!(event.keep_until >= NOW - 5 + 300);

    let mut no_session_claim = jwks();
    no_session_claim.upstreams[0].session_claim = None;
    let keys = KeySet::from_jwks(&no_session_claim).unwrap();
    let token = sign(None, &logout_claims(), &key_a());
    let event = judge_logout_token(&token, &keys, &options(), NOW).unwrap();
    assert!(matches!(event.revoked[0].target, Revoked::Subject { .. }));
    let mut sid_only = logout_claims();
    sid_only.as_object_mut().unwrap().remove("sub");
    let token = sign(None, &sid_only, &key_a());
    let err = judge_logout_token(&token, &keys, &options(), NOW).unwrap_err();
    assert_eq!(err.code.as_str(), "unmapped_session");
}

/// OIDC Back-Channel Logout §2.6, each rule a refusal with its code.
#[test]
fn bad_logout_tokens_are_refused_with_their_code() {
    let edit = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut claims = logout_claims();
        f(claims.as_object_mut().unwrap());
        claims
    };
    let cases: Vec<(&str, Value)> = vec![
        (
            "wrong_issuer",
            edit(&|c| {
                c.insert("iss".into(), json!(IDP_B));
            }),
        ),
        (
            "wrong_audience",
            edit(&|c| {
                c.insert("aud".into(), json!("someone-else"));
            }),
        ),
        (
            "nonce_present",
            edit(&|c| {
                c.insert("nonce".into(), json!("n-0S6_WzA2Mj"));
            }),
        ),
        (
            "wrong_event",
            edit(&|c| {
                c.remove("events");
            }),
        ),
        (
            "wrong_event",
            edit(&|c| {
                c.insert("events".into(), json!({SESSION_REVOKED_EVENT: {}}));
            }),
        ),
        (
            "wrong_event",
            edit(&|c| {
                c.insert("events".into(), json!({BACKCHANNEL_LOGOUT_EVENT: "yes"}));
            }),
        ),
        (
            "no_subject",
            edit(&|c| {
                c.remove("sub");
                c.remove("sid");
            }),
        ),
        (
            "expired",
            edit(&|c| {
                c.insert("exp".into(), json!(NOW - 31));
            }),
        ),
        (
            "too_old",
            edit(&|c| {
                c.insert("iat".into(), json!(NOW - 331));
                c.remove("exp");
            }),
        ),
        (
            "not_yet_valid",
            edit(&|c| {
                c.insert("iat".into(), json!(NOW + 31));
            }),
        ),
        (
            "missing_claim",
            edit(&|c| {
                c.remove("jti");
            }),
        ),
        (
            "missing_claim",
            edit(&|c| {
                c.remove("iat");
            }),
        ),
        (
            "malformed",
            edit(&|c| {
                c.insert("sub".into(), json!(42));
            }),
        ),
    ];
    for (code, claims) in cases {
        assert_eq!(logout(&claims).unwrap_err(), code, "{claims}");
    }
    let judge = |token: &str| {
        judge_logout_token(token, &keys(), &options(), NOW)
            .unwrap_err()
            .code
            .as_str()
    };
    // Signed by B's key under the colliding kid: A's key is tried.
    assert_eq!(
        judge(&sign(Some("logout+jwt"), &logout_claims(), &key_b())),
        "bad_signature"
    );
    assert_eq!(
        judge(&sign(Some("at+jwt"), &logout_claims(), &key_a())),
        "wrong_type"
    );
    let none = forge(
        &json!({"alg": "none", "kid": "shared"}),
        &logout_claims(),
        Sign::Nothing,
    );
    assert_eq!(judge(&none), "unsupported_alg");
    let hs = forge(
        &json!({"alg": "HS256", "kid": "shared"}),
        &logout_claims(),
        Sign::Hs(&HS_SECRET),
    );
    assert_eq!(judge(&hs), "unsupported_alg");
    let other_kid = forge(
        &json!({"alg": "ES256", "kid": "nope"}),
        &logout_claims(),
        Sign::Es(&key_a()),
    );
    assert_eq!(judge(&other_kid), "unknown_kid");
    let mut big = logout_claims();
    big["pad"] = json!("x".repeat(9000));
    assert_eq!(judge(&sign(None, &big, &key_a())), "too_large");
    assert_eq!(judge("not a jwt"), "malformed");
    // A token of B, sent to A's endpoint, is B's business: wrong issuer.
    let mut b = logout_claims();
    b["iss"] = json!(IDP_B);
    assert_eq!(judge(&sign(None, &b, &key_b())), "wrong_issuer");
}

fn set_claims(events: Value, sub_id: Value) -> Value {
    json!({
        "iss": IDP_A,
        "aud": ["tollgate"],
        "iat": NOW - 2,
        "jti": "set-1",
        "sub_id": sub_id,
        "events": events,
    })
}

fn set(claims: &Value) -> Result<Vec<Revoked>, &'static str> {
    judge_security_event(
        &sign(Some("secevent+jwt"), claims, &key_a()),
        &keys(),
        &options(),
        NOW,
    )
    .map(|event| event.revoked.into_iter().map(|e| e.target).collect())
    .map_err(|err| err.code.as_str())
}

/// CAEP's two events, by each subject format.
#[test]
fn caep_events_map_to_sessions_and_cut_offs() {
    let session_revoked = json!({SESSION_REVOKED_EVENT: {"event_timestamp": NOW - 3}});
    let complex = json!({
        "format": "complex",
        "session": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
        "user": {"format": "iss_sub", "iss": IDP_A, "sub": "99beb27c"},
    });
    assert_eq!(
        set(&set_claims(session_revoked.clone(), complex.clone())).unwrap(),
        [Revoked::UpstreamSid {
            iss: IDP_A.into(),
            sid: "dMTlD|1600802906337.16|16008.16".into()
        }]
    );
    let credential_change =
        json!({CREDENTIAL_CHANGE_EVENT: {"credential_type": "password", "change_type": "update"}});
    assert_eq!(
        set(&set_claims(credential_change.clone(), complex)).unwrap(),
        [Revoked::Subject {
            iss: Some(IDP_A.into()),
            sub: "99beb27c".into(),
            before: NOW - 2
        }]
    );
    assert_eq!(
        set(&set_claims(
            session_revoked.clone(),
            json!({"format": "email", "email": "ada@example.com"})
        ))
        .unwrap(),
        [Revoked::Email {
            iss: Some(IDP_A.into()),
            email: "ada@example.com".into(),
            before: NOW - 3
        }]
    );
    assert_eq!(
        set(&set_claims(
            credential_change,
            json!({"format": "opaque", "id": "u-77"})
        ))
        .unwrap(),
        [Revoked::Subject {
            iss: Some(IDP_A.into()),
            sub: "u-77".into(),
            before: NOW - 2
        }]
    );
    assert_eq!(
        set(&set_claims(
            session_revoked.clone(),
            json!({"format": "jwt_id", "iss": IDP_A, "jti": "t-9"})
        ))
        .unwrap(),
        [Revoked::UpstreamJti {
            iss: IDP_A.into(),
            jti: "t-9".into()
        }]
    );
    // The subject inside the event, as CAEP drafts put it.
    let mut inside = set_claims(
        json!({CREDENTIAL_CHANGE_EVENT: {"subject": {"format": "opaque", "id": "u-1"}}}),
        json!(null),
    );
    inside.as_object_mut().unwrap().remove("sub_id");
    assert!(matches!(
        set(&inside).unwrap()[..],
        [Revoked::Subject { .. }]
    ));
    // SSF verification revokes nothing and is accepted.
    let verification = set_claims(json!({VERIFICATION_EVENT: {"state": "abc"}}), json!(null));
    assert_eq!(set(&verification).unwrap(), []);
}

/// Every way a SET is refused, with the RFC 8935 error code it maps to.
#[test]
fn bad_security_events_are_refused_with_their_code() {
    let revoked = json!({SESSION_REVOKED_EVENT: {}});
    let user = json!({"format": "iss_sub", "iss": IDP_A, "sub": "u"});
    let good = set_claims(revoked.clone(), user.clone());
    assert!(set(&good).is_ok());
    let with = |name: &str, value: Value| {
        let mut claims = good.clone();
        claims[name] = value;
        claims
    };
    let cases = vec![
        (
            "wrong_event",
            with("events", json!({"https://example.com/other": {}})),
        ),
        ("wrong_event", with("events", json!({}))),
        (
            "foreign_subject",
            with(
                "sub_id",
                json!({"format": "iss_sub", "iss": IDP_B, "sub": "u"}),
            ),
        ),
        (
            "unsupported_subject",
            with(
                "sub_id",
                json!({"format": "phone_number", "phone_number": "+1"}),
            ),
        ),
        ("unsupported_subject", with("sub_id", json!({"sub": "u"}))),
        (
            "malformed",
            with("sub_id", json!({"format": "iss_sub", "iss": IDP_A})),
        ),
        ("wrong_audience", with("aud", json!("someone-else"))),
        ("wrong_issuer", with("iss", json!(IDP_B))),
        ("expired", with("exp", json!(NOW - 60))),
        ("not_yet_valid", with("iat", json!(NOW + 60))),
    ];
    for (code, claims) in cases {
        assert_eq!(set(&claims).unwrap_err(), code, "{claims}");
    }
    let mut no_subject = good.clone();
    no_subject.as_object_mut().unwrap().remove("sub_id");
    assert_eq!(set(&no_subject).unwrap_err(), "no_subject");
    // A logout token is not a SET, nor the reverse.
    let err = judge_security_event(
        &sign(Some("logout+jwt"), &good, &key_a()),
        &keys(),
        &options(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(err.code.as_str(), "wrong_type");
    assert_eq!(err.code.set_error(), "invalid_request");
    let err = judge_security_event(
        &sign(Some("secevent+jwt"), &good, &key_b()),
        &keys(),
        &options(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(err.code.set_error(), "invalid_key");
    assert!(err.set_body().contains(r#""err":"invalid_key""#));
    assert!(err.logout_body().contains(r#""error":"invalid_request""#));
}

/// CAEP's own example of session-revoked names the session by an opaque
/// subject: that session is revoked.
#[test]
fn session_revoked_with_an_opaque_subject_is_that_session() {
    let claims = set_claims(
        json!({SESSION_REVOKED_EVENT: {}}),
        json!({"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"}),
    );
    assert_eq!(
        set(&claims).unwrap(),
        [Revoked::UpstreamSid {
            iss: IDP_A.into(),
            sid: "dMTlD|1600802906337.16|16008.16".into()
        }]
    );
}

/// A cut-off never reaches past now (a future or millisecond timestamp
/// would lock the user out of new logins), and a fractional one is
/// rounded up, as a token's `iat` is: a token of the same second is cut.
#[test]
fn cut_off_moments_are_bounded_and_rounded_up() {
    let user = json!({"format": "iss_sub", "iss": IDP_A, "sub": "u"});
    let at = |timestamp: Value| {
        let claims = set_claims(
            json!({CREDENTIAL_CHANGE_EVENT: {"event_timestamp": timestamp}}),
            user.clone(),
        );
        match &set(&claims).unwrap()[0] {
            Revoked::Subject { before, .. } => *before,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        at(json!(NOW * 1000)),
        NOW + 30,
        "milliseconds: clamped to now + leeway"
    );
    assert_eq!(at(json!(NOW + 3600)), NOW + 30);
    assert_eq!(at(json!(NOW as f64 - 4.5)), NOW - 4);
}

/// A cut-off and a token of the same second, in fractions an `f64` cannot
/// tell apart (nanoseconds), round as one: the issuer's event and the
/// verifier's `iat` both round exactly, so a token issued before the
/// logout is cut off by it (through an `f64`, the cut-off fell a second
/// before the token's rounded `iat`).
#[test]
fn a_cut_off_and_a_token_round_their_fractions_alike() {
    let user = json!({"format": "iss_sub", "iss": IDP_A, "sub": "auth0|5f7c8ec7c33c6c004bbafe82"});
    let claims = set_claims(
        json!({CREDENTIAL_CHANGE_EVENT: {"event_timestamp": "AT"}}),
        user,
    )
    .to_string()
    .replace("\"AT\"", &format!("{}.00000005", NOW - 10));
    let header = br#"{"alg":"ES256","kid":"shared","typ":"secevent+jwt"}"#;
    let event = forge_raw(header, claims.as_bytes(), Sign::Es(&key_a()));
    let event = judge_security_event(&event, &keys(), &options(), NOW).unwrap();
    assert!(
        matches!(event.revoked[0].target, Revoked::Subject { before, .. } if before == NOW - 9),
        "{:?}",
        event.revoked[0].target
    );
    let issued = upstream_claims(IDP_A).to_string().replace(
        &format!("\"iat\":{}", NOW - 10),
        &format!("\"iat\":{}.00000001", NOW - 10),
    );
    let header = br#"{"alg":"ES256","kid":"shared","typ":"JWT"}"#;
    let token = forge_raw(header, issued.as_bytes(), Sign::Es(&key_a()));
    let set = set_of(event.revoked);
    assert_eq!(refusal(&verifier(), &token, NOW, &set), "revoked");
}

/// Ids a database column or a header could not hold are refused.
#[test]
fn ids_with_control_characters_are_refused() {
    let mut claims = logout_claims();
    claims["sub"] = json!("ada\u{0}");
    claims.as_object_mut().unwrap().remove("sid");
    assert_eq!(logout(&claims).unwrap_err(), "malformed");
    let mut long = logout_claims();
    long["sid"] = json!("s".repeat(1025));
    assert_eq!(logout(&long).unwrap_err(), "malformed");
}
