//! Credentials: Argon2id password hashing and refresh tokens (the rules
//! for the fields a signup or login sends are `crate::fields`'s).

use crate::secret::ServerKey;
pub use crate::secret::random_token;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64ct::{Base64UrlUnpadded, Encoding};
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::error::ApiError;

/// Hashes and checks passwords with Argon2id. Hashing runs on the blocking
/// pool, at most one per core at a time, so a burst of logins queues
/// instead of exhausting memory.
pub struct Passwords {
    argon: Argon2<'static>,
    /// A hash of a random password, checked against when the email is
    /// unknown, so that answer takes as long as a wrong password.
    dummy: String,
    permits: Semaphore,
    /// Argon2 verifications run, known user or not (tests check both paths
    /// pay for one).
    verifications: AtomicU64,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", self.argon.params())
            .finish_non_exhaustive()
    }
}

/// The password hashing parameters are invalid.
#[derive(Debug, thiserror::Error)]
#[error("invalid argon2 parameters: {0}")]
pub struct BadParams(String);

impl Passwords {
    /// Argon2id with the configured cost.
    pub fn new(settings: &Settings) -> Result<Arc<Self>, BadParams> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|err| BadParams(err.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy = hash_with(&argon, &random_token()).map_err(|err| BadParams(err.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Arc::new(Passwords {
            argon,
            dummy,
            permits: Semaphore::new(cores),
            verifications: AtomicU64::new(0),
        }))
    }

    /// A PHC string for `password` with a fresh salt.
    pub async fn hash(self: &Arc<Self>, password: String) -> Result<String, ApiError> {
        let this = Arc::clone(self);
        self.blocking(move || hash_with(&this.argon, &password))
            .await?
            .map_err(|err| ApiError::Internal(format!("password hashing failed: {err}")))
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) checks
    /// against the dummy and answers false, taking the same time.
    pub async fn verify(
        self: &Arc<Self>,
        hash: Option<String>,
        password: String,
    ) -> Result<bool, ApiError> {
        let this = Arc::clone(self);
        self.blocking(move || {
            this.verifications.fetch_add(1, Ordering::Relaxed);
            // A stored hash keeps its own parameters, so raising the cost
            // later does not lock anyone out.
            let matches = PasswordHash::new(hash.as_deref().unwrap_or(&this.dummy))
                .map(|parsed| {
                    this.argon
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false);
            hash.is_some() && matches
        })
        .await
    }

    /// How many password checks have run.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::Internal("password hasher closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|err| ApiError::Internal(format!("password task failed: {err}")))
    }
}

fn hash_with(argon: &Argon2<'_>, password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(argon.hash_password(password.as_bytes(), &salt)?.to_string())
}

/// SHA-256 of `token`: what the database keeps of a refresh token, and the
/// fixed-size key an account is rate-limited under.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The successor of refresh token `presented`: HMAC-SHA256 under the
/// server's refresh key. A refresh presented twice within the grace window
/// (two tabs racing) gets the same successor, and the session keeps exactly
/// one live refresh token without storing anything new. Without the
/// presented token nobody can compute it.
pub fn successor(key: &ServerKey, presented: &str) -> String {
    Base64UrlUnpadded::encode_string(&key.mac(&[presented.as_bytes()]))
}

/// The name the refresh key is stored under.
pub const REFRESH_KEY: &str = "refresh_key";
