//! The worker's configuration: the `[vars]` of wrangler.toml.

use tollgate_verifier::{MAX_LEEWAY_SECS, check_leeway};
use worker::Env;

/// Settings read from the environment on each request (they are constants
/// of the deployment, and reading them costs next to nothing). `Debug`
/// never shows the edge secret.
#[derive(Clone)]
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
    /// Past this age the state is refreshed in the background (default: the
    /// verifier crate's, half the max age; wrangler.toml sets 100).
    pub refresh_ahead_ms: Option<u64>,
    /// Revocation state older than this is synced before a token is accepted.
    pub max_age_ms: u64,
    /// How long the last state serves while the issuer is unreachable.
    pub fail_after_ms: u64,
    /// At most one JWKS refetch on an unknown `kid` per this long (default:
    /// the verifier crate's).
    pub jwks_cooldown_ms: Option<u64>,
    /// Clock skew allowed on token times, in seconds.
    pub leeway_secs: u32,
    /// Whether isolates share feed answers through the data-center cache
    /// (`SHARED_FEED`, on unless `"off"`).
    pub shared_feed: bool,
    /// The secret (`EDGE_SECRET`, a Worker secret) that proves to the issuer
    /// that a request came through the edge, so it may trust the
    /// `x-tollgate-client-ip` the edge sets.
    pub edge_secret: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("issuer_url", &self.issuer_url)
            .field("origin_url", &self.origin_url)
            .field(
                "edge_secret",
                &self.edge_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
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
    /// naming it. Whether the timing could fail open is the verifier
    /// crate's to judge ([`crate::state::check`]).
    pub fn from_env(env: &Env) -> Result<Self, String> {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        let optional = |name: &str| {
            var(name)
                .map(|text| {
                    text.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{name} must be a whole number of milliseconds"))
                })
                .transpose()
        };
        let defaults = tollgate_verifier::SyncOptions::default();
        Ok(Config {
            issuer_url: required("ISSUER_URL")?.trim_end_matches('/').to_owned(),
            origin_url: required("ORIGIN_URL")?.trim_end_matches('/').to_owned(),
            issuer: required("ISSUER")?,
            audience: required("AUDIENCE")?,
            public_paths: list(&var("PUBLIC_PATHS").unwrap_or_default()),
            issuer_paths: list(&var("ISSUER_PATHS").unwrap_or_default()),
            shared_feed: !var("SHARED_FEED").is_some_and(|v| v.trim().eq_ignore_ascii_case("off")),
            edge_secret: env
                .secret("EDGE_SECRET")
                .ok()
                .map(|secret| secret.to_string())
                .filter(|secret| !secret.is_empty()),
            refresh_ahead_ms: optional("REVOCATION_REFRESH_AHEAD_MS")?,
            max_age_ms: optional("REVOCATION_MAX_AGE_MS")?.unwrap_or(defaults.max_age_ms),
            fail_after_ms: optional("FAIL_AFTER_MS")?.unwrap_or(defaults.fail_after_ms),
            jwks_cooldown_ms: optional("JWKS_COOLDOWN_MS")?,
            leeway_secs: match var("LEEWAY_SECS") {
                None => tollgate_verifier::DEFAULT_LEEWAY_SECS,
                Some(text) => text
                    .trim()
                    .parse()
                    .ok()
                    .and_then(|secs| check_leeway(secs).ok())
                    .ok_or_else(|| {
                        format!("LEEWAY_SECS must be a whole number from 0 to {MAX_LEEWAY_SECS}")
                    })?,
            },
        })
    }

    /// Whether `path` is forwarded without a token.
    pub fn is_public(&self, path: &str) -> bool {
        self.public_paths
            .iter()
            .any(|p| path.starts_with(p.as_str()))
    }

    /// Whether `path` is one of the issuer's (by `ISSUER_PATHS`): only those
    /// requests carry the client's address and the edge secret.
    pub fn is_issuer_path(&self, path: &str) -> bool {
        self.issuer_paths
            .iter()
            .any(|p| path.starts_with(p.as_str()))
    }

    /// The base URL that serves `path`.
    pub fn upstream_for(&self, path: &str) -> &str {
        if self.is_issuer_path(path) {
            &self.issuer_url
        } else {
            &self.origin_url
        }
    }
}
