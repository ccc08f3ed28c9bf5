//! SQLite: the zero-setup default, one file in the data directory.
//!
//! SQLite lets one writer in at a time, so the order in which `seq` values
//! are assigned is the order in which they commit: the feed needs nothing
//! more. WAL journal with `synchronous = FULL`, so a committed revocation
//! survives `kill -9` and power loss alike.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row as _, Sqlite, Transaction};
use tollgate_verifier::RevocationEntry;

use crate::seal::Sealer;

use super::{
    LOG_COLUMNS, LoggedRevocation, SnapshotPage, Store, StoreError, WriteTx, columns_of,
    logged_row, new_epoch,
};

/// Rows per INSERT statement, well under SQLite's bound-parameter limit.
const INSERT_CHUNK: usize = 1000;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Connections for reads (and the few one-statement writes).
    pool: SqlitePool,
    /// The one connection write transactions use: SQLite lets one writer in
    /// at a time anyway, and a writer (a logout) must never queue for a
    /// connection behind a flood of reads (guessed refresh tokens).
    writes: SqlitePool,
    epoch: String,
    /// This process's turn to write.
    writer: Arc<tokio::sync::Mutex<()>>,
    sealer: Arc<Sealer>,
}

/// The database's file name in the data directory.
pub const DB_FILE: &str = "issuer.db";

/// Files in `dir` (the directory itself, the database and its journals)
/// that other users can read or enter, as warnings to log at start. The
/// database holds the signing keys and password hashes.
pub fn exposed_files(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut warnings = Vec::new();
    let paths = [dir.to_owned()]
        .into_iter()
        .chain(["", "-wal", "-shm"].map(|suffix| dir.join(format!("{DB_FILE}{suffix}"))));
    for path in paths {
        if let Ok(meta) = std::fs::metadata(&path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                warnings.push(format!(
                    "{} has mode {mode:o}: other users can read the signing keys and password hashes (want {})",
                    path.display(),
                    if meta.is_dir() { "700" } else { "600" }
                ));
            }
        }
    }
    warnings
}

impl SqliteStore {
    /// Opens (creating if needed) the database in the data directory `dir`.
    /// A new directory is made 0700, a new database file 0600 (its WAL and
    /// shared-memory files inherit that), whatever the umask.
    pub async fn open_in(dir: &Path, sealer: Sealer) -> Result<Self, StoreError> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        Self::open_with(&dir.join(DB_FILE), sealer).await
    }

    /// Opens (creating if needed, mode 0600) the database file at `path`,
    /// storing secrets as they are.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Sealer::none()).await
    }

    /// Opens (creating if needed, mode 0600) the database file at `path`
    /// and migrates it; secrets are sealed with `sealer`.
    pub async fn open_with(path: &Path, sealer: Sealer) -> Result<Self, StoreError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::Database(sqlx::Error::Io(e))),
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await?;
        super::migrations::migrator(super::migrations::SQLITE)
            .await?
            .run(&pool)
            .await?;
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)")
            .bind(new_epoch())
            .execute(&pool)
            .await?;
        let epoch = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'epoch'")
            .fetch_one(&pool)
            .await?;
        let writes = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            pool,
            writes,
            epoch,
            writer: Arc::default(),
            sealer: Arc::new(sealer),
        })
    }
}

impl SqliteStore {
    /// A transaction that will write. Writers of this process queue on a
    /// mutex, in order; `BEGIN IMMEDIATE` then takes SQLite's write lock up
    /// front (another process, such as `user add`, may hold it for a moment),
    /// so a read-then-write transaction never fails halfway.
    async fn begin_write(&self) -> Result<WriteTx<Sqlite>, sqlx::Error> {
        let turn = Arc::clone(&self.writer).lock_owned().await;
        let tx = self.writes.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx::new(tx, Some(turn)))
    }

    /// Appends to the revocation log inside `tx`. One writer at a time means
    /// `seq` order is commit order.
    async fn append_in(
        tx: &mut Transaction<'static, Sqlite>,
        entries: &[RevocationEntry],
    ) -> Result<(), sqlx::Error> {
        for chunk in entries.chunks(INSERT_CHUNK) {
            QueryBuilder::<Sqlite>::new(
                "INSERT INTO revocations (kind, target, iss, subject, cutoff, until) ",
            )
            .push_values(chunk, |mut row, entry| {
                let columns = columns_of(&entry.target);
                row.push_bind(columns.kind)
                    .push_bind(columns.target)
                    .push_bind(columns.iss.map(str::to_owned))
                    .push_bind(columns.subject.map(str::to_owned))
                    .push_bind(columns.cutoff)
                    .push_bind(entry.until);
            })
            .build()
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

impl super::backend::Backend for SqliteStore {
    type Db = Sqlite;
    const LOCK_USER: &'static str = "SELECT active FROM users WHERE id = $1";
    const GREATEST: &'static str = "MAX";
    const SHARES_LIMITS: bool = false;

    fn pool(&self) -> &sqlx::Pool<Sqlite> {
        &self.pool
    }

    fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    async fn begin_write(&self) -> Result<WriteTx<Sqlite>, sqlx::Error> {
        SqliteStore::begin_write(self).await
    }

    async fn append_in(
        tx: &mut WriteTx<Sqlite>,
        entries: &[RevocationEntry],
    ) -> Result<(), sqlx::Error> {
        SqliteStore::append_in(tx, entries).await
    }
}

/// Revocation rows ([`LOG_COLUMNS`]), decoded without sqlx's
/// per-value type check: the columns are fixed by our own query, and the
/// check was most of a large snapshot's cost (docs/BENCHMARKS.md). Each
/// value is still decoded (and refused) if it is not what we expect.
fn log_rows(rows: &[SqliteRow]) -> Result<Vec<LoggedRevocation>, StoreError> {
    rows.iter()
        .map(|row| {
            logged_row((
                row.try_get_unchecked(0)?,
                row.try_get_unchecked(1)?,
                row.try_get_unchecked(2)?,
                row.try_get_unchecked(3)?,
                row.try_get_unchecked(4)?,
                row.try_get_unchecked(5)?,
                row.try_get_unchecked(6)?,
            ))
        })
        .collect()
}

#[async_trait]
impl Store for SqliteStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    async fn append_revocations(&self, entries: &[RevocationEntry]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        Self::append_in(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revocations_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<LoggedRevocation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        log_rows(&rows)
    }

    async fn live_revocations(&self, now: i64, limit: u32) -> Result<SnapshotPage, StoreError> {
        // One read transaction: in WAL mode it sees a single snapshot.
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM revocations WHERE until >= ? ORDER BY seq LIMIT ?"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let head = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM revocations ORDER BY seq DESC LIMIT 1"
        ))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SnapshotPage {
            entries: log_rows(&rows)?,
            head: log_rows(&head)?.pop(),
        })
    }

    async fn head_seq(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM revocations")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn entry_at(&self, seq: i64) -> Result<Option<LoggedRevocation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LOG_COLUMNS} FROM revocations WHERE seq = ?"
        ))
        .bind(seq)
        .fetch_all(&self.pool)
        .await?;
        Ok(log_rows(&rows)?.pop())
    }

    async fn prune_revocations(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM revocations WHERE until < ? \
             AND seq < (SELECT MAX(seq) FROM revocations)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
