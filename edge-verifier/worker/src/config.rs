//! The worker's configuration: the `[vars]` (and secrets) of wrangler.toml.
//! The sync timing is the verifier crate's [`SyncSettings`], read from the
//! variables it names; its defaults are the crate's.

use tollgate_verifier::path::Prefixes;
use tollgate_verifier::{MAX_LEEWAY_SECS, SyncSettings, check_leeway};
use worker::Env;

/// Settings read from the environment on each request (they are constants
/// of the deployment, and reading them costs next to nothing). `Debug`
/// never shows a secret.
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
    pub public_paths: Prefixes,
    /// Path prefixes that go to the issuer rather than the origin.
    pub issuer_paths: Prefixes,
    /// The sync timing (`REVOCATION_MAX_AGE_MS`, `FAIL_AFTER_MS`, ...).
    pub sync: SyncSettings,
    /// Clock skew allowed on token times, in seconds.
    pub leeway_secs: u32,
    /// Whether isolates share feed answers through the data-center cache
    /// (`SHARED_FEED`, on unless `"off"`).
    pub shared_feed: bool,
    /// The secret (`EDGE_SECRET`, a Worker secret) that proves to the issuer
    /// that a request came through the edge, so it may trust the
    /// `x-tollgate-client-ip` the edge sets.
    pub edge_secret: Option<String>,
    /// The request header that names the client's address
    /// (`CLIENT_IP_HEADER`): `CF-Connecting-IP` on Cloudflare, which sets
    /// it and never passes a client's own. Unset (or `off`): the edge
    /// vouches for no address, as on self-hosted workerd, where a client
    /// could write that header itself.
    pub client_ip_header: Option<String>,
    /// The token (`STATUS_TOKEN`, a Worker secret) that `/.tollgate/status`
    /// asks for before it shows more than whether the edge is ready.
    pub status_token: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("issuer_url", &self.issuer_url)
            .field("origin_url", &self.origin_url)
            .field("edge_secret", &redacted(&self.edge_secret))
            .field("status_token", &redacted(&self.status_token))
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads the vars; a missing required one or a bad value is an error
    /// naming it. Whether the timing could fail open is the verifier
    /// crate's to judge ([`SyncSettings::options`]).
    pub fn from_env(env: &Env) -> Result<Self, String> {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        let secret = |name: &str| {
            env.secret(name)
                .ok()
                .map(|secret| secret.to_string())
                .filter(|secret| !secret.is_empty())
        };
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        let prefixes = |name: &str| {
            Prefixes::parse(&var(name).unwrap_or_default()).map_err(|err| format!("{name}: {err}"))
        };
        let sync = SyncSettings::from_vars(var).map_err(|err| err.to_string())?;
        sync.options()
            .map_err(|err| format!("invalid configuration: {err}"))?;
        Ok(Config {
            issuer_url: required("ISSUER_URL")?.trim_end_matches('/').to_owned(),
            origin_url: required("ORIGIN_URL")?.trim_end_matches('/').to_owned(),
            issuer: required("ISSUER")?,
            audience: required("AUDIENCE")?,
            public_paths: prefixes("PUBLIC_PATHS")?,
            issuer_paths: prefixes("ISSUER_PATHS")?,
            shared_feed: !var("SHARED_FEED").is_some_and(|v| v.trim().eq_ignore_ascii_case("off")),
            edge_secret: secret("EDGE_SECRET"),
            client_ip_header: var("CLIENT_IP_HEADER")
                .map(|name| name.trim().to_ascii_lowercase())
                .filter(|name| !name.is_empty() && name != "off"),
            status_token: secret("STATUS_TOKEN"),
            sync,
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

    /// Whether the normalized `path` is forwarded without a token.
    pub fn is_public(&self, path: &str) -> bool {
        self.public_paths.matches(path)
    }

    /// Whether the normalized `path` is one of the issuer's (by
    /// `ISSUER_PATHS`): only those requests carry the client's address and
    /// the edge secret.
    pub fn is_issuer_path(&self, path: &str) -> bool {
        self.issuer_paths.matches(path)
    }

    /// The base URL that serves the normalized `path`.
    pub fn upstream_for(&self, path: &str) -> &str {
        if self.is_issuer_path(path) {
            &self.issuer_url
        } else {
            &self.origin_url
        }
    }
}
