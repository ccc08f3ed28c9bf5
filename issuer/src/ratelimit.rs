//! Fixed-window rate limits for login and signup, per account and per
//! client address, held in this process's memory.
//!
//! Each attempt is counted before the password is hashed, so a burst of
//! guesses is refused before it costs Argon2 time; a successful login
//! forgives its account's count. With several issuer replicas each keeps its
//! own counts, so the effective limit is the configured one times the
//! replicas: acceptable for slowing guessing, and it needs no shared store.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Keys kept before expired windows are swept out.
const SWEEP_AT: usize = 10_000;

/// A limit of `max` attempts per key in each window of `window_secs`.
#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    window_secs: i64,
    /// key -> (window start, attempts in it)
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    /// `max` attempts per `window_secs` (a zero `max` refuses everything).
    pub fn new(max: u32, window_secs: i64) -> Self {
        RateLimiter {
            max,
            window_secs: window_secs.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt for `key` at `now`; if the window is already full,
    /// refuses it with the seconds until the window ends.
    pub fn attempt(&self, key: &str, now: i64) -> Result<(), u64> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() >= SWEEP_AT {
            let window = self.window_secs;
            windows.retain(|_, (start, _)| now < start.saturating_add(window));
        }
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

    /// Forgets `key`'s attempts (after a successful login).
    pub fn forgive(&self, key: &str) {
        self.windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}
