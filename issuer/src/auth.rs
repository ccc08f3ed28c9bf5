//! Credentials: Argon2id password hashing, the input rules for signup and
//! login, and refresh tokens.

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
use crate::error::{ApiError, FieldError};

/// Shortest password accepted (NIST SP 800-63B asks for at least 8).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted: long enough for any passphrase, short enough
/// that hashing it costs nothing extra.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Passwords too common to allow, whatever their length.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "0123456789",
    "1111111111",
    "password12",
    "password123",
    "password1234",
    "qwertyuiop",
    "iloveyou12",
    "letmein123",
    "welcome123",
    "administrator",
];

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

/// What the database keeps of a refresh token.
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

/// An email address as stored and compared: trimmed and lower-cased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The longest email address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Checks a (normalised) email: one `@`, a non-empty local part, a dotted
/// domain, no spaces or control characters, at most 254 characters.
pub fn check_email(email: &str, errors: &mut Vec<FieldError>) {
    let valid = email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        });
    if !valid {
        errors.push(FieldError::new("email", "is not a valid email address"));
    }
}

/// The password policy: length, not a common password, not the email.
pub fn check_password(password: &str, email: &str, errors: &mut Vec<FieldError>) {
    let chars = password.chars().count();
    let problem = if chars < MIN_PASSWORD_CHARS {
        Some(format!("must be at least {MIN_PASSWORD_CHARS} characters"))
    } else if chars > MAX_PASSWORD_CHARS {
        Some(format!("must be at most {MAX_PASSWORD_CHARS} characters"))
    } else if COMMON_PASSWORDS.contains(&password.to_lowercase().as_str()) {
        Some("is too common".to_owned())
    } else if password.to_lowercase() == email
        || email
            .split_once('@')
            .is_some_and(|(local, _)| password.to_lowercase() == local)
    {
        Some("must not be your email address".to_owned())
    } else if password.chars().all(|c| password.starts_with(c)) {
        Some("must not be one character repeated".to_owned())
    } else {
        None
    };
    if let Some(message) = problem {
        errors.push(FieldError::new("password", message));
    }
}

/// A non-empty, bounded, single-line text field.
pub fn check_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
    errors: &mut Vec<FieldError>,
) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if value.chars().count() > max_chars {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    } else if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
}
