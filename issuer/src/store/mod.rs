//! Persistence behind one trait, with a SQLite and a Postgres implementation.
//!
//! Handlers and the feed logic see only [`Store`]; neither ever branches on
//! the database. Each implementation has its own migrations folder
//! (`issuer/migrations/{sqlite,postgres}`) with the same tables.
//!
//! # Layout
//! - `types`: the records ([`User`], [`Session`], [`StoredKey`], ...) and
//!   the requests ([`NewSession`], [`RefreshRequest`]).
//! - `refresh`: the refresh decision (rotate, repeat, reuse, wrong key), a
//!   pure function of what was read and what is asked.
//! - `backend`: the SQL that is the same text on both databases, written
//!   once over the [`Backend`](backend::Backend) trait: accounts, keys and
//!   rate limits.
//! - `sqlite`, `postgres`: what differs: connecting, the write turn, how the
//!   revocation log is appended to and read.
//! - `upstreams`: upstream providers' stored keys and accepted events.
//! - `migrations`: the embedded migrations.

mod backend;
mod migrations;
mod postgres;
mod refresh;
mod sqlite;
mod types;
mod upstreams;

use async_trait::async_trait;
use tollgate_verifier::{RevocationEntry, Revoked, Uuid};

pub use postgres::PostgresStore;
pub use refresh::{Decision, TokenState, decide};
pub use sqlite::{SqliteStore, exposed_files};
pub use types::{
    LoggedRevocation, NewSession, RefreshOutcome, RefreshRequest, RevokeUntil, Session,
    SnapshotPage, StoredKey, User, Which, Withdrawal,
};

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
    /// Too many requests are waiting for the same kind of database work;
    /// answered 429, try again shortly.
    #[error("busy")]
    Busy,
    /// A secret at rest could not be sealed or opened (a missing or wrong
    /// `TOLLGATE_KEY_ENCRYPTION_KEY`).
    #[error(transparent)]
    Secret(#[from] crate::seal::SealError),
}

/// What the issuer persists.
#[async_trait]
pub trait Store:
    AccountStore + KeyStore + LimitStore + UpstreamStore + Send + Sync + 'static
{
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
}

/// What is kept of upstream identity providers (`store/upstreams.rs`).
#[async_trait]
pub trait UpstreamStore: Send + Sync {
    /// Every provider's stored JWKS (JSON), by name.
    async fn upstream_keys(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// Stores a provider's JWKS as fetched at `now`; if its `digest` differs
    /// from the stored one, the key-set version moves in the same
    /// transaction and it returns `true`.
    async fn put_upstream_keys(
        &self,
        name: &str,
        jwks: &str,
        digest: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Records an accepted event of `upstream` by its `jti` (kept until
    /// `keep_until`) and appends its revocations, in one transaction;
    /// `false`, and nothing appended, if the `jti` was accepted before.
    async fn accept_event(
        &self,
        upstream: &str,
        jti: &str,
        keep_until: i64,
        entries: &[RevocationEntry],
    ) -> Result<bool, StoreError>;

    /// Forgets event ids kept until before `before`; returns how many.
    async fn prune_events(&self, before: i64) -> Result<u64, StoreError>;
}

/// Users, sessions and refresh tokens.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores a new user; [`StoreError::Conflict`] if the email is taken.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;

    /// The user with this (lower-cased) email.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// The user with this id.
    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError>;

    /// Starts a session, revoking any live session of the same user and
    /// device; returns the ids it revoked. `None`, and nothing stored, if the
    /// user is deactivated (or gone) by the time the transaction runs: a
    /// login that was mid-Argon2 when an admin deactivated the account must
    /// not produce a live session.
    async fn start_session(&self, new: &NewSession) -> Result<Option<Vec<Uuid>>, StoreError>;

    /// Rotates a refresh token. Of concurrent calls with the same token, one
    /// gets [`RefreshOutcome::Rotated`] and the others, within the grace
    /// window, [`RefreshOutcome::Repeated`]: the session never has two live
    /// refresh tokens.
    async fn refresh_session(&self, request: &RefreshRequest)
    -> Result<RefreshOutcome, StoreError>;

    /// Revokes the session a refresh token (current or rotated) belongs to;
    /// returns the ids revoked (none if the token is unknown or its session
    /// was already over).
    async fn revoke_by_refresh(
        &self,
        hash: &[u8; 32],
        now: i64,
        until: RevokeUntil,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Revokes `which` of `user`'s live sessions; returns the ids revoked.
    async fn revoke_sessions(
        &self,
        user: Uuid,
        which: Which,
        now: i64,
        until: RevokeUntil,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Deactivates a user and revokes all their sessions; returns the ids
    /// revoked, or `None` if there is no such user.
    async fn deactivate_user(
        &self,
        user: Uuid,
        now: i64,
        until: RevokeUntil,
    ) -> Result<Option<Vec<Uuid>>, StoreError>;

    /// The user's sessions that are neither revoked nor expired, oldest first.
    async fn live_sessions(&self, user: Uuid, now: i64) -> Result<Vec<Session>, StoreError>;

    /// Whether the log holds a revocation of this session or token id.
    async fn is_revoked(&self, sid: Uuid, jti: Uuid) -> Result<bool, StoreError>;
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

/// Fixed-window attempt counters in the database, for limits that must
/// hold across replicas (see [`crate::ratelimit::limiter_for`]).
#[async_trait]
pub trait LimitStore: Send + Sync {
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

/// The revocation log's columns, in the order [`LogRow`] reads them.
pub(crate) const LOG_COLUMNS: &str = "seq, kind, target, iss, subject, cutoff, until";

/// A log row: `seq, kind, target, iss, subject, cutoff, until`.
pub(crate) type LogRow = (
    i64,
    String,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
);

/// An entry's columns as stored: tollgate's own by `target`, an
/// upstream's by `iss` and `subject`, a cut-off with `cutoff`.
pub(crate) struct Columns<'a> {
    pub(crate) kind: &'static str,
    pub(crate) target: Option<Uuid>,
    pub(crate) iss: Option<&'a str>,
    pub(crate) subject: Option<&'a str>,
    pub(crate) cutoff: Option<i64>,
}

/// How `target` is stored.
pub(crate) fn columns_of(target: &Revoked) -> Columns<'_> {
    let own = |kind, id| Columns {
        kind,
        target: Some(id),
        iss: None,
        subject: None,
        cutoff: None,
    };
    let scoped = |kind, iss, subject, cutoff| Columns {
        kind,
        target: None,
        iss,
        subject: Some(subject),
        cutoff,
    };
    match target {
        Revoked::Sid(id) => own("sid", *id),
        Revoked::Jti(id) => own("jti", *id),
        Revoked::UpstreamSid { iss, sid } => scoped("sid", Some(iss.as_str()), sid, None),
        Revoked::UpstreamJti { iss, jti } => scoped("jti", Some(iss.as_str()), jti, None),
        Revoked::Subject { iss, sub, before } => scoped("sub", iss.as_deref(), sub, Some(*before)),
        Revoked::Email { iss, email, before } => {
            scoped("email", iss.as_deref(), email, Some(*before))
        }
        // A kind this issuer does not know cannot be stored.
        #[allow(unreachable_patterns)]
        _ => own("invalid", Uuid::nil()),
    }
}

/// The inverse of [`columns_of`].
fn target_of(row: LogRow) -> Result<Revoked, StoreError> {
    let (_, kind, target, iss, subject, cutoff, _) = row;
    let corrupt = || StoreError::Corrupt("revocation row of no known shape");
    Ok(match (kind.as_str(), target, iss, subject, cutoff) {
        ("sid", Some(id), None, None, None) => Revoked::Sid(id),
        ("jti", Some(id), None, None, None) => Revoked::Jti(id),
        ("sid", None, Some(iss), Some(sid), None) => Revoked::UpstreamSid { iss, sid },
        ("jti", None, Some(iss), Some(jti), None) => Revoked::UpstreamJti { iss, jti },
        ("sub", None, iss, Some(sub), Some(before)) => Revoked::Subject { iss, sub, before },
        ("email", None, iss, Some(email), Some(before)) => Revoked::Email { iss, email, before },
        _ => return Err(corrupt()),
    })
}

/// A log row as a logged revocation.
pub(crate) fn logged_row(row: LogRow) -> Result<LoggedRevocation, StoreError> {
    let (seq, until) = (row.0, row.6);
    Ok(LoggedRevocation {
        seq,
        entry: RevocationEntry {
            target: target_of(row)?,
            until,
        },
    })
}

/// Log rows into logged revocations.
fn logged(rows: Vec<LogRow>) -> Result<Vec<LoggedRevocation>, StoreError> {
    rows.into_iter().map(logged_row).collect()
}

/// A fresh random id: a new database's epoch, a new key-set version.
pub(crate) fn new_epoch() -> String {
    Uuid::new_v4().simple().to_string()
}
