//! A token forge for tests: any header, any claims, signed by any test key.
//!
//! Tokens are assembled by hand (not through an encoder that would refuse
//! bad input) so the tests can produce exactly the malformed and hostile
//! tokens an attacker would. Signatures come from jwt-compact's algorithms.

use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_compact::{Algorithm as _, AlgorithmSignature as _, alg as jc};
use serde_json::{Value, json};
use tollgate_verifier::{
    Jwk, Jwks, KeySet, RevocationEntry, RevocationFeed, RevocationSet, Revoked, Uuid, Verified,
    Verifier, VerifierOptions, VerifyError,
};

/// The instant every test stands at, unless it moves.
pub const NOW: i64 = 1_763_820_000;
pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "api";
pub const SID: Uuid = Uuid::from_u128(0x6c9a1b0e_3c0f_4d4e_9a57_0f7f8f2c1d11);
pub const JTI: Uuid = Uuid::from_u128(0x0b7d4d0a_51b5_4bd8_8d0e_1f2a3b4c5d6e);
pub const HS_SECRET: [u8; 32] = [0x42; 32];

pub fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// The test signing keys, one per algorithm, from fixed seeds.
pub struct Keys {
    pub ed: ed25519_dalek::SigningKey,
    pub es: p256::ecdsa::SigningKey,
    #[cfg(feature = "rsa")]
    pub rs: rsa::RsaPrivateKey,
}

impl Keys {
    pub fn new() -> Self {
        Keys {
            ed: ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
            es: p256::ecdsa::SigningKey::from_bytes(&[9; 32].into()).unwrap(),
            #[cfg(feature = "rsa")]
            rs: rsa_key(),
        }
    }

    /// An Ed25519 key nobody trusts.
    pub fn attacker() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[66; 32])
    }

    pub fn ed_jwk(key: &ed25519_dalek::SigningKey, kid: &str) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            kid: Some(kid.into()),
            x: Some(b64(key.verifying_key().as_bytes())),
            ..Jwk::default()
        }
    }

    /// The JWKS a verifier trusts: `ed`, `es`, `hs` (and `rs`).
    pub fn jwks(&self) -> Jwks {
        let point = self.es.verifying_key().to_encoded_point(false);
        let mut keys = vec![
            Self::ed_jwk(&self.ed, "ed"),
            Jwk {
                kty: "EC".into(),
                crv: Some("P-256".into()),
                kid: Some("es".into()),
                x: Some(b64(point.x().unwrap())),
                y: Some(b64(point.y().unwrap())),
                ..Jwk::default()
            },
            Jwk {
                kty: "oct".into(),
                kid: Some("hs".into()),
                k: Some(b64(&HS_SECRET)),
                ..Jwk::default()
            },
        ];
        keys.extend(self.rsa_jwk());
        Jwks {
            keys,
            ..Jwks::default()
        }
    }

    #[cfg(feature = "rsa")]
    pub fn rsa_jwk(&self) -> Option<Jwk> {
        use rsa::traits::PublicKeyParts;
        Some(Jwk {
            kty: "RSA".into(),
            kid: Some("rs".into()),
            n: Some(b64(&self.rs.n().to_bytes_be())),
            e: Some(b64(&self.rs.e().to_bytes_be())),
            ..Jwk::default()
        })
    }

    #[cfg(not(feature = "rsa"))]
    fn rsa_jwk(&self) -> Option<Jwk> {
        None
    }

    pub fn key_set(&self) -> KeySet {
        KeySet::from_jwks(&self.jwks()).unwrap()
    }

    pub fn verifier(&self) -> Verifier {
        Verifier::new(VerifierOptions::new(ISSUER, AUDIENCE), self.key_set())
    }

    pub fn verifier_with(&self, adjust: impl FnOnce(&mut VerifierOptions)) -> Verifier {
        let mut options = VerifierOptions::new(ISSUER, AUDIENCE);
        adjust(&mut options);
        Verifier::new(options, self.key_set())
    }
}

#[cfg(feature = "rsa")]
fn rsa_key() -> rsa::RsaPrivateKey {
    use rand::SeedableRng;
    // Deterministic, and generated once per test binary.
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2048);
        rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap()
    })
    .clone()
}

/// How a forged token is signed.
pub enum Sign<'a> {
    Ed(&'a ed25519_dalek::SigningKey),
    Es(&'a p256::ecdsa::SigningKey),
    Hs(&'a [u8]),
    #[cfg(feature = "rsa")]
    Rs(&'a rsa::RsaPrivateKey),
    #[cfg(feature = "rsa")]
    Ps(&'a rsa::RsaPrivateKey),
    /// No signature at all (the third part is empty).
    Nothing,
}

impl Sign<'_> {
    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Sign::Ed(key) => jc::Ed25519.sign(key, input).as_bytes().into_owned(),
            Sign::Es(key) => jc::Es256.sign(key, input).as_bytes().into_owned(),
            Sign::Hs(secret) => jc::Hs256
                .sign(&jc::Hs256Key::new(secret), input)
                .as_bytes()
                .into_owned(),
            #[cfg(feature = "rsa")]
            Sign::Rs(key) => jc::Rsa::rs256().sign(key, input).as_bytes().into_owned(),
            #[cfg(feature = "rsa")]
            Sign::Ps(key) => jc::Rsa::ps256().sign(key, input).as_bytes().into_owned(),
            Sign::Nothing => Vec::new(),
        }
    }
}

/// The claims of a valid token at [`NOW`].
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "2f9e3b8c-1d0a-4c55-8f1e-7a6b5c4d3e2f",
        "aud": AUDIENCE,
        "iat": NOW - 10,
        "exp": NOW + 300,
        "jti": JTI,
        "sid": SID,
        "roles": ["USER"],
        "email": "ada@example.com",
    })
}

/// A header for `alg` and `kid`, typed `at+jwt`.
pub fn header(alg: &str, kid: &str) -> Value {
    json!({"alg": alg, "kid": kid, "typ": "at+jwt"})
}

/// `header.payload.signature` from JSON values.
pub fn forge(header: &Value, claims: &Value, sign: Sign<'_>) -> String {
    forge_raw(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        sign,
    )
}

/// `header.payload.signature` from raw bytes, for payloads that are not JSON.
pub fn forge_raw(header: &[u8], payload: &[u8], sign: Sign<'_>) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = sign.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// A valid EdDSA token carrying `claims`.
pub fn ed_token(keys: &Keys, claims: &Value) -> String {
    forge(&header("EdDSA", "ed"), claims, Sign::Ed(&keys.ed))
}

/// `claims()` with `edit` applied.
pub fn claims_with(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut claims = claims();
    edit(claims.as_object_mut().unwrap());
    claims
}

pub fn verify(verifier: &Verifier, token: &str) -> Result<Verified, VerifyError> {
    verifier.verify(token, NOW, &RevocationSet::new())
}

/// The code of the error verifying `token` at [`NOW`] gives; panics if it verifies.
pub fn code_of(verifier: &Verifier, token: &str) -> &'static str {
    refusal(verifier, token, NOW, &RevocationSet::new())
}

/// The code of the error verifying `token` at `now` against `set` gives;
/// panics if it verifies.
pub fn refusal(verifier: &Verifier, token: &str, now: i64, set: &RevocationSet) -> &'static str {
    match verifier.verify(token, now, set) {
        Ok(_) => panic!("token unexpectedly verified"),
        Err(err) => err.code().as_str(),
    }
}

/// A well-spread id for entry `n` of a large set (consecutive `n` land far apart).
pub fn spread_id(n: u128) -> Uuid {
    Uuid::from_u128(n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
}

/// A snapshot page of `n` entries, alternately a `sid` and a `jti`.
pub fn snapshot_page(n: u128) -> RevocationFeed {
    RevocationFeed {
        cursor: "snapshot".into(),
        reset: true,
        more: false,
        keys: None,
        revoked: (0..n)
            .map(|i| RevocationEntry {
                target: if i % 2 == 0 {
                    Revoked::Sid(spread_id(i))
                } else {
                    Revoked::Jti(spread_id(i))
                },
                until: NOW + 330,
            })
            .collect(),
    }
}
