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

use super::{
    LoggedRevocation, SnapshotPage, Store, StoreError, WriteTx, join_target, new_epoch,
    split_target,
};

/// Rows per INSERT statement, well under SQLite's bound-parameter limit.
const INSERT_CHUNK: usize = 1000;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    epoch: String,
    /// This process's turn to write.
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)")
            .bind(new_epoch())
            .execute(&pool)
            .await?;
        let epoch = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'epoch'")
            .fetch_one(&pool)
            .await?;
        Ok(SqliteStore {
            pool,
            epoch,
            writer: Arc::default(),
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
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx::new(tx, Some(turn)))
    }

    /// Appends to the revocation log inside `tx`. One writer at a time means
    /// `seq` order is commit order.
    async fn append_in(
        tx: &mut Transaction<'static, Sqlite>,
        entries: &[RevocationEntry],
    ) -> Result<(), sqlx::Error> {
        for chunk in entries.chunks(INSERT_CHUNK) {
            QueryBuilder::<Sqlite>::new("INSERT INTO revocations (kind, target, until) ")
                .push_values(chunk, |mut row, entry| {
                    let (kind, id) = split_target(entry.target);
                    row.push_bind(kind).push_bind(id).push_bind(entry.until);
                })
                .build()
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

super::accounts::shared_store!(SqliteStore, Sqlite, lock_user: "SELECT 1 FROM users WHERE id = $1");

/// Revocation rows of `(seq, kind, target, until)`, decoded without sqlx's
/// per-value type check: the columns are fixed by our own query, and the
/// check was most of a large snapshot's cost (docs/BENCHMARKS.md). Each
/// value is still decoded (and refused) if it is not what we expect.
fn log_rows(rows: &[SqliteRow]) -> Result<Vec<LoggedRevocation>, StoreError> {
    rows.iter()
        .map(|row| {
            let kind: &str = row.try_get_unchecked(1)?;
            Ok(LoggedRevocation {
                seq: row.try_get_unchecked(0)?,
                entry: RevocationEntry {
                    target: join_target(kind, row.try_get_unchecked(2)?)?,
                    until: row.try_get_unchecked(3)?,
                },
            })
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
        let rows = sqlx::query(
            "SELECT seq, kind, target, until FROM revocations WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        log_rows(&rows)
    }

    async fn live_revocations(&self, now: i64, limit: u32) -> Result<SnapshotPage, StoreError> {
        // One read transaction: in WAL mode it sees a single snapshot.
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT seq, kind, target, until FROM revocations WHERE until >= ? ORDER BY seq LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let head = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM revocations")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(SnapshotPage {
            entries: log_rows(&rows)?,
            head,
        })
    }

    async fn high_water(&self) -> Result<i64, StoreError> {
        // AUTOINCREMENT keeps the highest seq ever used here, pruned or not.
        Ok(sqlx::query_scalar(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0)",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn prune_revocations(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM revocations WHERE until < ?")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
