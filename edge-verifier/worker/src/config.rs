//! The worker's configuration: the `[vars]` of wrangler.toml.

use worker::Env;

/// Settings read from the environment on each request (they are constants
/// of the deployment, and reading them costs next to nothing).
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL of the issuer: JWKS, feed, and the issuer's own paths.
    pub issuer_url: String,
    /// Base URL of the API behind the edge.
    pub origin_url: String,
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The audience `aud` must contain.
    pub audience: String,
    /// Path prefixes forwarded without a token.
    pub public_paths: Vec<String>,
    /// Path prefixes that go to the issuer rather than the origin.
    pub issuer_paths: Vec<String>,
    /// Revocation state older than this is synced before a token is accepted.
    pub max_age_ms: f64,
    /// How long the last state serves while the issuer is unreachable.
    pub fail_after_ms: f64,
    /// At most one JWKS refetch on an unknown `kid` per this long.
    pub jwks_cooldown_ms: f64,
    /// Clock skew allowed on token times, in seconds.
    pub leeway_secs: u32,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Config {
    /// Reads the vars; a missing required one or a bad number is an error
    /// naming it.
    pub fn from_env(env: &Env) -> Result<Self, String> {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        let millis = |name: &str, default: f64| match var(name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| format!("{name} must be a number of milliseconds")),
        };
        Ok(Config {
            issuer_url: required("ISSUER_URL")?.trim_end_matches('/').to_owned(),
            origin_url: required("ORIGIN_URL")?.trim_end_matches('/').to_owned(),
            issuer: required("ISSUER")?,
            audience: required("AUDIENCE")?,
            public_paths: list(&var("PUBLIC_PATHS").unwrap_or_default()),
            issuer_paths: list(&var("ISSUER_PATHS").unwrap_or_default()),
            max_age_ms: millis("REVOCATION_MAX_AGE_MS", 1000.0)?,
            fail_after_ms: millis("FAIL_AFTER_MS", 30_000.0)?,
            jwks_cooldown_ms: millis("JWKS_COOLDOWN_MS", 10_000.0)?,
            leeway_secs: match var("LEEWAY_SECS") {
                None => 30,
                Some(text) => text
                    .trim()
                    .parse()
                    .map_err(|_| "LEEWAY_SECS must be a whole number".to_owned())?,
            },
        })
    }

    /// Whether `path` is forwarded without a token.
    pub fn is_public(&self, path: &str) -> bool {
        self.public_paths
            .iter()
            .any(|p| path.starts_with(p.as_str()))
    }

    /// The base URL that serves `path`.
    pub fn upstream_for(&self, path: &str) -> &str {
        if self
            .issuer_paths
            .iter()
            .any(|p| path.starts_with(p.as_str()))
        {
            &self.issuer_url
        } else {
            &self.origin_url
        }
    }
}
