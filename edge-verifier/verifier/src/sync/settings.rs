//! The sync policy's timing: [`SyncOptions`] (the numbers in force, checked)
//! and [`SyncSettings`] (what a deployment overrides, as every adapter reads
//! it: the worker's `[vars]`, `tollgate-axum`'s configuration, the npm
//! package's options). The defaults are written here and nowhere else.

use crate::bounds::ConfigError;

/// The shortest JWKS cooldown accepted: tokens with made-up `kid`s must not
/// turn into a stream of issuer fetches. Key changes reach verifiers through
/// the feed's key-set version anyway.
pub const MIN_JWKS_COOLDOWN_MS: u64 = 1000;

/// The hard bound when nothing says otherwise: 1 s (docs/verifier.md).
pub const DEFAULT_MAX_AGE_MS: u64 = 1000;

/// How long the last state serves an unreachable issuer when nothing says
/// otherwise: 30 s (docs/verifier.md).
pub const DEFAULT_FAIL_AFTER_MS: u64 = 30_000;

/// Timing of the sync policy, in milliseconds. Build with
/// [`SyncOptions::new`] or from [`SyncSettings`]; [`crate::Syncer::new`]
/// checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncOptions {
    /// Past this age the state is refreshed in the background (the soft bound).
    pub refresh_ahead_ms: u64,
    /// Past this age a token waits for a sync before it is accepted (the hard bound).
    pub max_age_ms: u64,
    /// With the issuer unreachable, the last state serves this long after the
    /// last good sync; then every token is refused as stale.
    pub fail_after_ms: u64,
    /// How long one fetch (headers and body) may take. Capped at `fail_after_ms`.
    pub request_timeout_ms: u64,
    /// After a failed sync, the next attempt waits this long.
    pub retry_after_ms: u64,
    /// At most one JWKS refetch on an unknown `kid` per this long.
    pub jwks_cooldown_ms: u64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions::new(DEFAULT_MAX_AGE_MS, DEFAULT_FAIL_AFTER_MS)
    }
}

impl SyncOptions {
    /// The sync policy (docs/verifier.md) with this hard bound and
    /// fail-after: refresh ahead
    /// at half the hard bound, 5 s per fetch, a retry at most every second
    /// (or every `max_age`, if shorter), one JWKS refetch per 10 s.
    pub fn new(max_age_ms: u64, fail_after_ms: u64) -> Self {
        SyncOptions {
            refresh_ahead_ms: max_age_ms / 2,
            max_age_ms,
            fail_after_ms,
            request_timeout_ms: 5000,
            retry_after_ms: max_age_ms.clamp(1, 1000),
            jwks_cooldown_ms: 10_000,
        }
    }

    /// Refuses settings that would fail open or never settle.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.fail_after_ms == 0 {
            return Err(ConfigError("fail_after must be more than 0 ms"));
        }
        if self.max_age_ms > self.fail_after_ms {
            return Err(ConfigError(
                "max_age must not exceed fail_after: the state would be trusted past the point where it must fail closed",
            ));
        }
        if self.refresh_ahead_ms > self.max_age_ms {
            return Err(ConfigError("refresh_ahead must not exceed max_age"));
        }
        if self.request_timeout_ms == 0 || self.retry_after_ms == 0 {
            return Err(ConfigError(
                "the request timeout and the retry interval must be more than 0 ms",
            ));
        }
        if self.jwks_cooldown_ms < MIN_JWKS_COOLDOWN_MS {
            return Err(ConfigError(
                "the JWKS cooldown must be at least 1000 ms: each unknown kid may cost an issuer fetch",
            ));
        }
        Ok(())
    }

    /// How long a fetch started now may take.
    pub(crate) fn fetch_budget(&self) -> u64 {
        self.request_timeout_ms.min(self.fail_after_ms)
    }
}

/// What a deployment sets of the sync policy; every field it leaves out
/// takes the crate's default. One type for every adapter:
/// - the npm package's options and `tollgate-axum`'s configuration
///   deserialize into it (camelCase: `maxAgeMs`, `failAfterMs`, ...);
/// - the edge worker reads it from its `[vars]` with [`Self::from_vars`];
/// - [`Self::options`] resolves and checks it.
///
/// Numbers may also come as decimal text, as Workers `[vars]` do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncSettings {
    /// The hard bound (default 1000).
    #[serde(
        default,
        deserialize_with = "millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age_ms: Option<u64>,
    /// How long the last state serves an unreachable issuer (default 30000).
    #[serde(
        default,
        deserialize_with = "millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub fail_after_ms: Option<u64>,
    /// The soft bound (default half the hard bound).
    #[serde(
        default,
        deserialize_with = "millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_ahead_ms: Option<u64>,
    /// One fetch's deadline, headers and body (default 5000).
    #[serde(
        default,
        deserialize_with = "millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_timeout_ms: Option<u64>,
    /// The pause after a failed sync (default the hard bound, at most 1000).
    #[serde(
        default,
        deserialize_with = "millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after_ms: Option<u64>,
    /// At most one JWKS refetch for an unknown `kid` per this long (default 10000).
    #[serde(
        default,
        deserialize_with = "millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub jwks_cooldown_ms: Option<u64>,
}

impl SyncSettings {
    /// The worker variable that sets each field, in field order.
    pub const VARS: [&'static str; 6] = [
        "REVOCATION_MAX_AGE_MS",
        "FAIL_AFTER_MS",
        "REVOCATION_REFRESH_AHEAD_MS",
        "REQUEST_TIMEOUT_MS",
        "RETRY_AFTER_MS",
        "JWKS_COOLDOWN_MS",
    ];

    /// The JSON member (camelCase) that sets each field, in field order.
    pub const MEMBERS: [&'static str; 6] = [
        "maxAgeMs",
        "failAfterMs",
        "refreshAheadMs",
        "requestTimeoutMs",
        "retryAfterMs",
        "jwksCooldownMs",
    ];

    /// The fields, in field order.
    pub(crate) fn fields_mut(&mut self) -> [&mut Option<u64>; 6] {
        [
            &mut self.max_age_ms,
            &mut self.fail_after_ms,
            &mut self.refresh_ahead_ms,
            &mut self.request_timeout_ms,
            &mut self.retry_after_ms,
            &mut self.jwks_cooldown_ms,
        ]
    }

    /// Reads the settings from environment-style variables ([`Self::VARS`]):
    /// `var(name)` is the variable's text, if set. A value that is not a
    /// whole number of milliseconds is an error naming the variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |index: usize| -> Result<Option<u64>, ConfigError> {
            let name = Self::VARS[index];
            var(name)
                .map(|text| millis_text(&text).ok_or(ConfigError(VAR_ERRORS[index])))
                .transpose()
        };
        Ok(SyncSettings {
            max_age_ms: read(0)?,
            fail_after_ms: read(1)?,
            refresh_ahead_ms: read(2)?,
            request_timeout_ms: read(3)?,
            retry_after_ms: read(4)?,
            jwks_cooldown_ms: read(5)?,
        })
    }

    /// The timing in force: the defaults of [`SyncOptions::new`] for this
    /// hard bound and fail-after, with every set field on top, checked.
    pub fn options(&self) -> Result<SyncOptions, ConfigError> {
        let mut options = SyncOptions::new(
            self.max_age_ms.unwrap_or(DEFAULT_MAX_AGE_MS),
            self.fail_after_ms.unwrap_or(DEFAULT_FAIL_AFTER_MS),
        );
        let overrides = [
            (self.refresh_ahead_ms, &mut options.refresh_ahead_ms),
            (self.request_timeout_ms, &mut options.request_timeout_ms),
            (self.retry_after_ms, &mut options.retry_after_ms),
            (self.jwks_cooldown_ms, &mut options.jwks_cooldown_ms),
        ];
        for (set, field) in overrides {
            if let Some(ms) = set {
                *field = ms;
            }
        }
        options.check()?;
        Ok(options)
    }
}

/// The error for each of [`SyncSettings::VARS`] that does not parse.
const VAR_ERRORS: [&str; 6] = [
    "REVOCATION_MAX_AGE_MS must be a whole number of milliseconds",
    "FAIL_AFTER_MS must be a whole number of milliseconds",
    "REVOCATION_REFRESH_AHEAD_MS must be a whole number of milliseconds",
    "REQUEST_TIMEOUT_MS must be a whole number of milliseconds",
    "RETRY_AFTER_MS must be a whole number of milliseconds",
    "JWKS_COOLDOWN_MS must be a whole number of milliseconds",
];

/// A whole number of milliseconds, as a JSON number or as decimal text.
fn millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Number(u64),
        Text(String),
    }
    match Option::<Wire>::deserialize(d)? {
        None => Ok(None),
        Some(Wire::Number(ms)) => Ok(Some(ms)),
        Some(Wire::Text(text)) => millis_text(&text)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("expected a whole number of milliseconds")),
    }
}

/// A whole number of milliseconds written as decimal text (Workers'
/// `[vars]` are text), spaces around it allowed.
pub(crate) fn millis_text(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

use serde::Deserialize as _;
