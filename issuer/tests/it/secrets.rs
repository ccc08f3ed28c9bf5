//! Secrets at rest: the SQLite files are private to their owner, and with
//! TOLLGATE_KEY_ENCRYPTION_KEY the signing-key seeds (and the refresh key)
//! are stored sealed; a wrong key is a clear startup error, never a new key.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use tollgate_issuer::keys::KeyRing;
use tollgate_issuer::seal::Sealer;
use tollgate_issuer::store::{PostgresStore, SqliteStore, Store};
use tollgate_issuer::{AppState, SystemClock};

use crate::support::*;

const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"; // 32 bytes, base64url
const OTHER_KEK: &str = "HxcWFRQTEhEQDw4NDAsKCQgHBgUEAwIBAB8eHRwbGhk";

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A new data directory is 0700 and the database files in it 0600, whatever the umask.
#[tokio::test]
async fn the_data_directory_and_database_files_are_private() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let store = SqliteStore::open_in(&dir, Sealer::none()).await.unwrap();
    store.append_revocations(&[sid(1)]).await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in ["issuer.db", "issuer.db-wal", "issuer.db-shm"] {
        let path = dir.join(name);
        assert!(path.exists(), "{name}");
        assert_eq!(mode(&path), 0o600, "{name}");
    }
}

/// An existing database readable by others is reported at start.
#[tokio::test]
async fn a_database_readable_by_others_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let store = SqliteStore::open_in(dir.path(), Sealer::none())
        .await
        .unwrap();
    drop(store);
    assert_eq!(
        tollgate_issuer::store::exposed_files(dir.path()),
        Vec::<String>::new()
    );
    std::fs::set_permissions(
        dir.path().join("issuer.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let warnings = tollgate_issuer::store::exposed_files(dir.path());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("issuer.db"), "{warnings:?}");
}

/// With a key-encryption key, the stored seed is not the plain seed; the
/// same key loads it again, and tokens keep verifying across the restart.
async fn seeds_are_sealed_and_a_wrong_key_refuses_to_start(
    open: impl AsyncFn(Sealer) -> Arc<dyn Store>,
    raw_secret: impl AsyncFn(&str) -> Vec<u8>,
) {
    let store = open(Sealer::from_base64(KEK).unwrap()).await;
    let state = AppState::new(store.clone(), Arc::new(SystemClock), test_settings())
        .await
        .unwrap();
    let kid = state.keys().ring.current_kid().to_owned();
    let raw = raw_secret(&kid).await;
    let plain = Sealer::from_base64(KEK)
        .unwrap()
        .open(&format!("signing_key:{kid}:EdDSA"), &raw)
        .unwrap();
    assert_eq!(plain.len(), 32);
    assert_ne!(raw, *plain, "the stored seed is sealed");
    assert!(
        !raw.windows(32).any(|w| w == plain.as_slice()),
        "the plain seed appears nowhere in the row"
    );
    drop(state);

    let again = open(Sealer::from_base64(KEK).unwrap()).await;
    let state = AppState::new(again, Arc::new(SystemClock), test_settings())
        .await
        .unwrap();
    assert_eq!(
        state.keys().ring.current_kid(),
        kid,
        "the same key, loaded again"
    );

    let wrong = open(Sealer::from_base64(OTHER_KEK).unwrap()).await;
    let policy = test_settings().key_policy();
    assert!(
        KeyRing::rotate(wrong.as_ref(), 1, &policy).await.is_err(),
        "keys rotate with the wrong key fails before writing"
    );
    let err = AppState::new(wrong.clone(), Arc::new(SystemClock), test_settings())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("TOLLGATE_KEY_ENCRYPTION_KEY"),
        "{err}"
    );
    let none = open(Sealer::none()).await;
    let err = AppState::new(none, Arc::new(SystemClock), test_settings())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("TOLLGATE_KEY_ENCRYPTION_KEY"),
        "{err}"
    );
    assert_eq!(
        wrong.signing_keys().await.map(|k| k.len()).unwrap_or(1),
        1,
        "no new key was made"
    );
}

#[tokio::test]
async fn sqlite_seeds_are_sealed_and_a_wrong_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let db = format!("sqlite:{}", path.join("issuer.db").display());
    seeds_are_sealed_and_a_wrong_key_refuses_to_start(
        async |sealer| {
            Arc::new(SqliteStore::open_in(&path, sealer).await.unwrap()) as Arc<dyn Store>
        },
        async |kid| stored_secret(&db, kid).await,
    )
    .await;
}

#[tokio::test]
async fn postgres_seeds_are_sealed_and_a_wrong_key_refuses_to_start() {
    let Some(server) = postgres_url() else { return };
    let url = fresh_postgres_database(&server).await;
    seeds_are_sealed_and_a_wrong_key_refuses_to_start(
        async |sealer| {
            Arc::new(PostgresStore::open_with(&url, sealer).await.unwrap()) as Arc<dyn Store>
        },
        async |kid| stored_secret(&url, kid).await,
    )
    .await;
}

/// The signing key `kid`'s secret as the database at `url` holds it (sealed
/// or not), read past the store.
async fn stored_secret(url: &str, kid: &str) -> Vec<u8> {
    const SQL: &str = "SELECT secret FROM signing_keys WHERE kid = $1";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query_scalar(SQL)
            .bind(kid)
            .fetch_one(&pool)
            .await
            .unwrap()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query_scalar(SQL)
            .bind(kid)
            .fetch_one(&pool)
            .await
            .unwrap()
    }
}

/// A key-encryption key that is not 32 bytes of base64 is refused.
#[test]
fn a_malformed_key_encryption_key_is_refused() {
    for bad in [
        "",
        "short",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8AAA",
        "!!!!",
    ] {
        assert!(Sealer::from_base64(bad).is_err(), "{bad}");
    }
}
