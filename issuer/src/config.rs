//! Configuration from flags and environment variables (`--help` explains each).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

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

    /// Access-token lifetime in seconds.
    #[arg(
        long,
        env = "TOLLGATE_ACCESS_TTL_SECS",
        default_value_t = 300,
        global = true
    )]
    pub access_ttl_secs: i64,

    /// Clock skew verifiers allow, in seconds; a retired key and a revocation outlive tokens by this much.
    #[arg(
        long,
        env = "TOLLGATE_LEEWAY_SECS",
        default_value_t = 30,
        global = true
    )]
    pub leeway_secs: i64,

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
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new key current; the previous one stays in the JWKS until its tokens have expired.
    Rotate,
}

impl Config {
    /// How long a retired signing key stays published.
    pub fn key_retention(&self) -> i64 {
        self.access_ttl_secs.saturating_add(self.leeway_secs)
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
