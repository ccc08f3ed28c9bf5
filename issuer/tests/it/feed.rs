//! Feed semantics, the same on SQLite and Postgres.

use std::sync::Arc;

use tollgate_issuer::feed::page;
use tollgate_issuer::store::{SqliteStore, Store};
use tollgate_verifier::{RevocationFeed, RevocationSet, Revoked, Uuid};

use crate::support::*;

/// Follows the feed from `since` until caught up, applying every page.
pub async fn follow(store: &dyn Store, set: &mut RevocationSet, limit: u32) -> Vec<RevocationFeed> {
    let mut pages = Vec::new();
    loop {
        let feed = page(store, set.cursor(), limit, NOW).await.unwrap();
        set.apply(&feed);
        let more = feed.more;
        pages.push(feed);
        if !more {
            return pages;
        }
    }
}

on_both!(snapshot_then_deltas);
/// No cursor gives a snapshot; then only what was added since, in commit order.
async fn snapshot_then_deltas(store: Arc<dyn Store>) {
    let empty = page(store.as_ref(), None, 100, NOW).await.unwrap();
    assert!(empty.reset && empty.revoked.is_empty() && !empty.more);

    store
        .append_revocations(&[sid(1), jti(2, NOW + 300)])
        .await
        .unwrap();
    let mut set = RevocationSet::new();
    let first = page(store.as_ref(), None, 100, NOW).await.unwrap();
    assert!(first.reset);
    assert_eq!(first.revoked, vec![sid(1), jti(2, NOW + 300)]);
    set.apply(&first);

    let none = page(store.as_ref(), set.cursor(), 100, NOW).await.unwrap();
    assert!(!none.reset && none.revoked.is_empty());
    assert_eq!(none.cursor, first.cursor, "an empty delta keeps the cursor");

    store.append_revocations(&[sid(3)]).await.unwrap();
    store.append_revocations(&[sid(4), sid(5)]).await.unwrap();
    let delta = page(store.as_ref(), set.cursor(), 100, NOW).await.unwrap();
    assert!(!delta.reset);
    assert_eq!(delta.revoked, vec![sid(3), sid(4), sid(5)]);
    set.apply(&delta);
    assert_eq!(set.len(), 5);
}

on_both!(paging_covers_everything_once);
/// Small pages say `more` until caught up and deliver every entry once, snapshot included.
async fn paging_covers_everything_once(store: Arc<dyn Store>) {
    let entries: Vec<_> = (0..25).map(sid).collect();
    store.append_revocations(&entries).await.unwrap();
    let mut set = RevocationSet::new();
    let pages = follow(store.as_ref(), &mut set, 10).await;
    assert_eq!(
        pages.iter().map(|p| p.revoked.len()).collect::<Vec<_>>(),
        [10, 10, 5]
    );
    assert!(pages[0].reset && !pages[1].reset && !pages[2].reset);
    assert_eq!(
        pages.iter().map(|p| p.more).collect::<Vec<_>>(),
        [true, true, false]
    );
    let delivered: Vec<_> = pages.iter().flat_map(|p| p.revoked.clone()).collect();
    assert_eq!(delivered, entries);

    store
        .append_revocations(&(25..37).map(sid).collect::<Vec<_>>())
        .await
        .unwrap();
    let pages = follow(store.as_ref(), &mut set, 10).await;
    assert_eq!(
        pages.iter().map(|p| p.revoked.len()).collect::<Vec<_>>(),
        [10, 2]
    );
    assert_eq!(set.len(), 37);
}

on_both!(foreign_and_garbage_cursors_get_a_snapshot);
/// A cursor of another database, a garbage one, or one ahead of the log gets `reset`.
async fn foreign_and_garbage_cursors_get_a_snapshot(store: Arc<dyn Store>) {
    store.append_revocations(&[sid(1)]).await.unwrap();
    let epoch = store.epoch().to_owned();
    for cursor in [
        "otherdb:1".to_owned(),
        "garbage".into(),
        format!("{epoch}:x"),
        format!("{epoch}:999"),
    ] {
        let feed = page(store.as_ref(), Some(&cursor), 100, NOW).await.unwrap();
        assert!(feed.reset, "{cursor}");
        assert_eq!(feed.revoked, vec![sid(1)], "{cursor}");
        assert!(feed.cursor.starts_with(&epoch));
    }
}

on_both!(snapshots_leave_out_expired_entries_and_pruning_waits_for_until);
/// A snapshot holds entries until the largest verifier leeway (600 s) after their `until` (a verifier allowing that much leeway still needs them); pruning removes only those past `until`.
async fn snapshots_leave_out_expired_entries_and_pruning_waits_for_until(store: Arc<dyn Store>) {
    let max = i64::from(tollgate_verifier::MAX_LEEWAY_SECS);
    store
        .append_revocations(&[jti(1, NOW - max - 1), jti(2, NOW - max), jti(3, NOW + 1)])
        .await
        .unwrap();
    let snap = page(store.as_ref(), None, 100, NOW).await.unwrap();
    assert_eq!(snap.revoked, vec![jti(2, NOW - max), jti(3, NOW + 1)]);
    assert_eq!(store.prune_revocations(NOW - max).await.unwrap(), 1);
    assert_eq!(store.prune_revocations(NOW - max).await.unwrap(), 0);
    let mut set = RevocationSet::new();
    follow(store.as_ref(), &mut set, 100).await;
    assert!(set.until(&Revoked::Jti(Uuid::from_u128(2))).is_some());

    // The newest entry expiring and being pruned must not make a valid cursor look foreign.
    store
        .append_revocations(&[jti(4, NOW - max - 5)])
        .await
        .unwrap();
    let before = page(store.as_ref(), set.cursor(), 100, NOW).await.unwrap();
    set.apply(&before);
    store.prune_revocations(NOW - max).await.unwrap();
    let after = page(store.as_ref(), set.cursor(), 100, NOW).await.unwrap();
    assert!(!after.reset, "a pruned tail is not a restored database");
}

/// Revocations and the epoch survive a restart, so cursors stay valid.
#[tokio::test]
async fn sqlite_keeps_revocations_and_epoch_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuer.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.append_revocations(&[sid(1), sid(2)]).await.unwrap();
    let first = page(&store, None, 100, NOW).await.unwrap();
    drop(store);

    let store = SqliteStore::open(&path).await.unwrap();
    let again = page(&store, Some(&first.cursor), 100, NOW).await.unwrap();
    assert!(!again.reset, "the cursor is still ours after a restart");
    let snap = page(&store, None, 100, NOW).await.unwrap();
    assert_eq!(snap.revoked, vec![sid(1), sid(2)]);
}

/// Two databases have different epochs, so their cursors are told apart.
#[tokio::test]
async fn every_database_has_its_own_epoch() {
    let (a, _da) = sqlite().await;
    let (b, _db) = sqlite().await;
    assert_ne!(a.epoch(), b.epoch());
}

/// What a follower holds after following the feed: the set of revoked ids.
fn held(set: &RevocationSet, entries: &[tollgate_verifier::RevocationEntry]) -> Vec<bool> {
    entries
        .iter()
        .map(|e| set.until(&e.target).is_some())
        .collect()
}

/// A SQLite database restored from a backup, whose log then grows past a
/// follower's old cursor with different entries: the follower still
/// receives every new entry (by a snapshot, since its cursor names an
/// entry this timeline does not have).
#[tokio::test]
async fn a_restored_sqlite_database_never_lets_a_follower_skip_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issuer.db");
    let backup = dir.path().join("backup.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .append_revocations(&(1..=5).map(sid).collect::<Vec<_>>())
        .await
        .unwrap();
    let mut raw = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    sqlx::query(&format!("VACUUM INTO '{}'", backup.display()))
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    store
        .append_revocations(&(6..=10).map(sid).collect::<Vec<_>>())
        .await
        .unwrap();
    let mut set = RevocationSet::new();
    follow(&store, &mut set, 100).await;
    assert_eq!(set.len(), 10);

    // Restore: the backup replaces the database; then new logouts happen.
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::copy(&backup, &path).unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    let new: Vec<_> = (100..107).map(sid).collect();
    store.append_revocations(&new).await.unwrap();
    raw = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    let head: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM revocations")
        .fetch_one(&raw)
        .await
        .unwrap();
    raw.close().await;
    assert_eq!(
        head, 12,
        "the new entries reuse seq 6 to 12, past the follower's cursor at 10"
    );

    follow(&store, &mut set, 100).await;
    assert_eq!(
        held(&set, &new),
        vec![true; 7],
        "every entry of the new timeline arrived"
    );
}

/// The same on Postgres: the log rolled back to seq 5 and its sequence
/// reset, as a point-in-time restore leaves them; then new entries.
#[tokio::test]
async fn a_restored_postgres_log_never_lets_a_follower_skip_entries() {
    let Some(server) = postgres_url() else { return };
    let url = fresh_postgres_database(&server).await;
    let store = tollgate_issuer::store::PostgresStore::open(&url)
        .await
        .unwrap();
    store
        .append_revocations(&(1..=10).map(sid).collect::<Vec<_>>())
        .await
        .unwrap();
    let mut set = RevocationSet::new();
    follow(&store, &mut set, 100).await;

    let raw = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM revocations WHERE seq > 5")
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query("SELECT setval('revocations_seq_seq', 5)")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    let new: Vec<_> = (100..107).map(sid).collect();
    store.append_revocations(&new).await.unwrap();

    follow(&store, &mut set, 100).await;
    assert_eq!(
        held(&set, &new),
        vec![true; 7],
        "every entry of the new timeline arrived"
    );
}

on_both!(a_quiet_log_keeps_cheap_deltas_after_its_entries_expire);
/// A follower whose cursor points at the newest entry keeps getting deltas (not snapshots) after that entry expires and pruning runs: the newest entry is never pruned.
async fn a_quiet_log_keeps_cheap_deltas_after_its_entries_expire(store: Arc<dyn Store>) {
    store
        .append_revocations(&[jti(1, NOW - 10), jti(2, NOW - 5)])
        .await
        .unwrap();
    let mut set = RevocationSet::new();
    follow(store.as_ref(), &mut set, 100).await;
    assert_eq!(
        store.prune_revocations(NOW).await.unwrap(),
        1,
        "all but the newest"
    );
    let next = page(store.as_ref(), set.cursor(), 100, NOW).await.unwrap();
    assert!(!next.reset, "still a delta");
}
