//! Property tests: no input panics, and every failure carries a code.

use proptest::prelude::*;
use serde_json::{Value, json};
use tollgate_verifier::{ErrorCode, RevocationSet, Verifier};

use crate::support::*;

fn assert_coded(verifier: &Verifier, token: &str) {
    if let Err(err) = verifier.verify(token, NOW, &RevocationSet::new()) {
        assert!(ErrorCode::ALL.contains(&err.code()));
        assert!(!err.to_string().is_empty());
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-zA-Z0-9+/=_.: -]{0,12}".prop_map(Value::from),
        Just(json!(ISSUER)),
        Just(json!(AUDIENCE)),
        Just(json!(SID)),
        Just(json!(NOW)),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn claim_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "iss", "sub", "aud", "iat", "exp", "nbf", "jti", "sid", "roles", "email"
        ])
        .prop_map(String::from),
        "[a-z]{1,5}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary strings never panic and never verify.
    #[test]
    fn arbitrary_strings_yield_coded_errors(token in ".{0,300}") {
        let verifier = Keys::new().verifier();
        prop_assert!(verifier.verify(&token, NOW, &RevocationSet::new()).is_err());
        assert_coded(&verifier, &token);
    }

    /// Three base64url-ish parts of random bytes never panic and never verify.
    #[test]
    fn random_three_part_tokens_yield_coded_errors(
        header in prop::collection::vec(any::<u8>(), 0..80),
        payload in prop::collection::vec(any::<u8>(), 0..200),
        signature in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let token = format!("{}.{}.{}", b64(&header), b64(&payload), b64(&signature));
        let verifier = Keys::new().verifier();
        prop_assert!(verifier.verify(&token, NOW, &RevocationSet::new()).is_err());
    }

    /// Correctly signed tokens with arbitrary claims never panic: they verify or fail with a code.
    #[test]
    fn signed_arbitrary_claims_never_panic(
        edits in prop::collection::vec((claim_name(), json_value()), 0..6),
        removals in prop::collection::vec(claim_name(), 0..3),
    ) {
        let keys = Keys::new();
        let claims = claims_with(|c| {
            for (name, value) in edits {
                c.insert(name, value);
            }
            for name in removals {
                c.remove(&name);
            }
        });
        let token = ed_token(&keys, &claims);
        assert_coded(&keys.verifier(), &token);
    }

    /// Signed tokens with arbitrary header members never panic.
    #[test]
    fn signed_arbitrary_headers_never_panic(
        members in prop::collection::vec((prop::sample::select(vec!["alg", "kid", "typ", "crit", "b64", "jwk", "cty", "x5t"]), json_value()), 0..5),
    ) {
        let keys = Keys::new();
        let mut header = header("EdDSA", "ed");
        for (name, value) in members {
            header.as_object_mut().unwrap().insert(name.into(), value);
        }
        let token = forge(&header, &claims(), Sign::Ed(&keys.ed));
        assert_coded(&keys.verifier(), &token);
    }
}

/// Any text, control characters, quotes and non-ASCII included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{0,12}", ".{0,12}", "[\"\\\\\u{0}-\u{1f}é😀]{0,6}"]
}

fn claims_of_any_shape() -> impl Strategy<Value = tollgate_verifier::AccessClaims> {
    use tollgate_verifier::{AccessClaims, Audience, Confirmation};
    (
        (
            text(),
            text(),
            prop_oneof![
                text().prop_map(Audience::One),
                prop::collection::vec(text(), 0..3).prop_map(Audience::Many)
            ],
        ),
        (any::<i64>(), any::<i64>(), any::<Option<i64>>()),
        (
            prop::option::of(text()),
            prop::option::of(text()),
            prop::collection::vec(text(), 0..3),
            prop::option::of(text()),
            prop::option::of(text().prop_map(|jkt| Confirmation { jkt })),
        ),
    )
        .prop_map(
            |((iss, sub, aud), (iat, exp, nbf), (jti, sid, roles, email, cnf))| AccessClaims {
                iss,
                sub,
                aud,
                iat,
                exp,
                nbf,
                jti,
                sid,
                roles,
                email,
                cnf,
            },
        )
}

fn jwk_of_any_shape() -> impl Strategy<Value = tollgate_verifier::Jwk> {
    (text(), prop::collection::vec(prop::option::of(text()), 10)).prop_map(|(kty, o)| {
        tollgate_verifier::Jwk {
            kty,
            kid: o[0].clone(),
            iss: o[1].clone(),
            alg: o[2].clone(),
            key_use: o[3].clone(),
            crv: o[4].clone(),
            x: o[5].clone(),
            y: o[6].clone(),
            n: o[7].clone(),
            e: o[8].clone(),
            k: o[9].clone(),
        }
    })
}

proptest! {
    /// The claims an adapter hands JavaScript are the text the issuer's
    /// serde writes for them, byte for byte.
    #[test]
    fn claims_json_is_what_serde_writes(claims in claims_of_any_shape()) {
        prop_assert_eq!(claims.to_json(), serde_json::to_string(&claims).unwrap());
    }

    /// A key's JSON (what WebCrypto imports) is serde's text too, and reads back as the key.
    #[test]
    fn jwk_json_is_what_serde_writes_and_reads_back(jwk in jwk_of_any_shape()) {
        let text = jwk.to_json();
        prop_assert_eq!(&text, &serde_json::to_string(&jwk).unwrap());
        prop_assert_eq!(tollgate_verifier::Jwk::from_json(&text).unwrap(), jwk);
    }
}
