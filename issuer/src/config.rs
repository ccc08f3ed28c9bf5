//! Configuration from flags and environment variables (`--help` explains each).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::HeaderName;
use clap::{Args, Parser, Subcommand};

use crate::keys::{KeyPolicy, SigningAlg};
use crate::store::{PostgresStore, SqliteStore, Store, StoreError};

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
    pub database_url: Option<DatabaseUrl>,

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

    /// A header holding the client's address, set by a proxy you trust (e.g. cf-connecting-ip); otherwise the peer address.
    #[arg(long, env = "TOLLGATE_CLIENT_IP_HEADER", global = true)]
    pub client_ip_header: Option<HeaderName>,

    /// How often to reload signing keys from the database (another replica may have rotated), in seconds.
    #[arg(
        long,
        env = "TOLLGATE_KEY_RELOAD_SECS",
        default_value_t = defaults::KEY_RELOAD_SECS,
        global = true
    )]
    pub key_reload_secs: u64,
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
}

impl Config {
    /// What the key ring needs: the algorithm of new keys, and how long a
    /// retired key stays published.
    pub fn key_policy(&self) -> KeyPolicy {
        self.settings.key_policy()
    }

    /// Opens the configured database, migrating it.
    pub async fn open_store(&self) -> Result<Arc<dyn Store>, StoreError> {
        match self
            .database_url
            .as_ref()
            .map(|DatabaseUrl(url)| url.as_str())
        {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Arc::new(PostgresStore::open(url).await?))
            }
            // Anything else set is a mistake to report, not a reason to fall back to SQLite.
            Some(url) if !url.is_empty() => Err(StoreError::Config(
                "DATABASE_URL must be a postgres:// or postgresql:// URL; leave it unset for SQLite in --data-dir",
            )),
            _ => {
                std::fs::create_dir_all(&self.data_dir)
                    .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
                Ok(Arc::new(
                    SqliteStore::open(&self.data_dir.join("issuer.db")).await?,
                ))
            }
        }
    }
}

/// A database URL; `Debug` hides it, since it may hold a password.
#[derive(Clone)]
pub struct DatabaseUrl(pub String);

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(s.to_owned()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(<redacted>)")
    }
}

/// The defaults `--help` shows.
pub mod defaults {
    /// `--issuer`.
    pub const ISSUER: &str = "tollgate";
    /// `--audience`.
    pub const AUDIENCE: &str = "tollgate-api";
    /// `--access-ttl-secs`: five minutes, DESIGN.md's default.
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
            client_ip_header: None,
            key_reload_secs: defaults::KEY_RELOAD_SECS,
        }
    }
}

impl Settings {
    /// What the key ring needs: the algorithm of new keys, and how long a
    /// retired key stays published (the token lifetime plus leeway).
    pub fn key_policy(&self) -> KeyPolicy {
        KeyPolicy {
            alg: self.signing_alg,
            retention: self.access_ttl_secs.saturating_add(self.leeway_secs),
        }
    }

    /// The `until` of a revocation made now: no token issued before now
    /// outlives it, leeway included.
    pub fn revoke_until(&self, now: i64) -> i64 {
        now.saturating_add(self.access_ttl_secs)
            .saturating_add(self.leeway_secs)
    }
}
