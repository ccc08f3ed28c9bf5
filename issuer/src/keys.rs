//! Token signing keys: created on first start, kept in the database (so
//! every issuer replica signs with the same key), rotated with overlap.
//!
//! One key signs at a time. After a rotation the previous key stays in the
//! JWKS for `retention` seconds (the longest access-token lifetime, plus the
//! verifiers' leeway, plus the key-reload interval), so tokens it signed
//! keep verifying until they expire, even those a replica that has not yet
//! reloaded signs with it.
//!
//! `keys withdraw` is the emergency removal: a withdrawn key leaves the JWKS
//! at once and nobody trusts it any more, this issuer included. Every change
//! to the keys gives the key set a new version, which the feed names on
//! every page: verifiers refetch the JWKS when it changes, and replicas
//! reload their keys before they sign or check a token with an older set.
//!
//! New keys are Ed25519 (`EdDSA`) unless the issuer is configured for
//! `ES256`; stored keys of either kind load, so switching is a rotation.

use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_compact::alg::{Ed25519, Es256};
use jwt_compact::{AlgorithmExt as _, Claims, Header};
use rand::RngCore as _;
use tollgate_verifier::{AccessClaims, Jwk, Jwks, KeySet, Uuid, Verifier, VerifierOptions};

use crate::store::{Store, StoreError, StoredKey};

/// The algorithm of new signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SigningAlg {
    /// Ed25519: small, fast, deterministic. The default.
    #[default]
    #[value(name = "EdDSA")]
    EdDsa,
    /// ECDSA on P-256, for verifiers that cannot do Ed25519.
    #[value(name = "ES256")]
    Es256,
}

impl SigningAlg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::EdDsa => "EdDSA",
            SigningAlg::Es256 => "ES256",
        }
    }
}

/// A private key that signs.
enum Signer {
    Ed25519(ed25519_dalek::SigningKey),
    Es256(p256::ecdsa::SigningKey),
}

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
    signer: Signer,
    /// Every loaded key that is not withdrawn: its public JWK and the time it retired.
    published: Vec<(Jwk, Option<i64>)>,
    retention: i64,
    /// The key-set version these keys were loaded at.
    version: String,
}

/// What a key ring needs to know besides the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The algorithm of keys made from now on.
    pub alg: SigningAlg,
    /// How long a retired key stays published: the access-token lifetime
    /// plus the verifiers' leeway plus the key-reload interval.
    pub retention: i64,
}

/// What [`KeyRing::withdraw`] did.
#[derive(Debug)]
pub enum Withdrawn {
    /// The key is withdrawn; `replaced` says it was the current key and a
    /// new one signs now. The ring is reloaded.
    Done {
        /// It was the current key.
        replaced: bool,
        /// The keys in force now.
        ring: Box<KeyRing>,
    },
    /// No key has that id.
    Unknown,
    /// It was withdrawn before.
    AlreadyWithdrawn,
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
        policy: &KeyPolicy,
    ) -> Result<Self, KeyError> {
        let keys = store.signing_keys().await?;
        if !keys.iter().any(|k| k.retired_at.is_none()) {
            // If another issuer got there first this inserts nothing; we load theirs.
            store
                .insert_first_signing_key(&generate(policy.alg, now))
                .await?;
        }
        Self::load(store, policy.retention).await
    }

    /// Makes a new key current; the previous one stays published for `retention`.
    ///
    /// The stored keys are opened first: with a missing or wrong
    /// `TOLLGATE_KEY_ENCRYPTION_KEY` this fails before anything is written,
    /// rather than adding a key the running replicas cannot open.
    pub async fn rotate(store: &dyn Store, now: i64, policy: &KeyPolicy) -> Result<Self, KeyError> {
        Self::load(store, policy.retention).await?;
        store.rotate_signing_key(&generate(policy.alg, now)).await?;
        Self::load(store, policy.retention).await
    }

    /// Withdraws key `kid` now: it leaves the JWKS and is trusted by no one.
    /// If it is the current key, a new one (of `policy.alg`) signs first.
    pub async fn withdraw(
        store: &dyn Store,
        kid: &str,
        now: i64,
        policy: &KeyPolicy,
    ) -> Result<Withdrawn, KeyError> {
        use crate::store::Withdrawal;
        // As for a rotation: fail on a wrong or missing key-encryption key
        // before writing anything.
        Self::load(store, policy.retention).await?;
        match store
            .withdraw_signing_key(kid, now, &generate(policy.alg, now))
            .await?
        {
            Withdrawal::Unknown => Ok(Withdrawn::Unknown),
            Withdrawal::AlreadyWithdrawn => Ok(Withdrawn::AlreadyWithdrawn),
            Withdrawal::Withdrawn { replaced } => Ok(Withdrawn::Done {
                replaced,
                ring: Box::new(Self::load(store, policy.retention).await?),
            }),
        }
    }

    /// Loads the keys as stored. The version is read first, so a change
    /// racing the load makes the ring look older than it is, never newer:
    /// the next check reloads it.
    pub async fn load(store: &dyn Store, retention: i64) -> Result<Self, KeyError> {
        let version = store.keys_version().await?;
        let keys = store.signing_keys().await?;
        let current = keys
            .iter()
            .find(|k| k.retired_at.is_none() && k.withdrawn_at.is_none())
            .ok_or(KeyError::NoCurrentKey)?;
        let current_signer = signer(current)?;
        let published = keys
            .iter()
            .filter(|key| key.withdrawn_at.is_none())
            .map(|key| Ok((public_jwk(&key.kid, &signer(key)?), key.retired_at)))
            .collect::<Result<_, KeyError>>()?;
        Ok(KeyRing {
            kid: current.kid.clone(),
            signer: current_signer,
            published,
            retention,
            version,
        })
    }

    /// The id of the key that signs.
    pub fn current_kid(&self) -> &str {
        &self.kid
    }

    /// The key-set version this ring was loaded at.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The JWKS at `now`: the current key and those retired less than
    /// `retention` ago, with the key-set version they are at.
    pub fn jwks(&self, now: i64) -> Jwks {
        Jwks {
            version: Some(self.version.clone()),
            keys: self
                .published
                .iter()
                .filter(|(_, retired)| {
                    retired.is_none_or(|at| now < at.saturating_add(self.retention))
                })
                .map(|(jwk, _)| jwk.clone())
                .collect(),
            ..Jwks::default()
        }
    }

    /// Signs an access token: header `{"alg":..,"kid":..,"typ":"at+jwt"}`.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, KeyError> {
        let header = Header::empty()
            .with_key_id(&self.kid)
            .with_token_type("at+jwt");
        // jwt-compact's own time fields stay empty: `AccessClaims` carries `iat`/`exp`.
        let claims = Claims::new(claims);
        match &self.signer {
            Signer::Ed25519(key) => Ed25519.token(&header, &claims, key),
            Signer::Es256(key) => Es256.token(&header, &claims, key),
        }
        .map_err(|err| KeyError::Encode(err.to_string()))
    }

    /// A verifier for this issuer's own tokens, trusting every key that is
    /// not withdrawn (a token from a long-retired key has expired anyway).
    /// The issuer checks Bearer tokens with it: the same crate as every edge.
    pub fn verifier(&self, options: VerifierOptions) -> Result<Verifier, KeyError> {
        let jwks = Jwks {
            keys: self.published.iter().map(|(jwk, _)| jwk.clone()).collect(),
            ..Jwks::default()
        };
        let keys = KeySet::from_jwks(&jwks).map_err(|err| KeyError::Encode(err.to_string()))?;
        Ok(Verifier::new(options, keys))
    }
}

fn generate(alg: SigningAlg, now: i64) -> StoredKey {
    let mut secret = [0u8; 32];
    match alg {
        SigningAlg::EdDsa => rand::rngs::OsRng.fill_bytes(&mut secret),
        SigningAlg::Es256 => secret
            .copy_from_slice(&p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng).to_bytes()),
    }
    let key = StoredKey {
        kid: Uuid::new_v4().simple().to_string(),
        alg: alg.as_str().to_owned(),
        secret: secret.to_vec(),
        created_at: now,
        retired_at: None,
        withdrawn_at: None,
    };
    secret.fill(0);
    key
}

fn signer(key: &StoredKey) -> Result<Signer, KeyError> {
    let unusable = || KeyError::Unusable(key.kid.clone());
    match key.alg.as_str() {
        "EdDSA" => {
            let seed: [u8; 32] = key.secret.as_slice().try_into().map_err(|_| unusable())?;
            Ok(Signer::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                &seed,
            )))
        }
        "ES256" => p256::ecdsa::SigningKey::from_slice(&key.secret)
            .map(Signer::Es256)
            .map_err(|_| unusable()),
        _ => Err(unusable()),
    }
}

fn public_jwk(kid: &str, signer: &Signer) -> Jwk {
    let common = Jwk {
        kid: Some(kid.into()),
        key_use: Some("sig".into()),
        ..Jwk::default()
    };
    match signer {
        Signer::Ed25519(key) => Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            alg: Some("EdDSA".into()),
            x: Some(Base64UrlUnpadded::encode_string(
                key.verifying_key().as_bytes(),
            )),
            ..common
        },
        Signer::Es256(key) => {
            let point = key.verifying_key().to_encoded_point(false);
            Jwk {
                kty: "EC".into(),
                crv: Some("P-256".into()),
                alg: Some("ES256".into()),
                x: point.x().map(|x| Base64UrlUnpadded::encode_string(x)),
                y: point.y().map(|y| Base64UrlUnpadded::encode_string(y)),
                ..common
            }
        }
    }
}
