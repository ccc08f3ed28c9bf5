//! Loading keys from a JWKS.

use serde_json::json;
use tollgate_verifier::{Algorithm, KeySet};

use crate::support::*;

/// Every supported key type loads, pinned to its algorithm.
#[test]
fn supported_keys_load_pinned_to_their_algorithm() {
    let set = Keys::new().key_set();
    let kids: Vec<_> = set.kids().collect();
    assert!(kids.contains(&("ed", Algorithm::EdDsa)));
    assert!(kids.contains(&("es", Algorithm::Es256)));
    assert!(kids.contains(&("hs", Algorithm::Hs256)));
    #[cfg(feature = "rsa")]
    assert!(kids.contains(&("rs", Algorithm::Rs256)));
}

/// HS256 secrets under 32 bytes are refused, from a JWKS and from configuration.
#[test]
fn short_hs256_secrets_are_refused() {
    let jwks = json!({"keys": [{"kty": "oct", "kid": "hs", "k": b64(&[1; 31])}]});
    let err = KeySet::from_json(&jwks.to_string()).unwrap_err();
    assert!(err.to_string().contains("32 bytes"), "{err}");
    assert!(KeySet::new().insert_hs256("hs", &[1; 31]).is_err());
    assert!(KeySet::new().insert_hs256("hs", &[1; 32]).is_ok());
}

/// Unsupported key types are skipped; broken supported ones, duplicates and missing kids are errors.
#[test]
fn unsupported_skipped_broken_refused() {
    let ed = Keys::ed_jwk(&Keys::new().ed, "ed");
    let set = KeySet::from_json(
        &json!({"keys": [
            ed,
            {"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"},
            {"kty": "OKP", "crv": "X25519", "kid": "x", "x": "AA"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": "AA"},
        ]})
        .to_string(),
    )
    .unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.skipped(), 3);

    let broken = [
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "AAAA"}]}),
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "a"}]}),
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": b64(&[0; 32])}]}),
        json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "a", "x": b64(&[1; 32]), "y": b64(&[1; 32])}]}),
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": ed.x}]}),
        json!({"keys": [ed, ed]}),
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "a", "alg": "HS256", "x": ed.x}]}),
        json!({"keys": "nope"}),
        json!([]),
    ];
    for jwks in broken {
        assert!(KeySet::from_json(&jwks.to_string()).is_err(), "{jwks}");
    }
}

/// A key set's and a JWK's `Debug` output never show a secret.
#[test]
fn debug_output_redacts_secrets() {
    let keys = Keys::new();
    let jwks = keys.jwks();
    let secret = b64(&HS_SECRET);
    assert!(!format!("{jwks:?}").contains(&secret));
    assert!(!format!("{:?}", keys.key_set()).contains(&secret));
    assert!(!format!("{:?}", keys.verifier()).contains(&secret));
}

/// `peek_kid` reads the `kid` of a readable header and nothing else, proving nothing.
#[test]
fn peek_kid_reads_only_readable_headers() {
    use tollgate_verifier::Verifier;
    let keys = Keys::new();
    let forged = forge(
        &header("EdDSA", "rotated-7"),
        &claims(),
        Sign::Ed(&Keys::attacker()),
    );
    assert_eq!(Verifier::peek_kid(&forged).as_deref(), Some("rotated-7"));
    assert_eq!(
        Verifier::peek_kid(&ed_token(&keys, &claims())).as_deref(),
        Some("ed")
    );
    let no_kid = forge(&json!({"alg": "EdDSA"}), &claims(), Sign::Ed(&keys.ed));
    assert_eq!(Verifier::peek_kid(&no_kid), None);
    for garbage in ["", "abc", "!!.e30.x", &"a".repeat(9000)] {
        assert_eq!(Verifier::peek_kid(garbage), None);
    }
}
