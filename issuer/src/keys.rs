//! Token signing keys: created on first start, kept in the database (so
//! every issuer replica signs with the same key), rotated with overlap.
//!
//! One key signs at a time. After a rotation the previous key stays in the
//! JWKS for `retention` seconds (the longest access-token lifetime plus the
//! verifiers' leeway), so tokens it signed keep verifying until they expire.

use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_compact::{AlgorithmExt as _, Claims, Header, alg::Ed25519};
use rand::RngCore as _;
use tollgate_verifier::{AccessClaims, Jwk, Jwks, Uuid};

use crate::store::{Store, StoreError, StoredKey};

/// The algorithm new keys use.
const ALG: &str = "EdDSA";

/// A signing or key-loading failure.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key cannot be used (wrong length, unknown algorithm).
    #[error("stored signing key `{0}` is unusable")]
    Unusable(String),
    /// No key signs: the store has none current.
    #[error("no current signing key")]
    NoCurrentKey,
    /// The claims could not be encoded.
    #[error("cannot encode token: {0}")]
    Encode(String),
}

/// The keys in force: the one that signs and those still published.
pub struct KeyRing {
    kid: String,
    signing: ed25519_dalek::SigningKey,
    /// Every loaded key's public JWK with the time it retired.
    published: Vec<(Jwk, Option<i64>)>,
    retention: i64,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("kid", &self.kid)
            .field("published", &self.published.len())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads the keys, creating the first one if the database has none.
    pub async fn load_or_create(
        store: &dyn Store,
        now: i64,
        retention: i64,
    ) -> Result<Self, KeyError> {
        let keys = store.signing_keys().await?;
        if !keys.iter().any(|k| k.retired_at.is_none()) {
            // If another issuer got there first this inserts nothing; we load theirs.
            store.insert_first_signing_key(&generate(now)).await?;
        }
        Self::load(store, retention).await
    }

    /// Makes a new key current; the previous one stays published for `retention`.
    pub async fn rotate(store: &dyn Store, now: i64, retention: i64) -> Result<Self, KeyError> {
        store.rotate_signing_key(&generate(now)).await?;
        Self::load(store, retention).await
    }

    /// Loads the keys as stored.
    pub async fn load(store: &dyn Store, retention: i64) -> Result<Self, KeyError> {
        let keys = store.signing_keys().await?;
        let current = keys
            .iter()
            .find(|k| k.retired_at.is_none())
            .ok_or(KeyError::NoCurrentKey)?;
        let signing = ed25519_key(current)?;
        let published = keys
            .iter()
            .map(|key| Ok((public_jwk(&key.kid, &ed25519_key(key)?), key.retired_at)))
            .collect::<Result<_, KeyError>>()?;
        Ok(KeyRing {
            kid: current.kid.clone(),
            signing,
            published,
            retention,
        })
    }

    /// The id of the key that signs.
    pub fn current_kid(&self) -> &str {
        &self.kid
    }

    /// The JWKS at `now`: the current key and those retired less than `retention` ago.
    pub fn jwks(&self, now: i64) -> Jwks {
        Jwks {
            keys: self
                .published
                .iter()
                .filter(|(_, retired)| {
                    retired.is_none_or(|at| now < at.saturating_add(self.retention))
                })
                .map(|(jwk, _)| jwk.clone())
                .collect(),
        }
    }

    /// Signs an access token: header `{"alg":"EdDSA","kid":..,"typ":"at+jwt"}`.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, KeyError> {
        let header = Header::empty()
            .with_key_id(&self.kid)
            .with_token_type("at+jwt");
        // jwt-compact's own time fields stay empty: `AccessClaims` carries `iat`/`exp`.
        Ed25519
            .token(&header, &Claims::new(claims), &self.signing)
            .map_err(|err| KeyError::Encode(err.to_string()))
    }
}

fn generate(now: i64) -> StoredKey {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = StoredKey {
        kid: Uuid::new_v4().simple().to_string(),
        alg: ALG.to_owned(),
        secret: seed.to_vec(),
        created_at: now,
        retired_at: None,
    };
    seed.fill(0);
    key
}

fn ed25519_key(key: &StoredKey) -> Result<ed25519_dalek::SigningKey, KeyError> {
    let seed: [u8; 32] = key
        .secret
        .as_slice()
        .try_into()
        .ok()
        .filter(|_| key.alg == ALG)
        .ok_or_else(|| KeyError::Unusable(key.kid.clone()))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

fn public_jwk(kid: &str, key: &ed25519_dalek::SigningKey) -> Jwk {
    Jwk {
        kty: "OKP".into(),
        crv: Some("Ed25519".into()),
        kid: Some(kid.into()),
        alg: Some(ALG.into()),
        key_use: Some("sig".into()),
        x: Some(Base64UrlUnpadded::encode_string(
            key.verifying_key().as_bytes(),
        )),
        ..Jwk::default()
    }
}
