//! The bounds every tollgate verifier applies, whatever it is configured
//! with: the longest token, the clock skew allowed, and the error for
//! settings that would go past them.

use core::fmt;

/// Longest token accepted, in bytes. Longer ones are refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Default clock-skew allowance, in seconds.
pub const DEFAULT_LEEWAY_SECS: u32 = 30;

/// The most clock skew any tollgate component accepts, in seconds. A larger
/// leeway would keep expired and revoked tokens alive for longer than any
/// deployment needs, so configuration asking for it is refused.
pub const MAX_LEEWAY_SECS: u32 = 600;

/// Settings that would make a verifier fail open (or never answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl ConfigError {
    /// The stable code bindings report it with.
    pub const fn code(&self) -> &'static str {
        "invalid_options"
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Checks a leeway against [`MAX_LEEWAY_SECS`].
pub fn check_leeway(leeway_secs: i64) -> Result<u32, ConfigError> {
    u32::try_from(leeway_secs)
        .ok()
        .filter(|l| *l <= MAX_LEEWAY_SECS)
        .ok_or(ConfigError("the leeway must be between 0 and 600 seconds"))
}
