//! Configuration from flags and environment variables (`--help` explains each).

use ipnet::IpNet;
use secrecy::{ExposeSecret as _, SecretString};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::HeaderName;
use clap::{Args, Parser, Subcommand};

use crate::keys::{KeyPolicy, SigningAlg};
use crate::seal::Sealer;
use crate::store::{PostgresStore, RevokeUntil, SqliteStore, Store, StoreError, exposed_files};

/// The tollgate issuer: device sessions, tokens, and the revocation feed.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Config {
    /// Address to listen on. Port 0 picks a free port (printed at start).
    #[arg(
        long,
        env = "TOLLGATE_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// Directory for the SQLite database, created on first start. Unused with a Postgres DATABASE_URL.
    #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// A postgres:// URL to share one database between several issuers; SQLite otherwise.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    #[arg(value_parser = secret)]
    pub database_url: Option<SecretString>,

    /// 32 bytes in base64: seal the signing-key seeds and the refresh key in the database with it (XChaCha20-Poly1305). Keep it outside the database and its backups.
    #[arg(
        long,
        env = "TOLLGATE_KEY_ENCRYPTION_KEY",
        global = true,
        hide_env_values = true
    )]
    #[arg(value_parser = secret)]
    pub key_encryption_key: Option<SecretString>,

    /// Settings of the service.
    #[command(flatten)]
    pub settings: Settings,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve,
    /// Manage signing keys.
    Keys {
        /// What to do with them.
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Manage users.
    User {
        /// What to do.
        #[command(subcommand)]
        action: UserCommand,
    },
}

/// Settings of the running service. `Default` gives the documented defaults.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Access-token lifetime in seconds.
    #[arg(
        long,
        env = "TOLLGATE_ACCESS_TTL_SECS",
        default_value_t = defaults::ACCESS_TTL_SECS,
        global = true
    )]
    pub access_ttl_secs: i64,

    /// Clock skew verifiers allow, in seconds; a retired key and a revocation outlive tokens by this much.
    #[arg(
        long,
        env = "TOLLGATE_LEEWAY_SECS",
        default_value_t = defaults::LEEWAY_SECS,
        global = true
    )]
    pub leeway_secs: i64,

    /// The `iss` of every token, and what verifiers are configured to expect.
    #[arg(long, env = "TOLLGATE_ISSUER", default_value = defaults::ISSUER, global = true)]
    pub issuer: String,

    /// The `aud` of every token: the API the tokens are for.
    #[arg(
        long,
        env = "TOLLGATE_AUDIENCE",
        default_value = defaults::AUDIENCE,
        global = true
    )]
    pub audience: String,

    /// How long a device stays logged in without a refresh, in seconds; each refresh restarts it.
    #[arg(
        long,
        env = "TOLLGATE_REFRESH_TTL_SECS",
        default_value_t = defaults::REFRESH_TTL_SECS,
        global = true
    )]
    pub refresh_ttl_secs: i64,

    /// Algorithm of new signing keys (existing keys keep theirs until rotated).
    #[arg(long, env = "TOLLGATE_SIGNING_ALG", value_enum, default_value_t = SigningAlg::EdDsa, global = true)]
    pub signing_alg: SigningAlg,

    /// Argon2id memory per password hash, in KiB (OWASP's 19 MiB by default).
    #[arg(
        long,
        env = "TOLLGATE_ARGON2_MEMORY_KIB",
        default_value_t = defaults::ARGON2_MEMORY_KIB,
        global = true
    )]
    pub argon2_memory_kib: u32,

    /// Argon2id passes over memory.
    #[arg(
        long,
        env = "TOLLGATE_ARGON2_ITERATIONS",
        default_value_t = defaults::ARGON2_ITERATIONS,
        global = true
    )]
    pub argon2_iterations: u32,

    /// Argon2id lanes.
    #[arg(
        long,
        env = "TOLLGATE_ARGON2_PARALLELISM",
        default_value_t = defaults::ARGON2_PARALLELISM,
        global = true
    )]
    pub argon2_parallelism: u32,

    /// Login attempts allowed per account in each rate window.
    #[arg(
        long,
        env = "TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT",
        default_value_t = defaults::LOGIN_LIMIT_PER_ACCOUNT,
        global = true
    )]
    pub login_limit_per_account: u32,

    /// Login and signup attempts allowed per client address in each rate window.
    #[arg(
        long,
        env = "TOLLGATE_LOGIN_LIMIT_PER_ADDRESS",
        default_value_t = defaults::LOGIN_LIMIT_PER_ADDRESS,
        global = true
    )]
    pub login_limit_per_address: u32,

    /// Length of the rate window, in seconds.
    #[arg(
        long,
        env = "TOLLGATE_RATE_WINDOW_SECS",
        default_value_t = defaults::RATE_WINDOW_SECS,
        global = true
    )]
    pub rate_window_secs: i64,

    /// Failed refreshes and RFC 7009 revocations allowed per client address in each rate window.
    #[arg(
        long,
        env = "TOLLGATE_TOKEN_FAILURES_PER_ADDRESS",
        default_value_t = defaults::TOKEN_FAILURES_PER_ADDRESS,
        global = true
    )]
    pub token_failures_per_address: u32,

    /// The secret the edge proves itself with (header x-tollgate-edge-secret); with it, the edge's x-tollgate-client-ip is the client's address. At least 16 characters.
    #[arg(
        long,
        env = "TOLLGATE_EDGE_SECRET",
        hide_env_values = true,
        global = true
    )]
    #[arg(value_parser = secret)]
    pub edge_secret: Option<SecretString>,

    /// A header holding the client's address, set by a proxy you trust (e.g. x-forwarded-for); for a list, the right-most address not in --trusted-proxies is taken. Otherwise the peer address.
    #[arg(long, env = "TOLLGATE_CLIENT_IP_HEADER", global = true)]
    pub client_ip_header: Option<HeaderName>,

    /// Comma-separated addresses or CIDR blocks of your own proxies, skipped from the right of a --client-ip-header list.
    #[arg(
        long,
        env = "TOLLGATE_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    #[arg(value_parser = ip_block)]
    pub trusted_proxies: Vec<IpNet>,

    /// How often to reload signing keys from the database (another replica may have rotated), in seconds.
    #[arg(
        long,
        env = "TOLLGATE_KEY_RELOAD_SECS",
        default_value_t = defaults::KEY_RELOAD_SECS,
        global = true
    )]
    pub key_reload_secs: u64,

    /// Refuse logins without a DPoP proof (RFC 9449): every session is then bound to a device key.
    #[arg(long, env = "TOLLGATE_REQUIRE_DPOP", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub require_dpop: bool,

    /// Require DPoP proofs at the token routes (login, refresh) to carry a nonce this issuer gave out (DPoP-Nonce).
    #[arg(long, env = "TOLLGATE_DPOP_NONCE", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub dpop_nonce: bool,

    /// Comma-separated public base URLs clients reach the issuer at (e.g. https://api.example.com, the edge's); a DPoP proof's htu must be one of them plus the path. Default: http:// or https:// plus the request's Host.
    #[arg(
        long,
        env = "TOLLGATE_PUBLIC_URL",
        value_delimiter = ',',
        global = true
    )]
    pub public_url: Vec<String>,

    /// A TOML file of trusted upstream identity providers (docs/upstream.md): their tokens verify at every verifier, and their logouts revoke them.
    #[arg(long, env = "TOLLGATE_UPSTREAMS", global = true)]
    pub upstreams: Option<PathBuf>,
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from the first line of stdin, so it
    /// stays out of shell history and the process list.
    Add {
        /// The user's email address (their login).
        #[arg(long)]
        email: String,
        /// Display name (default: the email's local part).
        #[arg(long)]
        name: Option<String>,
        /// Give the user the ADMIN role. Open signup never does.
        #[arg(long)]
        admin: bool,
    },
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new key current; the previous one stays in the JWKS until its tokens have expired.
    Rotate,
    /// Emergency removal: the key leaves the JWKS at once and its tokens stop
    /// verifying everywhere within the verifiers' sync bound. If it is the
    /// current key, a new one is made first.
    Withdraw {
        /// The key id (`kid`) to withdraw.
        kid: String,
    },
}

impl Config {
    /// What the key ring needs: the algorithm of new keys, and how long a
    /// retired key stays published.
    pub fn key_policy(&self) -> KeyPolicy {
        self.settings.key_policy()
    }

    /// Opens the configured database, migrating it. Logs once if secrets
    /// are stored unsealed, and warns about database files other users can read.
    pub async fn open_store(&self) -> Result<Arc<dyn Store>, StoreError> {
        let sealer = match &self.key_encryption_key {
            Some(text) => Sealer::from_base64(text.expose_secret())?,
            None => {
                tracing::warn!(
                    "signing-key seeds are stored unencrypted; set TOLLGATE_KEY_ENCRYPTION_KEY to seal them"
                );
                Sealer::none()
            }
        };
        match self.database_url.as_ref().map(|url| url.expose_secret()) {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Arc::new(PostgresStore::open_with(url, sealer).await?))
            }
            // Anything else set is a mistake to report, not a reason to fall back to SQLite.
            Some(url) if !url.is_empty() => Err(StoreError::Config(
                "DATABASE_URL must be a postgres:// or postgresql:// URL; leave it unset for SQLite in --data-dir",
            )),
            _ => {
                let store = SqliteStore::open_in(&self.data_dir, sealer).await?;
                for warning in exposed_files(&self.data_dir) {
                    tracing::warn!("{warning}");
                }
                Ok(Arc::new(store))
            }
        }
    }
}

/// The defaults `--help` shows.
pub mod defaults {
    /// `--issuer`.
    pub const ISSUER: &str = "tollgate";
    /// `--audience`.
    pub const AUDIENCE: &str = "tollgate-api";
    /// `--access-ttl-secs`: five minutes (docs/issuer.md).
    pub const ACCESS_TTL_SECS: i64 = 300;
    /// `--leeway-secs`.
    pub const LEEWAY_SECS: i64 = 30;
    /// `--refresh-ttl-secs`: two weeks.
    pub const REFRESH_TTL_SECS: i64 = 14 * 24 * 3600;
    /// `--argon2-memory-kib`: OWASP's Argon2id minimum, 19 MiB.
    pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
    /// `--argon2-iterations`.
    pub const ARGON2_ITERATIONS: u32 = 2;
    /// `--argon2-parallelism`.
    pub const ARGON2_PARALLELISM: u32 = 1;
    /// `--login-limit-per-account`.
    pub const LOGIN_LIMIT_PER_ACCOUNT: u32 = 10;
    /// `--login-limit-per-address`.
    pub const LOGIN_LIMIT_PER_ADDRESS: u32 = 100;
    /// `--rate-window-secs`.
    pub const RATE_WINDOW_SECS: i64 = 300;
    /// `--key-reload-secs`.
    pub const KEY_RELOAD_SECS: u64 = 30;
    /// `--token-failures-per-address`.
    pub const TOKEN_FAILURES_PER_ADDRESS: u32 = 60;
}

/// A secret from the command line or the environment (`--database-url`,
/// `--key-encryption-key`, `--edge-secret`): `secrecy`'s string, which
/// redacts itself in `Debug` and is zeroed when dropped.
fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text))
}

/// An address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`): a bare
/// address is a block of one.
fn ip_block(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|block| match block {
            // An IPv4-mapped IPv6 block names the IPv4 one.
            IpNet::V6(v6) if v6.addr().to_ipv4_mapped().is_some() => {
                let v4 = v6
                    .addr()
                    .to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                let prefix = v6.prefix_len().saturating_sub(96);
                ipnet::Ipv4Net::new(v4, prefix).map_or(block, IpNet::V4)
            }
            other => other,
        })
        .map_err(|_| format!("`{text}` is not an IP address or CIDR block"))
}

/// Whether `ip` is inside one of `blocks` (IPv4-mapped IPv6 counts as IPv4).
pub fn in_blocks(blocks: &[IpNet], ip: std::net::IpAddr) -> bool {
    let ip = ip.to_canonical();
    blocks.iter().any(|block| block.contains(&ip))
}

/// Whether `proof` is the edge's secret, compared in constant time.
pub fn edge_secret_matches(secret: &SecretString, proof: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    secret.expose_secret().as_bytes().ct_eq(proof).into()
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            access_ttl_secs: defaults::ACCESS_TTL_SECS,
            leeway_secs: defaults::LEEWAY_SECS,
            issuer: defaults::ISSUER.to_owned(),
            audience: defaults::AUDIENCE.to_owned(),
            refresh_ttl_secs: defaults::REFRESH_TTL_SECS,
            signing_alg: SigningAlg::EdDsa,
            argon2_memory_kib: defaults::ARGON2_MEMORY_KIB,
            argon2_iterations: defaults::ARGON2_ITERATIONS,
            argon2_parallelism: defaults::ARGON2_PARALLELISM,
            login_limit_per_account: defaults::LOGIN_LIMIT_PER_ACCOUNT,
            login_limit_per_address: defaults::LOGIN_LIMIT_PER_ADDRESS,
            rate_window_secs: defaults::RATE_WINDOW_SECS,
            token_failures_per_address: defaults::TOKEN_FAILURES_PER_ADDRESS,
            edge_secret: None,
            client_ip_header: None,
            trusted_proxies: Vec::new(),
            key_reload_secs: defaults::KEY_RELOAD_SECS,
            require_dpop: false,
            dpop_nonce: false,
            public_url: Vec::new(),
            upstreams: None,
        }
    }
}

impl Settings {
    /// What the key ring needs: the algorithm of new keys, and how long a
    /// retired key stays published: the token lifetime plus the leeway plus
    /// the key-reload interval, so a replica that has not reloaded yet never
    /// signs with a key the edges have already dropped.
    pub fn key_policy(&self) -> KeyPolicy {
        let reload = i64::try_from(self.key_reload_secs).unwrap_or(i64::MAX);
        KeyPolicy {
            alg: self.signing_alg,
            retention: self
                .access_ttl_secs
                .saturating_add(self.leeway_secs)
                .saturating_add(reload),
        }
    }

    /// How long a revocation made now lasts: past the latest `exp` the
    /// session was given (plus leeway), and at least now + this replica's
    /// TTL + leeway.
    pub fn revoke_until(&self, now: i64) -> RevokeUntil {
        RevokeUntil {
            floor: now
                .saturating_add(self.access_ttl_secs)
                .saturating_add(self.leeway_secs),
            leeway: self.leeway_secs,
        }
    }

    /// Refuses settings that would fail open or make no sense: a leeway
    /// outside 0–600 s (a negative one used to wrap to 136 years), a token
    /// lifetime outside 1 s–1 day, and zero-length windows or intervals.
    pub fn check(&self) -> Result<(), SettingsError> {
        tollgate_verifier::check_leeway(self.leeway_secs)
            .map_err(|_| SettingsError("--leeway-secs must be between 0 and 600"))?;
        if !(1..=MAX_ACCESS_TTL_SECS).contains(&self.access_ttl_secs) {
            return Err(SettingsError(
                "--access-ttl-secs must be between 1 and 86400 (one day)",
            ));
        }
        if self.refresh_ttl_secs < 1 {
            return Err(SettingsError("--refresh-ttl-secs must be at least 1"));
        }
        if self.rate_window_secs < 1 {
            return Err(SettingsError("--rate-window-secs must be at least 1"));
        }
        if self.key_reload_secs < 1 {
            return Err(SettingsError("--key-reload-secs must be at least 1"));
        }
        if !self.public_url.iter().all(|url| {
            (url.starts_with("https://") || url.starts_with("http://")) && !url.contains(['?', '#'])
        }) {
            return Err(SettingsError(
                "--public-url must be http:// or https:// URLs without a query or fragment",
            ));
        }
        if self
            .edge_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().len() < 16)
        {
            return Err(SettingsError(
                "TOLLGATE_EDGE_SECRET must be at least 16 characters",
            ));
        }
        Ok(())
    }
}

/// The longest access-token lifetime accepted: a day. Longer-lived access
/// tokens defeat the point of refresh tokens and make revocation entries
/// live as long.
pub const MAX_ACCESS_TTL_SECS: i64 = 86_400;

/// Settings that cannot be used; the text names the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting: {0}")]
pub struct SettingsError(pub &'static str);
