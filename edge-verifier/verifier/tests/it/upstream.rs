//! Tokens of upstream identity providers: keys bound to their issuer, rules
//! by `iss`, opaque ids, and revocations scoped to the issuer.

use serde_json::{Value, json};
use tollgate_verifier::{
    Jwk, Jwks, KeySet, RevocationEntry, RevocationFeed, RevocationSet, Revoked, UpstreamRules,
    Verifier, VerifierOptions,
};

use crate::support::*;

pub(crate) const IDP_A: &str = "https://idp-a.test/realms/main";
pub(crate) const IDP_B: &str = "https://idp-b.test";

/// An ES256 key bound to `iss`, under `kid`.
pub(crate) fn es_jwk(key: &p256::ecdsa::SigningKey, kid: &str, iss: &str) -> Jwk {
    let point = key.verifying_key().to_encoded_point(false);
    Jwk {
        kty: "EC".into(),
        crv: Some("P-256".into()),
        kid: Some(kid.into()),
        iss: Some(iss.into()),
        x: Some(b64(point.x().unwrap())),
        y: Some(b64(point.y().unwrap())),
        ..Jwk::default()
    }
}

pub(crate) fn key_a() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[21; 32].into()).unwrap()
}

pub(crate) fn key_b() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[22; 32].into()).unwrap()
}

fn rules(iss: &str) -> UpstreamRules {
    let mut rules = UpstreamRules::new(iss, "tollgate-api");
    rules.algorithms = vec![
        "ES256".into(),
        "EdDSA".into(),
        "RS256".into(),
        "PS256".into(),
    ];
    rules.session_claim = Some("sid".into());
    rules.roles_claim = Some("realm_access.roles".into());
    rules
}

/// tollgate's own keys, plus A's and B's, both under kid `shared`.
pub(crate) fn jwks() -> Jwks {
    let mut jwks = Keys::new().jwks();
    jwks.upstream_keys.push(es_jwk(&key_a(), "shared", IDP_A));
    jwks.upstream_keys.push(es_jwk(&key_b(), "shared", IDP_B));
    jwks.upstreams = vec![rules(IDP_A), rules(IDP_B)];
    jwks
}

pub(crate) fn verifier() -> Verifier {
    Verifier::new(
        VerifierOptions::new(ISSUER, AUDIENCE),
        KeySet::from_jwks(&jwks()).unwrap(),
    )
}

/// What Keycloak's access tokens carry.
pub(crate) fn upstream_claims(iss: &str) -> Value {
    json!({
        "iss": iss,
        "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
        "aud": ["account", "tollgate-api"],
        "iat": NOW - 10,
        "exp": NOW + 300,
        "jti": "onrtro:6d7c1a2e-1f0b-4b4b-8b8b-3c3c3c3c3c3c",
        "sid": "AB3F2D6C-5E1A-4D2B-9C8E-7F6A5B4C3D2E",
        "realm_access": {"roles": ["offline_access", "todo-admin"]},
        "email": "ada@example.com",
        "scope": "openid email",
    })
}

pub(crate) fn es_token(key: &p256::ecdsa::SigningKey, claims: &Value) -> String {
    forge(
        &json!({"alg": "ES256", "kid": "shared", "typ": "JWT"}),
        claims,
        Sign::Es(key),
    )
}

/// An upstream's token verifies by its rules: opaque ids kept exactly as
/// sent, the session from its session claim, roles from the dotted path.
#[test]
fn an_upstream_token_verifies_by_its_rules() {
    let verified = verify(&verifier(), &es_token(&key_a(), &upstream_claims(IDP_A))).unwrap();
    assert_eq!(verified.iss, IDP_A);
    assert_eq!(verified.sub, "auth0|5f7c8ec7c33c6c004bbafe82");
    assert_eq!(
        verified.sid.as_deref(),
        Some("AB3F2D6C-5E1A-4D2B-9C8E-7F6A5B4C3D2E")
    );
    assert_eq!(
        verified.jti.as_deref(),
        Some("onrtro:6d7c1a2e-1f0b-4b4b-8b8b-3c3c3c3c3c3c")
    );
    assert_eq!(verified.roles, ["offline_access", "todo-admin"]);
    assert_eq!(verified.email.as_deref(), Some("ada@example.com"));
}

/// A key of issuer A never verifies a token whose `iss` is B, even with a
/// colliding `kid`; nor a tollgate token; nor the reverse.
#[test]
fn a_key_verifies_only_its_own_issuers_tokens() {
    let verifier = verifier();
    // A's key signs a token that says it is B's: B's `shared` key is used.
    assert_eq!(
        code_of(&verifier, &es_token(&key_a(), &upstream_claims(IDP_B))),
        "bad_signature"
    );
    assert!(verify(&verifier, &es_token(&key_b(), &upstream_claims(IDP_B))).is_ok());
    // A's key signs a tollgate token: tollgate has no key `shared`.
    assert_eq!(
        code_of(
            &verifier,
            &forge(&header("ES256", "shared"), &claims(), Sign::Es(&key_a()))
        ),
        "unknown_kid"
    );
    // tollgate's key signs a token that says it is A's: A has no key `ed`.
    let mut claims = upstream_claims(IDP_A);
    claims["iss"] = json!(IDP_A);
    assert_eq!(
        code_of(
            &verifier,
            &forge(&header("EdDSA", "ed"), &claims, Sign::Ed(&Keys::new().ed))
        ),
        "unknown_kid"
    );
}

/// A key that names an issuer the set has no rules for is not loaded, and
/// a token of that issuer is judged as tollgate's (and refused).
#[test]
fn keys_of_an_unlisted_issuer_are_skipped() {
    let mut jwks = jwks();
    jwks.upstreams.retain(|u| u.iss != IDP_B);
    let keys = KeySet::from_jwks(&jwks).unwrap();
    assert_eq!(keys.skipped(), 1);
    let verifier = Verifier::new(VerifierOptions::new(ISSUER, AUDIENCE), keys);
    assert_eq!(
        code_of(&verifier, &es_token(&key_b(), &upstream_claims(IDP_B))),
        "wrong_type",
        "judged by tollgate's rules, which want at+jwt"
    );
}

/// A shared secret is never trusted from an upstream: an `oct` key bound to
/// it is skipped, so an HS256 token "signed" with public bytes fails.
#[test]
fn no_shared_secret_and_no_alg_none_for_an_upstream() {
    let mut jwks = jwks();
    jwks.upstream_keys.push(Jwk {
        kty: "oct".into(),
        kid: Some("hs-up".into()),
        iss: Some(IDP_A.into()),
        k: Some(b64(&HS_SECRET)),
        ..Jwk::default()
    });
    jwks.upstreams[0].algorithms.push("HS256".into());
    let verifier = Verifier::new(
        VerifierOptions::new(ISSUER, AUDIENCE),
        KeySet::from_jwks(&jwks).unwrap(),
    );
    let claims = upstream_claims(IDP_A);
    let hs = forge(
        &json!({"alg": "HS256", "kid": "hs-up", "typ": "JWT"}),
        &claims,
        Sign::Hs(&HS_SECRET),
    );
    assert_eq!(code_of(&verifier, &hs), "unsupported_alg");
    let none = forge(
        &json!({"alg": "none", "kid": "shared", "typ": "JWT"}),
        &claims,
        Sign::Nothing,
    );
    assert_eq!(code_of(&verifier, &none), "unsupported_alg");
}

/// `typ`, audience and required claims follow the upstream's rules.
#[test]
fn types_audiences_and_required_claims() {
    let mut jwks = jwks();
    jwks.upstreams[0].token_types = vec!["at+jwt".into()];
    let verifier = Verifier::new(
        VerifierOptions::new(ISSUER, AUDIENCE),
        KeySet::from_jwks(&jwks).unwrap(),
    );
    let claims = upstream_claims(IDP_A);
    assert_eq!(
        code_of(&verifier, &es_token(&key_a(), &claims)),
        "wrong_type"
    );
    let typed = |claims: &Value| {
        forge(
            &json!({"alg": "ES256", "kid": "shared", "typ": "at+jwt"}),
            claims,
            Sign::Es(&key_a()),
        )
    };
    assert!(verify(&verifier, &typed(&claims)).is_ok());
    // B still takes `JWT`, and no `typ` at all.
    let untyped = forge(
        &json!({"alg": "ES256", "kid": "shared"}),
        &upstream_claims(IDP_B),
        Sign::Es(&key_b()),
    );
    assert!(verify(&verifier, &untyped).is_ok());

    let mut other_audience = claims.clone();
    other_audience["aud"] = json!("account");
    assert_eq!(
        code_of(&verifier, &typed(&other_audience)),
        "wrong_audience"
    );
    // No `jti` is fine for an upstream; no `sub` is not.
    let mut no_jti = claims.clone();
    no_jti.as_object_mut().unwrap().remove("jti");
    assert_eq!(verify(&verifier, &typed(&no_jti)).unwrap().jti, None);
    let mut no_sub = claims.clone();
    no_sub.as_object_mut().unwrap().remove("sub");
    assert_eq!(code_of(&verifier, &typed(&no_sub)), "missing_claim");
    // A token that lives longer than the provider's tokens may would
    // outlive a cut-off entry kept for that long.
    let mut long_lived = claims.clone();
    long_lived["exp"] = json!(NOW - 10 + 3601);
    assert_eq!(code_of(&verifier, &typed(&long_lived)), "expired");
    long_lived["exp"] = json!(NOW - 10 + 3600);
    assert!(verify(&verifier, &typed(&long_lived)).is_ok());
    // A provider's own claim of an unexpected shape is not our business.
    let mut odd = claims;
    odd["realm_access"] = json!("not an object");
    odd["roles"] = json!({"weird": true});
    assert!(verify(&verifier, &typed(&odd)).unwrap().roles.is_empty());
}

pub(crate) fn set_of(entries: Vec<RevocationEntry>) -> RevocationSet {
    let mut set = RevocationSet::new();
    set.apply(&RevocationFeed {
        cursor: "c".into(),
        reset: true,
        more: false,
        keys: None,
        revoked: entries,
    });
    set
}

/// A session entry of A revokes A's token with that `sid`, not B's token
/// with the same `sid`, nor one of tollgate's.
#[test]
fn an_upstream_session_entry_is_scoped_to_its_issuer() {
    let verifier = verifier();
    let set = set_of(vec![RevocationEntry {
        target: Revoked::UpstreamSid {
            iss: IDP_A.into(),
            sid: "AB3F2D6C-5E1A-4D2B-9C8E-7F6A5B4C3D2E".into(),
        },
        until: NOW + 600,
    }]);
    let a = es_token(&key_a(), &upstream_claims(IDP_A));
    let b = es_token(&key_b(), &upstream_claims(IDP_B));
    assert_eq!(refusal(&verifier, &a, NOW, &set), "revoked");
    assert!(verifier.verify(&b, NOW, &set).is_ok());
    // The lower-case spelling is another session: ids compare as text.
    let lower = set_of(vec![RevocationEntry {
        target: Revoked::UpstreamSid {
            iss: IDP_A.into(),
            sid: "ab3f2d6c-5e1a-4d2b-9c8e-7f6a5b4c3d2e".into(),
        },
        until: NOW + 600,
    }]);
    assert!(verifier.verify(&a, NOW, &lower).is_ok());
    let own = ed_token(&Keys::new(), &claims());
    assert!(verifier.verify(&own, NOW, &set).is_ok());
}

/// A subject cut-off revokes the tokens issued at or before it, and not a
/// token issued after it (the user logged in again).
#[test]
fn a_subject_cut_off_revokes_tokens_issued_up_to_it() {
    let verifier = verifier();
    let cut = |before| {
        set_of(vec![RevocationEntry {
            target: Revoked::Subject {
                iss: Some(IDP_A.into()),
                sub: "auth0|5f7c8ec7c33c6c004bbafe82".into(),
                before,
            },
            until: NOW + 600,
        }])
    };
    let token = es_token(&key_a(), &upstream_claims(IDP_A)); // iat NOW - 10
    // Judged and cached first against a set without cut-offs, whose check
    // makes no cut-off keys: the cached token is still cut off later.
    assert!(verifier.verify(&token, NOW, &RevocationSet::new()).is_ok());
    assert_eq!(refusal(&verifier, &token, NOW, &cut(NOW - 10)), "revoked");
    assert!(verifier.verify(&token, NOW, &cut(NOW - 11)).is_ok());
    // Scoped: the same `sub` at B is someone else.
    let b = es_token(&key_b(), &upstream_claims(IDP_B));
    assert!(verifier.verify(&b, NOW, &cut(NOW)).is_ok());
    // By e-mail, for an SSF subject named so, in any ASCII case.
    let by_email = set_of(vec![RevocationEntry {
        target: Revoked::Email {
            iss: Some(IDP_A.into()),
            email: "Ada@Example.COM".into(),
            before: NOW,
        },
        until: NOW + 600,
    }]);
    assert_eq!(refusal(&verifier, &token, NOW, &by_email), "revoked");
    assert!(verifier.verify(&b, NOW, &by_email).is_ok());
    // A later cut-off applied as a delta widens the held one.
    let mut set = cut(NOW - 20);
    assert!(verifier.verify(&token, NOW, &set).is_ok());
    set.insert(
        Revoked::Subject {
            iss: Some(IDP_A.into()),
            sub: "auth0|5f7c8ec7c33c6c004bbafe82".into(),
            before: NOW - 5,
        },
        NOW + 600,
    );
    assert_eq!(refusal(&verifier, &token, NOW, &set), "revoked");
}

/// The feed's upstream entries: written as their key, read back as it,
/// and malformed ones fail the page.
#[test]
fn upstream_feed_entries_on_the_wire() {
    let clear = Revoked::Subject {
        iss: Some(IDP_A.into()),
        sub: "u1".into(),
        before: NOW,
    };
    let entry = RevocationEntry {
        target: clear.clone(),
        until: NOW + 5,
    };
    let wire = serde_json::to_value(&entry).unwrap();
    assert_eq!(wire["iss"], IDP_A);
    assert_eq!(wire["before"], NOW);
    assert_eq!(wire["key"].as_str().unwrap().len(), 22);
    let back = RevocationEntry::from_json(&wire.to_string()).unwrap();
    assert_eq!(back.target, clear.published());
    assert!(matches!(back.target, Revoked::Cutoff { .. }));
    let page = RevocationFeed::from_json(
        &json!({
            "cursor": "c", "reset": true,
            "revoked": [
                {"iss": IDP_A, "key": "AAAAAAAAAAAAAAAAAAAAAA", "until": NOW + 5},
                {"key": "AAAAAAAAAAAAAAAAAAAAAA", "before": NOW, "until": NOW + 5},
                {"sid": SID, "until": NOW + 5},
            ]
        })
        .to_string(),
    )
    .unwrap();
    assert_eq!(page.revoked[2].target, Revoked::Sid(SID));
    let again = RevocationFeed::from_json(&serde_json::to_string(&page).unwrap()).unwrap();
    assert_eq!(again, page);

    for bad in [
        json!({"sid": "not-a-uuid", "until": 1}),
        json!({"iss": "", "key": "AAAAAAAAAAAAAAAAAAAAAA", "until": 1}),
        json!({"iss": IDP_A, "key": "AAAA", "until": 1}),
        json!({"iss": IDP_A, "sid": SID, "until": 1}),
        json!({"key": "AAAAAAAAAAAAAAAAAAAAAA", "until": 1}),
        json!({"iss": IDP_A, "sub": "u1", "before": 1, "until": 1}),
        json!({"sid": SID, "key": "AAAAAAAAAAAAAAAAAAAAAA", "until": 1}),
    ] {
        assert!(
            RevocationEntry::from_json(&bad.to_string()).is_err(),
            "{bad} parsed"
        );
    }
}

#[cfg(feature = "rsa")]
mod rsa_tokens {
    use super::*;

    fn rsa_verifier() -> (Keys, Verifier) {
        let keys = Keys::new();
        let mut jwks = jwks();
        let mut rs = keys.rsa_jwk().unwrap();
        rs.kid = Some("rsa-a".into());
        rs.iss = Some(IDP_A.into());
        let mut ps = rs.clone();
        ps.kid = Some("ps-a".into());
        ps.alg = Some("PS256".into());
        jwks.upstream_keys.extend([rs, ps]);
        let verifier = Verifier::new(
            VerifierOptions::new(ISSUER, AUDIENCE),
            KeySet::from_jwks(&jwks).unwrap(),
        );
        (keys, verifier)
    }

    /// RS256 and PS256, what Keycloak, Auth0, Okta and Entra sign with;
    /// each key pinned to one of them.
    #[test]
    fn rs256_and_ps256_tokens_verify_and_stay_pinned() {
        let (keys, verifier) = rsa_verifier();
        let claims = upstream_claims(IDP_A);
        let rs = forge(
            &json!({"alg": "RS256", "kid": "rsa-a", "typ": "at+jwt"}),
            &claims,
            Sign::Rs(&keys.rs),
        );
        let ps = forge(
            &json!({"alg": "PS256", "kid": "ps-a", "typ": "at+jwt"}),
            &claims,
            Sign::Ps(&keys.rs),
        );
        assert!(verify(&verifier, &rs).is_ok());
        assert!(verify(&verifier, &ps).is_ok());
        let switched = forge(
            &json!({"alg": "PS256", "kid": "rsa-a", "typ": "at+jwt"}),
            &claims,
            Sign::Ps(&keys.rs),
        );
        assert_eq!(code_of(&verifier, &switched), "unsupported_alg");
        // HS256 "signed" with the RSA key's public modulus.
        let n = keys.rsa_jwk().unwrap().n.unwrap();
        let confused = forge(
            &json!({"alg": "HS256", "kid": "rsa-a", "typ": "at+jwt"}),
            &claims,
            Sign::Hs(n.as_bytes()),
        );
        assert_eq!(code_of(&verifier, &confused), "unsupported_alg");
    }
}

/// A verifier that ignores the `iss` member of a JWK (any JOSE library, or
/// a tollgate verifier from before upstreams) must not find an upstream's
/// key among tollgate's own: they are published apart, in
/// `upstream_keys`, and a key in `keys` that names an issuer is not loaded.
#[test]
fn upstream_keys_are_published_apart_from_tollgates_own() {
    let mut jwks = Keys::new().jwks();
    jwks.upstream_keys.push(es_jwk(&key_a(), "shared", IDP_A));
    jwks.upstreams = vec![rules(IDP_A)];
    let json = serde_json::to_value(&jwks).unwrap();
    assert!(
        json["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|key| key.get("iss").is_none()),
        "{json}"
    );
    assert_eq!(json["upstream_keys"][0]["iss"], IDP_A);
    let verifier = Verifier::new(
        VerifierOptions::new(ISSUER, AUDIENCE),
        KeySet::from_jwks(&jwks).unwrap(),
    );
    assert!(verify(&verifier, &es_token(&key_a(), &upstream_claims(IDP_A))).is_ok());
    // An upstream's key smuggled into `keys` is tollgate's own for nobody.
    let mut smuggled = Keys::new().jwks();
    smuggled.keys.push(es_jwk(&key_a(), "shared", IDP_A));
    smuggled.upstreams = vec![rules(IDP_A)];
    let keys = KeySet::from_jwks(&smuggled).unwrap();
    assert_eq!(keys.skipped(), 1);
    let verifier = Verifier::new(VerifierOptions::new(ISSUER, AUDIENCE), keys);
    let own_claims_by_upstream_key =
        forge(&header("ES256", "shared"), &claims(), Sign::Es(&key_a()));
    assert_eq!(
        code_of(&verifier, &own_claims_by_upstream_key),
        "unknown_kid"
    );
    assert_eq!(
        code_of(&verifier, &es_token(&key_a(), &upstream_claims(IDP_A))),
        "unknown_kid"
    );
}

/// Where the provider's tokens name their session, one that does not
/// could never be revoked by a session logout: refused.
#[test]
fn a_token_without_the_configured_session_claim_is_refused() {
    let mut claims = upstream_claims(IDP_A);
    claims.as_object_mut().unwrap().remove("sid");
    assert_eq!(
        code_of(&verifier(), &es_token(&key_a(), &claims)),
        "missing_claim"
    );
    let mut jwks = jwks();
    jwks.upstreams[0].session_claim = None;
    let verifier = Verifier::new(
        VerifierOptions::new(ISSUER, AUDIENCE),
        KeySet::from_jwks(&jwks).unwrap(),
    );
    assert!(verify(&verifier, &es_token(&key_a(), &claims)).is_ok());
}

/// An ID token is not an access token, whatever its `typ` and `aud`.
#[test]
fn an_id_token_is_refused() {
    let mut with_nonce = upstream_claims(IDP_A);
    with_nonce["nonce"] = json!("n-0S6_WzA2Mj");
    assert_eq!(
        code_of(&verifier(), &es_token(&key_a(), &with_nonce)),
        "wrong_type"
    );
    let mut keycloak_id = upstream_claims(IDP_A);
    keycloak_id["typ"] = json!("ID");
    assert_eq!(
        code_of(&verifier(), &es_token(&key_a(), &keycloak_id)),
        "wrong_type"
    );
}

/// The feed never carries an upstream's identifiers in clear: a session,
/// a token or a subject is published as its 16-byte key, which still
/// revokes exactly what the clear entry did.
#[test]
fn upstream_entries_are_published_as_keys_only() {
    let clear = vec![
        RevocationEntry {
            target: Revoked::UpstreamSid {
                iss: IDP_A.into(),
                sid: "AB3F2D6C-5E1A-4D2B-9C8E-7F6A5B4C3D2E".into(),
            },
            until: NOW + 600,
        },
        RevocationEntry {
            target: Revoked::Email {
                iss: Some(IDP_B.into()),
                email: "ada@example.com".into(),
                before: NOW,
            },
            until: NOW + 600,
        },
    ];
    let wire = serde_json::to_string(&clear).unwrap();
    for secret in ["AB3F2D6C", "ada@example.com", "\"sid\"", "\"email\""] {
        assert!(!wire.contains(secret), "{secret} in {wire}");
    }
    let published: Vec<RevocationEntry> = serde_json::from_str::<Vec<serde_json::Value>>(&wire)
        .unwrap()
        .iter()
        .map(|entry| RevocationEntry::from_json(&entry.to_string()).unwrap())
        .collect();
    let set = set_of(published);
    let verifier = verifier();
    assert_eq!(
        refusal(
            &verifier,
            &es_token(&key_a(), &upstream_claims(IDP_A)),
            NOW,
            &set
        ),
        "revoked"
    );
    assert_eq!(
        refusal(
            &verifier,
            &es_token(&key_b(), &upstream_claims(IDP_B)),
            NOW,
            &set
        ),
        "revoked"
    );
    let mut other = upstream_claims(IDP_B);
    other["email"] = json!("someone@example.com");
    assert!(
        verifier
            .verify(&es_token(&key_b(), &other), NOW, &set)
            .is_ok()
    );
}
