//! DPoP (RFC 9449): a bound token passes only with a fresh proof of its key
//! for this request; every bad proof of issue 13's list is refused with
//! `invalid_dpop_proof` (or `use_dpop_nonce`).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tollgate_verifier::dpop::{self, MAX_PROOF_LEN, ProofRequest, ReplayCache};
use tollgate_verifier::{
    ErrorCode, Jwk, Replay, Request, RevocationSet, Scheme, Verifier, VerifyError, credentials,
};

use crate::support::*;

const URL: &str = "https://api.example.com/api/todos";

/// A device key: ES256 or EdDSA, with its public JWK.
enum DeviceKey {
    Es(p256::ecdsa::SigningKey),
    Ed(ed25519_dalek::SigningKey),
}

impl DeviceKey {
    fn es(seed: u8) -> Self {
        DeviceKey::Es(p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap())
    }

    fn ed(seed: u8) -> Self {
        DeviceKey::Ed(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    fn alg(&self) -> &'static str {
        match self {
            DeviceKey::Es(_) => "ES256",
            DeviceKey::Ed(_) => "EdDSA",
        }
    }

    fn jwk(&self) -> Value {
        match self {
            DeviceKey::Es(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "crv": "P-256",
                       "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
            }
            DeviceKey::Ed(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.verifying_key().as_bytes())})
            }
        }
    }

    fn jkt(&self) -> String {
        dpop::thumbprint(&Jwk::from_json(&self.jwk().to_string()).unwrap())
    }

    fn sign(&self) -> Sign<'_> {
        match self {
            DeviceKey::Es(key) => Sign::Es(key),
            DeviceKey::Ed(key) => Sign::Ed(key),
        }
    }

    /// A proof with `header` and `claims` as given, signed by this key.
    fn proof_raw(&self, header: &Value, claims: &Value) -> String {
        forge(header, claims, self.sign())
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk()})
    }

    /// A valid proof for GET [`URL`] with `token`, edited by `edit`.
    fn proof_with(
        &self,
        token: &str,
        edit: impl FnOnce(&mut serde_json::Map<String, Value>),
    ) -> String {
        let mut claims = proof_claims(token);
        edit(claims.as_object_mut().unwrap());
        self.proof_raw(&self.header(), &claims)
    }

    fn proof(&self, token: &str) -> String {
        self.proof_with(token, |_| {})
    }
}

fn ath(token: &str) -> String {
    b64(&Sha256::digest(token.as_bytes()))
}

fn proof_claims(token: &str) -> Value {
    json!({
        "jti": format!("{:x}", rand::random::<u128>()),
        "htm": "GET",
        "htu": URL,
        "iat": NOW,
        "ath": ath(token),
    })
}

/// A valid EdDSA access token bound to `device`.
fn bound_token(keys: &Keys, device: &DeviceKey) -> String {
    ed_token(
        keys,
        &claims_with(|c| {
            c.insert("cnf".into(), json!({"jkt": device.jkt()}));
        }),
    )
}

fn request(scheme: Scheme, token: &str, proofs: &[&str]) -> Request {
    Request {
        scheme,
        token: token.to_owned(),
        proofs: proofs.iter().map(|p| (*p).to_owned()).collect(),
        method: "GET".to_owned(),
        url: URL.to_owned(),
    }
}

fn check(
    verifier: &Verifier,
    presented: &Request,
    replay: &mut ReplayCache,
) -> Result<(), &'static str> {
    verifier
        .verify_request(
            presented.clone(),
            NOW,
            &RevocationSet::new(),
            Replay::Record(replay),
        )
        .map(|_| ())
        .map_err(|err| err.code().as_str())
}

/// The code a request with `token` and these `proofs` (DPoP scheme) gets.
fn code_with(proofs: &[&str], token: &str) -> Result<(), &'static str> {
    let verifier = Keys::new().verifier();
    check(
        &verifier,
        &request(Scheme::Dpop, token, proofs),
        &mut ReplayCache::default(),
    )
}

#[test]
fn a_bound_token_passes_with_a_proof_of_its_key_es256_and_eddsa() {
    let keys = Keys::new();
    for device in [DeviceKey::es(3), DeviceKey::ed(4)] {
        let token = bound_token(&keys, &device);
        let proof = device.proof(&token);
        let verified = keys
            .verifier()
            .verify_request(
                request(Scheme::Dpop, &token, &[&proof]),
                NOW,
                &RevocationSet::new(),
                Replay::Record(&mut ReplayCache::default()),
            )
            .unwrap();
        assert_eq!(verified.cnf.as_ref().unwrap().jkt, device.jkt());
    }
}

#[test]
fn an_unbound_bearer_token_needs_no_proof() {
    let keys = Keys::new();
    let token = ed_token(&keys, &claims());
    assert_eq!(
        check(
            &keys.verifier(),
            &request(Scheme::Bearer, &token, &[]),
            &mut ReplayCache::default()
        ),
        Ok(())
    );
}

#[test]
fn a_bound_token_sent_as_bearer_or_in_the_cookie_is_refused() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = bound_token(&keys, &device);
    let proof = device.proof(&token);
    // Even with a valid proof next to it: the scheme says Bearer.
    assert_eq!(
        check(
            &keys.verifier(),
            &request(Scheme::Bearer, &token, &[&proof]),
            &mut ReplayCache::default()
        ),
        Err("invalid_dpop_proof")
    );
    let cookie = format!("access_token={token}");
    let (scheme, from_cookie) = credentials(None, Some(&cookie)).unwrap();
    assert_eq!(
        check(
            &keys.verifier(),
            &request(scheme, from_cookie, &[]),
            &mut ReplayCache::default()
        ),
        Err("invalid_dpop_proof")
    );
}

#[test]
fn verify_treats_its_token_as_bearer_and_refuses_a_bound_one() {
    let keys = Keys::new();
    let token = bound_token(&keys, &DeviceKey::es(3));
    assert_eq!(code_of(&keys.verifier(), &token), "invalid_dpop_proof");
    // An authorization server handed the token (RFC 7009) may still read it.
    assert!(
        keys.verifier()
            .inspect(&token, NOW, &RevocationSet::new())
            .is_ok()
    );
}

#[test]
fn an_unbound_token_sent_as_dpop_is_refused() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = ed_token(&keys, &claims());
    assert_eq!(
        code_with(&[&device.proof(&token)], &token),
        Err("invalid_dpop_proof")
    );
}

#[test]
fn no_proof_or_two_proofs_are_refused() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = bound_token(&keys, &device);
    let (one, two) = (device.proof(&token), device.proof(&token));
    assert_eq!(code_with(&[], &token), Err("invalid_dpop_proof"));
    assert_eq!(code_with(&[&one, &two], &token), Err("invalid_dpop_proof"));
}

#[test]
fn a_proof_of_another_key_is_refused() {
    let keys = Keys::new();
    let (device, thief) = (DeviceKey::es(3), DeviceKey::es(5));
    let token = bound_token(&keys, &device);
    assert_eq!(
        code_with(&[&thief.proof(&token)], &token),
        Err("invalid_dpop_proof")
    );
    // The device's public key in the header, the thief's signature.
    let forged = forge(&device.header(), &proof_claims(&token), thief.sign());
    assert_eq!(code_with(&[&forged], &token), Err("invalid_dpop_proof"));
}

#[test]
fn a_proof_for_another_method_or_url_is_refused() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = bound_token(&keys, &device);
    let cases: [(&str, Value); 5] = [
        ("htm", json!("POST")),
        ("htu", json!("https://api.example.com/api/other")),
        ("htu", json!("https://evil.example.com/api/todos")),
        ("htu", json!(format!("{URL}?all=1"))),
        ("htu", json!(format!("{URL}#top"))),
    ];
    for (claim, value) in cases {
        let proof = device.proof_with(&token, |c| {
            c.insert(claim.into(), value.clone());
        });
        assert_eq!(
            code_with(&[&proof], &token),
            Err("invalid_dpop_proof"),
            "{claim}={value}"
        );
    }
}

#[test]
fn the_request_urls_query_is_ignored_and_scheme_host_and_port_normalised() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = bound_token(&keys, &device);
    let proof = device.proof_with(&token, |c| {
        c.insert("htu".into(), json!("HTTPS://API.example.com:443/api/todos"));
    });
    let proofs = [proof.as_str()];
    let presented = Request {
        url: "https://api.example.com/api/todos?page=2".to_owned(),
        ..request(Scheme::Dpop, &token, &proofs)
    };
    assert_eq!(
        check(&keys.verifier(), &presented, &mut ReplayCache::default()),
        Ok(())
    );
}

#[test]
fn a_replayed_proof_is_refused() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = bound_token(&keys, &device);
    let proof = device.proof(&token);
    let verifier = keys.verifier();
    let mut replay = ReplayCache::default();
    let proofs = [proof.as_str()];
    let presented = request(Scheme::Dpop, &token, &proofs);
    assert_eq!(check(&verifier, &presented, &mut replay), Ok(()));
    assert_eq!(
        check(&verifier, &presented, &mut replay),
        Err("invalid_dpop_proof")
    );
    // Past the window the proof's own iat refuses it, so forgetting is safe.
    let later = NOW + 60 + 30 + 1;
    let err = verifier
        .verify_request(
            presented.clone(),
            later,
            &RevocationSet::new(),
            Replay::Record(&mut replay),
        )
        .unwrap_err();
    assert_eq!(
        err,
        VerifyError::InvalidDpopProof("proof iat is outside the accepted window")
    );
}

#[test]
fn a_proof_too_old_or_from_the_future_is_refused() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = bound_token(&keys, &device);
    for iat in [NOW - 60 - 30 - 1, NOW + 31] {
        let proof = device.proof_with(&token, |c| {
            c.insert("iat".into(), json!(iat));
        });
        assert_eq!(
            code_with(&[&proof], &token),
            Err("invalid_dpop_proof"),
            "iat {iat}"
        );
    }
    for iat in [NOW - 60 - 30, NOW + 30] {
        let proof = device.proof_with(&token, |c| {
            c.insert("iat".into(), json!(iat));
        });
        assert_eq!(code_with(&[&proof], &token), Ok(()), "iat {iat}");
    }
}

#[test]
fn a_missing_or_wrong_ath_is_refused() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = bound_token(&keys, &device);
    let missing = device.proof_with(&token, |c| {
        c.remove("ath");
    });
    let wrong = device.proof_with(&token, |c| {
        c.insert("ath".into(), json!(ath("another token")));
    });
    assert_eq!(code_with(&[&missing], &token), Err("invalid_dpop_proof"));
    assert_eq!(code_with(&[&wrong], &token), Err("invalid_dpop_proof"));
}

#[test]
fn a_private_key_none_hs256_or_wrong_typ_is_refused() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = bound_token(&keys, &device);
    let claims = proof_claims(&token);
    let mut with_private = device.header();
    with_private["jwk"]["d"] = json!(b64(&[9; 32]));
    let none = forge(
        &json!({"typ": "dpop+jwt", "alg": "none", "jwk": device.jwk()}),
        &claims,
        Sign::Nothing,
    );
    let hs = forge(
        &json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(&HS_SECRET)}}),
        &claims,
        Sign::Hs(&HS_SECRET),
    );
    let mut wrong_typ = device.header();
    wrong_typ["typ"] = json!("jwt");
    let mut no_typ = device.header();
    no_typ.as_object_mut().unwrap().remove("typ");
    let mut no_jwk = device.header();
    no_jwk.as_object_mut().unwrap().remove("jwk");
    let mut alg_mismatch = device.header();
    alg_mismatch["alg"] = json!("EdDSA");
    for (name, proof) in [
        ("private key", device.proof_raw(&with_private, &claims)),
        ("alg none", none),
        ("HS256", hs),
        ("typ jwt", device.proof_raw(&wrong_typ, &claims)),
        ("no typ", device.proof_raw(&no_typ, &claims)),
        ("no jwk", device.proof_raw(&no_jwk, &claims)),
        (
            "alg not the key's",
            device.proof_raw(&alg_mismatch, &claims),
        ),
    ] {
        assert_eq!(
            code_with(&[&proof], &token),
            Err("invalid_dpop_proof"),
            "{name}"
        );
    }
}

#[test]
fn a_proof_larger_than_8_kib_is_refused_unread() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = bound_token(&keys, &device);
    let proof = device.proof_with(&token, |c| {
        c.insert("pad".into(), json!("x".repeat(MAX_PROOF_LEN)));
    });
    assert!(proof.len() > MAX_PROOF_LEN);
    assert_eq!(
        dpop::verify_proof(&proof, &ProofRequest::new("GET", URL), NOW),
        Err(VerifyError::InvalidDpopProof("proof is larger than 8 KiB"))
    );
    assert_eq!(code_with(&[&proof], &token), Err("invalid_dpop_proof"));
}

#[test]
fn garbage_proofs_are_coded_refusals() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = bound_token(&keys, &device);
    for proof in ["", "a.b", "a.b.c", "...", "eyJ9.e30.", &"A".repeat(100)] {
        assert_eq!(
            code_with(&[proof], &token),
            Err("invalid_dpop_proof"),
            "{proof:?}"
        );
    }
}

#[test]
fn a_token_whose_cnf_is_not_jkt_is_refused() {
    let keys = Keys::new();
    let token = ed_token(
        &keys,
        &claims_with(|c| {
            c.insert("cnf".into(), json!({"x5t#S256": "abc"}));
        }),
    );
    assert_eq!(code_of(&keys.verifier(), &token), "malformed");
}

#[test]
fn server_nonces_are_asked_for_and_checked() {
    let device = DeviceKey::es(3);
    let accepts = |nonce: &str| nonce == "n-1";
    let request = ProofRequest {
        nonce: Some(&accepts),
        ..ProofRequest::new("POST", "https://issuer.example.com/v1/auth/login")
    };
    let proof = |nonce: Option<&str>| {
        let mut claims = json!({"jti": "j", "htm": "POST",
            "htu": "https://issuer.example.com/v1/auth/login", "iat": NOW});
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        device.proof_raw(&device.header(), &claims)
    };
    assert_eq!(
        dpop::verify_proof(&proof(None), &request, NOW),
        Err(VerifyError::UseDpopNonce)
    );
    assert_eq!(
        dpop::verify_proof(&proof(Some("n-0")), &request, NOW),
        Err(VerifyError::UseDpopNonce)
    );
    let accepted = dpop::verify_proof(&proof(Some("n-1")), &request, NOW).unwrap();
    assert_eq!(accepted.jkt, device.jkt());
    // Without a nonce rule a proof needs none, and no token means no ath.
    assert!(
        dpop::verify_proof(
            &proof(None),
            &ProofRequest {
                nonce: None,
                ..request
            },
            NOW
        )
        .is_ok()
    );
}

#[test]
fn thumbprints_match_rfc_7638_for_ec_and_okp() {
    // A P-256 key's thumbprint, computed independently over the canonical JSON.
    let device = DeviceKey::es(3);
    let jwk = device.jwk();
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    assert_eq!(device.jkt(), b64(&Sha256::digest(canonical.as_bytes())));
    // Members beyond the required ones do not change it.
    let mut extended = jwk.clone();
    extended["kid"] = json!("ignored");
    extended["use"] = json!("sig");
    assert_eq!(
        dpop::thumbprint(&Jwk::from_json(&extended.to_string()).unwrap()),
        device.jkt()
    );
}

#[test]
fn challenges_name_dpop_for_its_codes_and_bearer_otherwise() {
    assert_eq!(
        ErrorCode::InvalidDpopProof.challenge(),
        r#"DPoP algs="ES256 EdDSA Ed25519", error="invalid_dpop_proof""#
    );
    assert_eq!(
        ErrorCode::Revoked.challenge(),
        r#"Bearer error="invalid_token", error_description="revoked""#
    );
}

#[test]
fn a_revoked_bound_token_is_revoked_whatever_the_proof() {
    let keys = Keys::new();
    let device = DeviceKey::es(3);
    let token = bound_token(&keys, &device);
    let proof = device.proof(&token);
    let mut revoked = RevocationSet::new();
    revoked.apply(&tollgate_verifier::RevocationFeed {
        cursor: "1".into(),
        reset: true,
        more: false,
        keys: None,
        revoked: vec![tollgate_verifier::RevocationEntry {
            target: tollgate_verifier::Revoked::Sid(SID),
            until: NOW + 600,
        }],
    });
    let err = keys
        .verifier()
        .verify_request(
            request(Scheme::Dpop, &token, &[&proof]),
            NOW,
            &revoked,
            Replay::Record(&mut ReplayCache::default()),
        )
        .unwrap_err();
    assert_eq!(err, VerifyError::Revoked);
}
