//! Fixed-window rate limits held in this process's memory: for login and
//! signup per account and per client address (on SQLite; with Postgres the
//! login limits live in the database, `store::LimitStore`), and for failed
//! refreshes and revocations per client address (always per process: they
//! protect this process's database writes).
//!
//! Each attempt is counted before the password is hashed, so a burst of
//! guesses is refused before it costs Argon2 time; a successful login
//! forgives its account's count. With several issuer replicas on Postgres
//! the login limits are counted in the database ([`SharedLimiter`]), so the
//! configured limit holds in total, wherever the attempts land.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::store::{Store, StoreError};

/// The key an account is limited under: a SHA-256 of its (normalised)
/// email, so every key is 43 bytes however long the address (an email of
/// 254 four-byte characters would otherwise be a kilobyte a key).
pub fn account_key(email: &str) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding as _};
    Base64UrlUnpadded::encode_string(&crate::auth::token_hash(email))
}

/// A login limit, wherever it is counted.
#[async_trait]
pub trait Limiter: Send + Sync + std::fmt::Debug {
    /// Counts an attempt for `key` at `now`; `Err(retry_after)` (seconds)
    /// if the window is already full.
    async fn attempt(&self, key: &str, now: i64) -> Result<Result<(), u64>, StoreError>;

    /// Forgets `key`'s attempts (after a successful login).
    async fn forgive(&self, key: &str) -> Result<(), StoreError>;
}

/// The limit `max` attempts per `window_secs` under `scope`: in the
/// database when replicas share it (Postgres), so the limit holds across
/// them, else in this process's memory.
pub fn limiter_for(
    store: &Arc<dyn Store>,
    scope: &'static str,
    max: u32,
    window_secs: i64,
) -> Arc<dyn Limiter> {
    if store.shares_rate_limits() {
        Arc::new(SharedLimiter {
            store: Arc::clone(store),
            scope,
            max,
            window_secs: window_secs.max(1),
        })
    } else {
        Arc::new(RateLimiter::new(max, window_secs))
    }
}

/// A limit counted in the database, shared by every replica.
pub struct SharedLimiter {
    store: Arc<dyn Store>,
    scope: &'static str,
    max: u32,
    window_secs: i64,
}

impl std::fmt::Debug for SharedLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimiter")
            .field("scope", &self.scope)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Limiter for SharedLimiter {
    async fn attempt(&self, key: &str, now: i64) -> Result<Result<(), u64>, StoreError> {
        let key = format!("{}:{key}", self.scope);
        self.store
            .limit_attempt(&key, self.max, self.window_secs, now)
            .await
    }

    async fn forgive(&self, key: &str) -> Result<(), StoreError> {
        self.store
            .limit_forgive(&format!("{}:{key}", self.scope))
            .await
    }
}

#[async_trait]
impl Limiter for RateLimiter {
    async fn attempt(&self, key: &str, now: i64) -> Result<Result<(), u64>, StoreError> {
        Ok(RateLimiter::attempt(self, key, now))
    }

    async fn forgive(&self, key: &str) -> Result<(), StoreError> {
        RateLimiter::forgive(self, key);
        Ok(())
    }
}

/// Keys kept before expired windows are swept out.
const SWEEP_AT: usize = 10_000;

/// The most keys held. Past it (every key live: a distributed flood), new
/// keys share one window, so memory stays bounded and the flood is still
/// limited, collectively.
const MAX_KEYS: usize = 200_000;

/// The key that new keys share when the table is full.
const OVERFLOW: &str = "\u{0}overflow";

/// A limit of `max` attempts per key in each window of `window_secs`.
#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    window_secs: i64,
    /// key -> (window start, attempts in it)
    windows: Mutex<HashMap<String, (i64, u32)>>,
    /// When expired windows were last swept: at most once a second, so a
    /// full table does not cost a scan per attempt.
    swept: Mutex<i64>,
}

impl RateLimiter {
    /// `max` attempts per `window_secs` (a zero `max` refuses everything).
    pub fn new(max: u32, window_secs: i64) -> Self {
        RateLimiter {
            max,
            window_secs: window_secs.max(1),
            windows: Mutex::new(HashMap::new()),
            swept: Mutex::new(i64::MIN),
        }
    }

    /// Counts an attempt for `key` at `now`; if the window is already full,
    /// refuses it with the seconds until the window ends.
    pub fn attempt(&self, key: &str, now: i64) -> Result<(), u64> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() >= SWEEP_AT {
            let mut swept = self.swept.lock().unwrap_or_else(PoisonError::into_inner);
            if now > *swept {
                *swept = now;
                let window = self.window_secs;
                windows.retain(|_, (start, _)| now < start.saturating_add(window));
            }
        }
        let key = if windows.len() >= MAX_KEYS && !windows.contains_key(key) {
            OVERFLOW
        } else {
            key
        };
        let (start, count) = windows.entry(key.to_owned()).or_insert((now, 0));
        if now >= start.saturating_add(self.window_secs) {
            *start = now;
            *count = 0;
        }
        if *count >= self.max {
            let wait = start.saturating_add(self.window_secs) - now;
            return Err(u64::try_from(wait.max(1)).unwrap_or(1));
        }
        *count += 1;
        Ok(())
    }

    /// Whether `key`'s window is full at `now`, without counting an attempt:
    /// for limits that count only failures ([`Self::record`] after one).
    pub fn check(&self, key: &str, now: i64) -> Result<(), u64> {
        let windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let key = if windows.len() >= MAX_KEYS && !windows.contains_key(key) {
            OVERFLOW
        } else {
            key
        };
        match windows.get(key) {
            Some((start, count))
                if now < start.saturating_add(self.window_secs) && *count >= self.max =>
            {
                let wait = start.saturating_add(self.window_secs) - now;
                Err(u64::try_from(wait.max(1)).unwrap_or(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failure for `key` at `now` (see [`Self::check`]).
    pub fn record(&self, key: &str, now: i64) {
        let _ = self.attempt(key, now);
    }

    /// Forgets `key`'s attempts (after a successful login).
    pub fn forgive(&self, key: &str) {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}
