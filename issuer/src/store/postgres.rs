//! Postgres: for several issuer processes behind a load balancer.
//!
//! The feed's cursor is `seq`, and a reader that has seen `seq = n` must
//! already be able to see every `seq < n` that will ever commit. A sequence
//! alone does not give that: transaction B can draw 11 and commit while A,
//! holding 10, is still open; a reader then moves its cursor past 10 and
//! never sees it. So every append first takes one transaction-scoped
//! advisory lock and only then draws its `seq`. The lock is released after
//! the commit is visible, so appends draw and commit in the same order.
//! Appends are serialised, which costs little: a revocation is a logout.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use tollgate_verifier::{RevocationEntry, Uuid};

use crate::seal::Sealer;

use super::{
    LOG_COLUMNS, LoggedRevocation, SnapshotPage, Store, StoreError, WriteTx, columns_of, logged,
    new_epoch,
};

/// The advisory lock that orders appends to the revocation log ("tollgate").
const REVOCATION_LOG_LOCK: i64 = 0x746f_6c6c_6761_7465;

/// The Postgres store.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    epoch: String,
    sealer: Arc<Sealer>,
}

impl std::fmt::Debug for PostgresStore {
    // The pool's options hold the connection string, password included.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url`, storing secrets as they are.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, Sealer::none()).await
    }

    /// Connects to `url`, migrates (sqlx serialises concurrent migrators) and
    /// reads or sets the epoch; secrets are sealed with `sealer`.
    pub async fn open_with(url: &str, sealer: Sealer) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        super::migrations::migrator(super::migrations::POSTGRES)
            .await?
            .run(&pool)
            .await?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING",
        )
        .bind(new_epoch())
        .execute(&pool)
        .await?;
        let epoch = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'epoch'")
            .fetch_one(&pool)
            .await?;
        Ok(PostgresStore {
            pool,
            epoch,
            sealer: Arc::new(sealer),
        })
    }

    /// [`Store::append_revocations`], holding the transaction open for `hold`
    /// after its `seq` values are drawn. Only for tests that prove a late
    /// commit is never skipped.
    #[doc(hidden)]
    pub async fn append_revocations_holding(
        &self,
        entries: &[RevocationEntry],
        hold: Duration,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        Self::append_in(&mut tx, entries).await?;
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn begin_write(&self) -> Result<WriteTx<Postgres>, sqlx::Error> {
        Ok(WriteTx::new(self.pool.begin().await?, None))
    }

    /// Appends to the revocation log inside `tx`: takes the log's advisory
    /// lock first, so `seq` values are drawn in the order they commit.
    async fn append_in(
        tx: &mut Transaction<'static, Postgres>,
        entries: &[RevocationEntry],
    ) -> Result<(), sqlx::Error> {
        if entries.is_empty() {
            return Ok(());
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(REVOCATION_LOG_LOCK)
            .execute(&mut **tx)
            .await?;
        let columns = Unnest::of(entries);
        sqlx::query(
            "INSERT INTO revocations (kind, target, iss, subject, cutoff, until) \
             SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])",
        )
        .bind(columns.kinds)
        .bind(columns.targets)
        .bind(columns.issuers)
        .bind(columns.subjects)
        .bind(columns.cutoffs)
        .bind(columns.untils)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

impl super::backend::Backend for PostgresStore {
    type Db = Postgres;
    const LOCK_USER: &'static str = "SELECT active FROM users WHERE id = $1 FOR UPDATE";
    const GREATEST: &'static str = "GREATEST";
    const SHARES_LIMITS: bool = true;

    fn pool(&self) -> &sqlx::Pool<Postgres> {
        &self.pool
    }

    fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    async fn begin_write(&self) -> Result<WriteTx<Postgres>, sqlx::Error> {
        PostgresStore::begin_write(self).await
    }

    async fn append_in(
        tx: &mut WriteTx<Postgres>,
        entries: &[RevocationEntry],
    ) -> Result<(), sqlx::Error> {
        PostgresStore::append_in(tx, entries).await
    }
}

/// Entries as parallel arrays, for one `UNNEST` insert.
struct Unnest<'a> {
    kinds: Vec<&'static str>,
    targets: Vec<Option<Uuid>>,
    issuers: Vec<Option<&'a str>>,
    subjects: Vec<Option<&'a str>>,
    cutoffs: Vec<Option<i64>>,
    untils: Vec<i64>,
}

impl<'a> Unnest<'a> {
    fn of(entries: &'a [RevocationEntry]) -> Self {
        let mut columns = Unnest {
            kinds: Vec::with_capacity(entries.len()),
            targets: Vec::with_capacity(entries.len()),
            issuers: Vec::with_capacity(entries.len()),
            subjects: Vec::with_capacity(entries.len()),
            cutoffs: Vec::with_capacity(entries.len()),
            untils: Vec::with_capacity(entries.len()),
        };
        for entry in entries {
            let stored = columns_of(&entry.target);
            columns.kinds.push(stored.kind);
            columns.targets.push(stored.target);
            columns.issuers.push(stored.iss);
            columns.subjects.push(stored.subject);
            columns.cutoffs.push(stored.cutoff);
            columns.untils.push(entry.until);
        }
        columns
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    async fn append_revocations(&self, entries: &[RevocationEntry]) -> Result<(), StoreError> {
        self.append_revocations_holding(entries, Duration::ZERO)
            .await
    }

    async fn revocations_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<LoggedRevocation>, StoreError> {
        let rows = sqlx::query_as(&format!(
            "SELECT {LOG_COLUMNS} FROM revocations WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        logged(rows)
    }

    async fn live_revocations(&self, now: i64, limit: u32) -> Result<SnapshotPage, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query_as(&format!(
            "SELECT {LOG_COLUMNS} FROM revocations WHERE until >= $1 ORDER BY seq LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let head = sqlx::query_as(&format!(
            "SELECT {LOG_COLUMNS} FROM revocations ORDER BY seq DESC LIMIT 1"
        ))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SnapshotPage {
            entries: logged(rows)?,
            head: logged(head)?.pop(),
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
        let rows = sqlx::query_as(&format!(
            "SELECT {LOG_COLUMNS} FROM revocations WHERE seq = $1"
        ))
        .bind(seq)
        .fetch_all(&self.pool)
        .await?;
        Ok(logged(rows)?.pop())
    }

    async fn prune_revocations(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM revocations WHERE until < $1 \
             AND seq < (SELECT MAX(seq) FROM revocations)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
