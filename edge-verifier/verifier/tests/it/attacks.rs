//! Tokens an attacker would send. Each must fail with the right code.

use serde_json::json;

use crate::support::*;

/// A valid token of each algorithm verifies, with its claims intact.
#[test]
fn valid_tokens_of_each_algorithm_verify() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    #[cfg_attr(not(feature = "rsa"), allow(unused_mut))]
    let mut tokens = vec![
        forge(&header("EdDSA", "ed"), &claims(), Sign::Ed(&keys.ed)),
        forge(&header("ES256", "es"), &claims(), Sign::Es(&keys.es)),
        forge(&header("HS256", "hs"), &claims(), Sign::Hs(&HS_SECRET)),
    ];
    #[cfg(feature = "rsa")]
    tokens.push(forge(&header("RS256", "rs"), &claims(), Sign::Rs(&keys.rs)));
    for token in &mut tokens {
        let verified = verify(&verifier, token).unwrap();
        assert_eq!(verified.session_uuid(), Some(SID));
        assert_eq!(verified.token_uuid(), Some(JTI));
        assert_eq!(verified.roles, ["USER"]);
        assert_eq!(verified.email.as_deref(), Some("ada@example.com"));
    }
}

/// `alg: none` is refused whatever the signature part holds.
#[test]
fn alg_none_is_refused() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    for alg in ["none", "None", "NONE"] {
        let token = forge(&header(alg, "ed"), &claims(), Sign::Nothing);
        assert_eq!(code_of(&verifier, &token), "unsupported_alg");
        let token = forge(&header(alg, "ed"), &claims(), Sign::Ed(&keys.ed));
        assert_eq!(code_of(&verifier, &token), "unsupported_alg");
    }
}

/// HS256 "signed" with the Ed25519 public key's bytes (classic algorithm confusion) is refused.
#[test]
fn hs256_with_public_key_bytes_is_refused() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let public = keys.ed.verifying_key().to_bytes();
    let jwk_text = serde_json::to_vec(&Keys::ed_jwk(&keys.ed, "ed")).unwrap();
    for secret in [&public[..], &jwk_text[..]] {
        let token = forge(&header("HS256", "ed"), &claims(), Sign::Hs(secret));
        assert_eq!(code_of(&verifier, &token), "unsupported_alg");
    }
}

/// A header `alg` other than the key's pinned algorithm is refused before any signature check.
#[test]
fn alg_not_matching_the_key_is_refused() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = forge(&header("ES256", "ed"), &claims(), Sign::Es(&keys.es));
    assert_eq!(code_of(&verifier, &token), "unsupported_alg");
    let token = forge(&header("EdDSA", "es"), &claims(), Sign::Ed(&keys.ed));
    assert_eq!(code_of(&verifier, &token), "unsupported_alg");
    let token = forge(&header("HS256", "es"), &claims(), Sign::Hs(&HS_SECRET));
    assert_eq!(code_of(&verifier, &token), "unsupported_alg");
}

/// Algorithms outside the allowlist are refused even with a matching key.
#[test]
fn algorithms_outside_the_allowlist_are_refused() {
    let keys = Keys::new();
    let verifier = keys.verifier_with(|o| o.algorithms = vec![tollgate_verifier::Algorithm::EdDsa]);
    let token = forge(&header("HS256", "hs"), &claims(), Sign::Hs(&HS_SECRET));
    assert_eq!(code_of(&verifier, &token), "unsupported_alg");
    for alg in ["HS512", "RS512", "ES384", "PS256", "Ed25519", "eddsa", ""] {
        let token = forge(&header(alg, "ed"), &claims(), Sign::Ed(&keys.ed));
        assert_eq!(code_of(&verifier, &token), "unsupported_alg", "{alg}");
    }
    assert!(verify(&verifier, &ed_token(&keys, &claims())).is_ok());
}

/// An unknown or missing `kid` is refused.
#[test]
fn unknown_and_missing_kid_are_refused() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = forge(&header("EdDSA", "nope"), &claims(), Sign::Ed(&keys.ed));
    assert_eq!(code_of(&verifier, &token), "unknown_kid");
    let token = forge(
        &json!({"alg": "EdDSA", "typ": "at+jwt"}),
        &claims(),
        Sign::Ed(&keys.ed),
    );
    assert_eq!(code_of(&verifier, &token), "unknown_kid");
    let token = forge(
        &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": null}),
        &claims(),
        Sign::Ed(&keys.ed),
    );
    assert_eq!(code_of(&verifier, &token), "unknown_kid");
}

/// `jku`, `x5u` and an embedded `jwk` naming the attacker's key are never used.
#[test]
fn header_key_references_are_ignored() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let attacker = Keys::attacker();
    let attacker_jwk = Keys::ed_jwk(&attacker, "evil");
    for kid in ["evil", "ed"] {
        let header = json!({
            "alg": "EdDSA", "typ": "at+jwt", "kid": kid,
            "jku": "https://attacker.example/jwks.json",
            "x5u": "https://attacker.example/cert.pem",
            "jwk": attacker_jwk,
        });
        let token = forge(&header, &claims(), Sign::Ed(&attacker));
        let expected = if kid == "evil" {
            "unknown_kid"
        } else {
            "bad_signature"
        };
        assert_eq!(code_of(&verifier, &token), expected);
    }
}

/// Any `crit` header, and `b64: false`, is refused: this verifier implements no JWS extension.
#[test]
fn critical_headers_are_refused() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let headers = [
        json!({"alg": "EdDSA", "kid": "ed", "typ": "at+jwt", "crit": ["exp"], "exp": 1}),
        json!({"alg": "EdDSA", "kid": "ed", "typ": "at+jwt", "crit": ["b64"], "b64": false}),
        json!({"alg": "EdDSA", "kid": "ed", "typ": "at+jwt", "b64": false}),
        json!({"alg": "EdDSA", "kid": "ed", "typ": "at+jwt", "crit": []}),
        json!({"alg": "EdDSA", "kid": "ed", "typ": "at+jwt", "crit": null}),
    ];
    for header in headers {
        let token = forge(&header, &claims(), Sign::Ed(&keys.ed));
        let err = verify(&verifier, &token).unwrap_err();
        assert_eq!(err.code().as_str(), "malformed", "{header}");
    }
}

/// `typ` must be `at+jwt` (any case, optional `application/` prefix).
#[test]
fn typ_must_be_at_jwt() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("at+jw"),
        json!("application/jwt"),
        json!(null),
        json!("xat+jwt"),
    ] {
        let token = forge(
            &json!({"alg": "EdDSA", "kid": "ed", "typ": typ}),
            &claims(),
            Sign::Ed(&keys.ed),
        );
        assert_eq!(code_of(&verifier, &token), "wrong_type", "{typ}");
    }
    let token = forge(
        &json!({"alg": "EdDSA", "kid": "ed"}),
        &claims(),
        Sign::Ed(&keys.ed),
    );
    assert_eq!(code_of(&verifier, &token), "wrong_type");
    let token = forge(
        &json!({"alg": "EdDSA", "kid": "ed", "typ": 7}),
        &claims(),
        Sign::Ed(&keys.ed),
    );
    assert_eq!(code_of(&verifier, &token), "malformed");
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+JWT",
    ] {
        let token = forge(
            &json!({"alg": "EdDSA", "kid": "ed", "typ": typ}),
            &claims(),
            Sign::Ed(&keys.ed),
        );
        assert!(verify(&verifier, &token).is_ok(), "{typ}");
    }
}

/// A flipped bit anywhere in the signature, a truncated one or an empty one fails.
#[test]
fn tampered_and_truncated_signatures_are_refused() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    for token in [
        ed_token(&keys, &claims()),
        forge(&header("ES256", "es"), &claims(), Sign::Es(&keys.es)),
        forge(&header("HS256", "hs"), &claims(), Sign::Hs(&HS_SECRET)),
    ] {
        let (input, sig) = token.rsplit_once('.').unwrap();
        let raw = <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(sig).unwrap();
        for byte in [0, raw.len() / 2, raw.len() - 1] {
            let mut bad = raw.clone();
            bad[byte] ^= 0x01;
            assert_eq!(
                code_of(&verifier, &format!("{input}.{}", b64(&bad))),
                "bad_signature"
            );
        }
        let short = &raw[..raw.len() - 1];
        assert_eq!(
            code_of(&verifier, &format!("{input}.{}", b64(short))),
            "bad_signature"
        );
        let long = [&raw[..], &[0]].concat();
        assert_eq!(
            code_of(&verifier, &format!("{input}.{}", b64(&long))),
            "bad_signature"
        );
        assert_eq!(code_of(&verifier, &format!("{input}.")), "bad_signature");
    }
}

/// Changing the payload after signing breaks the signature, even with a valid-looking payload.
#[test]
fn tampered_payload_is_refused() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let (_, sig) = token.rsplit_once('.').unwrap();
    let admin = claims_with(|c| {
        c.insert("roles".into(), json!(["ADMIN"]));
    });
    let forged = format!(
        "{}.{}.{sig}",
        b64(header("EdDSA", "ed").to_string().as_bytes()),
        b64(admin.to_string().as_bytes())
    );
    assert_eq!(code_of(&verifier, &forged), "bad_signature");
}

/// A token signed by the attacker's own key under our `kid` fails the signature check.
#[test]
fn signature_by_another_key_is_refused() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = forge(
        &header("EdDSA", "ed"),
        &claims(),
        Sign::Ed(&Keys::attacker()),
    );
    assert_eq!(code_of(&verifier, &token), "bad_signature");
    let token = forge(&header("HS256", "hs"), &claims(), Sign::Hs(&[0x43; 32]));
    assert_eq!(code_of(&verifier, &token), "bad_signature");
}
