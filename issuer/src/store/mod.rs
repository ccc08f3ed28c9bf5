//! Persistence behind one trait, with a SQLite and a Postgres implementation.
//!
//! Handlers and the feed logic see only [`Store`]; neither ever branches on
//! the database. Each implementation has its own migrations folder
//! (`issuer/migrations/{sqlite,postgres}`) with the same tables.

pub mod accounts;
mod migrations;
mod postgres;
mod sqlite;

use async_trait::async_trait;
use tollgate_verifier::{RevocationEntry, Revoked, Uuid};

pub use accounts::{
    AccountStore, NewSession, RefreshOutcome, RefreshRequest, RevokeUntil, Session, User, Which,
};
pub use postgres::PostgresStore;
pub use sqlite::{SqliteStore, exposed_files};

/// A storage failure. Its text may name the database's complaint but never
/// a connection string or a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The configuration names a database this issuer cannot use.
    #[error("configuration error: {0}")]
    Config(&'static str),
    /// A unique value is taken (the field is named).
    #[error("{0} is taken")]
    Conflict(&'static str),
    /// A stored row does not decode (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
    /// A secret at rest could not be sealed or opened (a missing or wrong
    /// `TOLLGATE_KEY_ENCRYPTION_KEY`).
    #[error(transparent)]
    Secret(#[from] crate::seal::SealError),
}

/// A revocation as logged, with its position in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedRevocation {
    /// Position in commit order; the feed cursor points at one.
    pub seq: i64,
    /// What was revoked and until when.
    pub entry: RevocationEntry,
}

/// The first page of a snapshot, read in one consistent view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPage {
    /// Unexpired revocations in `seq` order, at most the limit asked for.
    pub entries: Vec<LoggedRevocation>,
    /// The entry with the highest `seq` visible in the same read (none if
    /// the log is empty). Every lower `seq` that will ever commit has
    /// committed, so a cursor here skips nothing.
    pub head: Option<LoggedRevocation>,
}

/// A token signing key as stored. The secret never shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id, as in the JWKS and token headers.
    pub kid: String,
    /// JOSE algorithm name, e.g. `EdDSA`.
    pub alg: String,
    /// The private key bytes (for Ed25519, the 32-byte seed).
    pub secret: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
    /// When it stopped signing; `None` for the current key.
    pub retired_at: Option<i64>,
    /// When it was withdrawn (`keys withdraw`): from then on it is neither
    /// published nor trusted.
    pub withdrawn_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("withdrawn_at", &self.withdrawn_at)
            .finish()
    }
}

/// What the issuer persists.
#[async_trait]
pub trait Store: AccountStore + KeyStore + Send + Sync + 'static {
    /// The random id of this database, fixed at its first start. Feed cursors
    /// carry it, so a cursor from another database is recognised.
    fn epoch(&self) -> &str;

    /// Appends revocations to the log in one transaction. When it returns,
    /// they are committed, and any reader that later sees a higher `seq` also
    /// sees these.
    async fn append_revocations(&self, entries: &[RevocationEntry]) -> Result<(), StoreError>;

    /// Up to `limit` revocations with `seq > after`, in `seq` order.
    async fn revocations_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<LoggedRevocation>, StoreError>;

    /// Up to `limit` revocations with `until >= now`, in `seq` order, and the
    /// head of the log, both from one consistent read.
    async fn live_revocations(&self, now: i64, limit: u32) -> Result<SnapshotPage, StoreError>;

    /// The highest `seq` in the log (0 if it is empty): a cheap probe that
    /// changes whenever a revocation is appended.
    async fn head_seq(&self) -> Result<i64, StoreError>;

    /// The entry at `seq`, if the log holds one. Feed cursors name an entry
    /// and its digest: after a restore from a backup the entry at a
    /// follower's cursor is missing or different, and the follower gets a
    /// snapshot instead of a delta that would skip the new timeline's entries.
    async fn entry_at(&self, seq: i64) -> Result<Option<LoggedRevocation>, StoreError>;

    /// Deletes revocations whose `until` is before `before`, except the
    /// newest entry (current followers' cursors name it); returns how many.
    async fn prune_revocations(&self, before: i64) -> Result<u64, StoreError>;

    /// Whether several issuer processes share this database, so rate limits
    /// must be kept in it to hold across them (Postgres), rather than in
    /// each process's memory (SQLite, one process).
    fn shares_rate_limits(&self) -> bool;

    /// Counts an attempt under `key` in a fixed window of `window` seconds;
    /// `Err(retry_after)` if the window already held `max` attempts. One
    /// statement, so replicas counting at once never lose a count.
    async fn limit_attempt(
        &self,
        key: &str,
        max: u32,
        window: i64,
        now: i64,
    ) -> Result<Result<(), u64>, StoreError>;

    /// Forgets `key`'s attempts.
    async fn limit_forgive(&self, key: &str) -> Result<(), StoreError>;

    /// Deletes windows that started before `before`.
    async fn limit_sweep(&self, before: i64) -> Result<u64, StoreError>;
}

/// What `keys withdraw` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    /// The key is withdrawn; `replaced` says it was the current key and the
    /// replacement now signs.
    Withdrawn {
        /// It was the current key.
        replaced: bool,
    },
    /// No key has this id.
    Unknown,
    /// It was withdrawn before.
    AlreadyWithdrawn,
}

/// Token signing keys, and the server's other secrets.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every signing key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;

    /// The key-set version: a counter (as text) raised in the same
    /// transaction as every change to the keys (first key, rotation,
    /// withdrawal); "0" before the first.
    async fn keys_version(&self) -> Result<String, StoreError>;

    /// Stores `key` as the current signing key unless there already is one
    /// (another issuer may have won the race); returns whether it was stored.
    async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<bool, StoreError>;

    /// Retires the current signing key at `key.created_at` and makes `key`
    /// current, in one transaction.
    async fn rotate_signing_key(&self, key: &StoredKey) -> Result<(), StoreError>;

    /// Withdraws key `kid` at `now`. If it is the current key,
    /// `replacement` becomes current first, in the same transaction.
    async fn withdraw_signing_key(
        &self,
        kid: &str,
        now: i64,
        replacement: &StoredKey,
    ) -> Result<Withdrawal, StoreError>;

    /// The server secret named `name`: `candidate` if none was stored yet
    /// (it is stored then), else the stored one. Replicas racing to create
    /// it all end up with the same value.
    async fn secret(&self, name: &str, candidate: &str) -> Result<String, StoreError>;
}

/// A transaction that writes, holding the store's turn to write if it keeps
/// one (SQLite: one writer at a time, queued here in order rather than by
/// SQLite's sleeping busy handler, which makes tail latency spiky).
pub(crate) struct WriteTx<DB: sqlx::Database> {
    tx: sqlx::Transaction<'static, DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    fn new(
        tx: sqlx::Transaction<'static, DB>,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Self {
        WriteTx { tx, _turn: turn }
    }

    /// Commits, then gives up the turn.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl<DB: sqlx::Database> std::ops::Deref for WriteTx<DB> {
    type Target = sqlx::Transaction<'static, DB>;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// `(kind, id)` as stored.
fn split_target(target: Revoked) -> (&'static str, Uuid) {
    match target {
        Revoked::Sid(id) => ("sid", id),
        Revoked::Jti(id) => ("jti", id),
    }
}

/// The inverse of [`split_target`].
fn join_target(kind: &str, id: Uuid) -> Result<Revoked, StoreError> {
    match kind {
        "sid" => Ok(Revoked::Sid(id)),
        "jti" => Ok(Revoked::Jti(id)),
        _ => Err(StoreError::Corrupt(
            "revocation kind is neither sid nor jti",
        )),
    }
}

/// Rows of `(seq, kind, target, until)` into logged revocations.
fn logged(rows: Vec<(i64, String, Uuid, i64)>) -> Result<Vec<LoggedRevocation>, StoreError> {
    rows.into_iter()
        .map(|(seq, kind, id, until)| {
            Ok(LoggedRevocation {
                seq,
                entry: RevocationEntry {
                    target: join_target(&kind, id)?,
                    until,
                },
            })
        })
        .collect()
}

/// A `signing_keys` row: `(kid, alg, secret, created_at, retired_at, withdrawn_at)`.
pub(crate) type KeyRow = (String, String, Vec<u8>, i64, Option<i64>, Option<i64>);

/// Rows of `signing_keys` into stored keys.
pub(crate) fn stored_keys(rows: Vec<KeyRow>) -> Vec<StoredKey> {
    rows.into_iter()
        .map(
            |(kid, alg, secret, created_at, retired_at, withdrawn_at)| StoredKey {
                kid,
                alg,
                secret,
                created_at,
                retired_at,
                withdrawn_at,
            },
        )
        .collect()
}

/// A fresh random id: a new database's epoch, a new key-set version.
pub(crate) fn new_epoch() -> String {
    Uuid::new_v4().simple().to_string()
}
