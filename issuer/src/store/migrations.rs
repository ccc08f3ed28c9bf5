//! The schema migrations, embedded in the binary. What `sqlx::migrate!`
//! would do, without sqlx's macro crate: that crate compiles every database
//! driver a second time, for the build host, and doubled the issuer's build.
//! The checksums are the same (SHA-384 of the file), so databases migrated
//! by either agree. A test checks that every file in `migrations/` is listed.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// One migration: version, description, SQL.
type Embedded = (i64, &'static str, &'static str);

macro_rules! embed {
    ($dir:literal: $($version:literal $description:literal $file:literal),* $(,)?) => {
        &[$(($version, $description, include_str!(concat!("../../migrations/", $dir, "/", $file)))),*]
    };
}

/// The SQLite migrations, in order.
pub(super) const SQLITE: &[Embedded] = embed!("sqlite":
    1 "revocations" "0001_revocations.sql",
    2 "signing keys" "0002_signing_keys.sql",
    3 "accounts" "0003_accounts.sql",
    4 "revocation holes" "0004_revocation_holes.sql",
    5 "rate limits" "0005_rate_limits.sql",
    6 "dpop" "0006_dpop.sql",
    7 "upstreams" "0007_upstreams.sql",
);

/// The Postgres migrations, in order.
pub(super) const POSTGRES: &[Embedded] = embed!("postgres":
    1 "revocations" "0001_revocations.sql",
    2 "signing keys" "0002_signing_keys.sql",
    3 "accounts" "0003_accounts.sql",
    4 "revocation holes" "0004_revocation_holes.sql",
    5 "rate limits" "0005_rate_limits.sql",
    6 "dpop" "0006_dpop.sql",
    7 "upstreams" "0007_upstreams.sql",
);

#[derive(Debug)]
struct Source(&'static [Embedded]);

impl MigrationSource<'static> for Source {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        let migrations = self
            .0
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

/// The migrator for `migrations`.
pub(super) async fn migrator(migrations: &'static [Embedded]) -> Result<Migrator, sqlx::Error> {
    Migrator::new(Source(migrations))
        .await
        .map_err(|err| sqlx::Error::Migrate(Box::new(err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in `migrations/<db>/` is embedded, in order, by its version.
    #[test]
    fn every_migration_file_is_embedded() {
        for (dir, embedded) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut files: Vec<String> = std::fs::read_dir(path)
                .unwrap_or_else(|err| panic!("reading migrations/{dir}: {err}"))
                .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()
                .unwrap_or_default();
            files.sort();
            assert_eq!(files.len(), embedded.len(), "{dir}: {files:?}");
            for (file, (version, _, _)) in files.iter().zip(embedded.iter()) {
                let number: i64 = file[..4].parse().unwrap_or(-1);
                assert_eq!(number, *version, "{dir}/{file}");
            }
        }
    }
}
