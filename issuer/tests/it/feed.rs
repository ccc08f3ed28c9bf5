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
/// A snapshot holds only unexpired entries; pruning removes only those past `until`.
async fn snapshots_leave_out_expired_entries_and_pruning_waits_for_until(store: Arc<dyn Store>) {
    store
        .append_revocations(&[jti(1, NOW - 1), jti(2, NOW), jti(3, NOW + 1)])
        .await
        .unwrap();
    let snap = page(store.as_ref(), None, 100, NOW).await.unwrap();
    assert_eq!(snap.revoked, vec![jti(2, NOW), jti(3, NOW + 1)]);
    assert_eq!(store.prune_revocations(NOW).await.unwrap(), 1);
    assert_eq!(store.prune_revocations(NOW).await.unwrap(), 0);
    let mut set = RevocationSet::new();
    follow(store.as_ref(), &mut set, 100).await;
    assert!(set.until(&Revoked::Jti(Uuid::from_u128(2))).is_some());

    // The newest entry expiring and being pruned must not make a valid cursor look foreign.
    store.append_revocations(&[jti(4, NOW - 5)]).await.unwrap();
    let before = page(store.as_ref(), set.cursor(), 100, NOW).await.unwrap();
    set.apply(&before);
    store.prune_revocations(NOW).await.unwrap();
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
