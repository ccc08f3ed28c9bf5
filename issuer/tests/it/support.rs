//! Stores on real databases, and a fixed clock.

use std::sync::Arc;

use tempfile::TempDir;
use tollgate_issuer::Clock;
use tollgate_issuer::store::{PostgresStore, SqliteStore, Store};
use tollgate_verifier::{RevocationEntry, Revoked, Uuid};

pub const NOW: i64 = 1_763_820_000;

pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0
    }
}

/// A SQLite store in a fresh directory (kept alive by the returned guard).
pub async fn sqlite() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("issuer.db"))
        .await
        .unwrap();
    (Arc::new(store), dir)
}

/// The Postgres server tests may use, if `make test` found one.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("TOLLGATE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!(
            "TOLLGATE_TEST_POSTGRES_URL is not set: Postgres tests skipped (make test sets it)"
        );
    }
    url
}

/// A fresh, empty database on that server; returns its URL.
pub async fn fresh_postgres_database(server: &str) -> String {
    let name = format!("tollgate_test_{}", Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(server).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = server.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

pub async fn postgres(server: &str) -> Arc<dyn Store> {
    Arc::new(
        PostgresStore::open(&fresh_postgres_database(server).await)
            .await
            .unwrap(),
    )
}

pub fn sid(n: u128) -> RevocationEntry {
    RevocationEntry {
        target: Revoked::Sid(Uuid::from_u128(n)),
        until: NOW + 330,
    }
}

pub fn jti(n: u128, until: i64) -> RevocationEntry {
    RevocationEntry {
        target: Revoked::Jti(Uuid::from_u128(n)),
        until,
    }
}
