//! What the issuer keeps of upstream identity providers, on both databases
//! with the same SQL: each provider's JWKS as last fetched (a change moves
//! the key-set version, so every verifier refetches), and the ids of the
//! logout tokens and security events accepted (a second delivery is a
//! replay), each event's revocations appended in the same transaction.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};
use tollgate_verifier::{RevocationEntry, Uuid};

use super::backend::{Backend, Sql};
use super::{StoreError, UpstreamStore};

#[async_trait]
impl<B: Backend> UpstreamStore for B
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'c> &'c Pool<B::Db>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> Uuid: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q [u8]: Encode<'q, B::Db> + Type<B::Db>,
    for<'r> Uuid: Decode<'r, B::Db>,
    for<'r> i64: Decode<'r, B::Db>,
    for<'r> bool: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> Vec<u8>: Decode<'r, B::Db> + Type<B::Db>,
    usize: ColumnIndex<<B::Db as Database>::Row>,
{
    async fn upstream_keys(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT name, jwks FROM upstream_keys ORDER BY name")
                .fetch_all(self.pool())
                .await?,
        )
    }

    async fn put_upstream_keys(
        &self,
        name: &str,
        jwks: &str,
        digest: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let held: Option<String> =
            sqlx::query_scalar("SELECT digest FROM upstream_keys WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut **tx)
                .await?;
        let changed = held.as_deref() != Some(digest);
        sqlx::query(
            "INSERT INTO upstream_keys (name, jwks, digest, fetched_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET jwks = $2, digest = $3, fetched_at = $4",
        )
        .bind(name)
        .bind(jwks)
        .bind(digest)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if changed {
            Sql::<B>::bump_keys_version(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn accept_event(
        &self,
        upstream: &str,
        jti: &str,
        keep_until: i64,
        entries: &[RevocationEntry],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let fresh: Option<String> = sqlx::query_scalar(
            "INSERT INTO upstream_events (upstream, jti, keep_until) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING RETURNING jti",
        )
        .bind(upstream)
        .bind(jti)
        .bind(keep_until)
        .fetch_optional(&mut **tx)
        .await?;
        if fresh.is_none() {
            return Ok(false);
        }
        B::append_in(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn prune_events(&self, before: i64) -> Result<u64, StoreError> {
        let gone: Vec<String> =
            sqlx::query_scalar("DELETE FROM upstream_events WHERE keep_until < $1 RETURNING jti")
                .bind(before)
                .fetch_all(self.pool())
                .await?;
        Ok(u64::try_from(gone.len()).unwrap_or(u64::MAX))
    }
}
