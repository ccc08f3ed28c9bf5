//! What a [`Tollgate`](crate::Tollgate) is told: where the issuer is, what
//! tokens must say, the sync timing (the verifier crate's
//! [`SyncSettings`], whose defaults are the crate's), and the clock.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tollgate_verifier::SyncSettings;

/// Tells the time in Unix milliseconds. Token times are wall-clock times, so
/// the default is the system clock; tests substitute one they move.
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Where the issuer is and what tokens must say.
#[derive(Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TollgateConfig {
    /// Base URL of the issuer (`http://` only: put TLS in front if needed).
    pub issuer_url: String,
    /// The `iss` tokens carry.
    pub issuer: String,
    /// The audience `aud` must contain.
    pub audience: String,
    /// The sync timing; what is left out takes the verifier crate's
    /// defaults (1 s max age, refresh ahead at half of it, 30 s
    /// fail-after, 5 s per request, 10 s JWKS cooldown).
    #[serde(default)]
    pub sync: SyncSettings,
    /// Clock skew allowed on token times, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u32,
    /// The base URLs clients address this service at (for DPoP, whose
    /// proofs name the URL): behind the edge, the edge's public URL, not
    /// this service's own. Empty: `http://` or `https://` plus the `Host`
    /// header.
    #[serde(default)]
    pub public_urls: Vec<String>,
    /// The clock (the system's unless a test says otherwise).
    #[serde(skip, default = "system_clock")]
    pub clock: Arc<dyn Clock>,
}

fn default_leeway() -> u32 {
    tollgate_verifier::DEFAULT_LEEWAY_SECS
}

fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

impl fmt::Debug for TollgateConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TollgateConfig")
            .field("issuer_url", &self.issuer_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("sync", &self.sync)
            .field("leeway_secs", &self.leeway_secs)
            .field("public_urls", &self.public_urls)
            .finish_non_exhaustive()
    }
}

impl TollgateConfig {
    /// The verifier crate's defaults for this issuer and audience: 30 s
    /// leeway, the default sync timing, the system clock.
    pub fn new(
        issuer_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        TollgateConfig {
            issuer_url: issuer_url.into(),
            issuer: issuer.into(),
            audience: audience.into(),
            sync: SyncSettings::default(),
            leeway_secs: default_leeway(),
            public_urls: Vec::new(),
            clock: system_clock(),
        }
    }
}
