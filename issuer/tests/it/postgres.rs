//! Several issuer processes on one Postgres behave as one issuer: a reader
//! following cursors never skips a revocation that commits late.

use std::sync::Arc;
use std::time::Duration;

use tollgate_issuer::feed::page;
use tollgate_issuer::store::{PostgresStore, Store};
use tollgate_verifier::{RevocationSet, Revoked, Uuid};

use crate::support::*;

/// Polls the feed until `set` holds `expected` entries or `deadline` passes.
async fn follow_until(
    store: &dyn Store,
    set: &mut RevocationSet,
    expected: usize,
    deadline: Duration,
) {
    let end = tokio::time::Instant::now() + deadline;
    while set.len() < expected && tokio::time::Instant::now() < end {
        let feed = page(store, set.cursor(), 1000, NOW).await.unwrap();
        set.apply(&feed);
        if !feed.more {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A transaction that draws its `seq` first but commits last is still delivered.
#[tokio::test]
async fn a_late_commit_is_never_skipped() {
    let Some(server) = postgres_url() else { return };
    let url = fresh_postgres_database(&server).await;
    let slow = PostgresStore::open(&url).await.unwrap();
    let fast = PostgresStore::open(&url).await.unwrap();
    let mut set = RevocationSet::new();
    set.apply(&page(&fast, None, 1000, NOW).await.unwrap());

    let held = tokio::spawn(async move {
        slow.append_revocations_holding(&[sid(1)], Duration::from_millis(400))
            .await
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let quick = {
        let fast = fast.clone();
        tokio::spawn(async move { fast.append_revocations(&[sid(2)]).await.unwrap() })
    };
    // Read while the slow transaction is open: a cursor must not move past its seq.
    for _ in 0..20 {
        set.apply(&page(&fast, set.cursor(), 1000, NOW).await.unwrap());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    held.await.unwrap();
    quick.await.unwrap();
    follow_until(&fast, &mut set, 2, Duration::from_secs(5)).await;
    assert!(
        set.until(&Revoked::Sid(Uuid::from_u128(1))).is_some(),
        "the late commit was skipped"
    );
    assert!(set.until(&Revoked::Sid(Uuid::from_u128(2))).is_some());
}

/// Two stores on one database, many concurrent appends on both, one reader
/// following cursors the whole time: it ends with every revocation.
#[tokio::test]
async fn concurrent_appends_on_two_instances_all_reach_a_reader() {
    let Some(server) = postgres_url() else { return };
    let url = fresh_postgres_database(&server).await;
    let instances: Vec<Arc<PostgresStore>> = vec![
        Arc::new(PostgresStore::open(&url).await.unwrap()),
        Arc::new(PostgresStore::open(&url).await.unwrap()),
    ];
    assert_eq!(
        instances[0].epoch(),
        instances[1].epoch(),
        "one database, one epoch"
    );
    const WRITERS: u128 = 8;
    const EACH: u128 = 40;

    let reader = {
        let store = Arc::clone(&instances[1]);
        tokio::spawn(async move {
            let mut set = RevocationSet::new();
            follow_until(
                store.as_ref(),
                &mut set,
                (WRITERS * EACH) as usize,
                Duration::from_secs(60),
            )
            .await;
            set
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&instances[(w % 2) as usize]);
            tokio::spawn(async move {
                for i in 0..EACH {
                    let hold = Duration::from_millis(((w * 7 + i) % 4) as u64);
                    store
                        .append_revocations_holding(&[sid(w * 1000 + i)], hold)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let set = reader.await.unwrap();
    assert_eq!(set.len(), (WRITERS * EACH) as usize);
    for w in 0..WRITERS {
        for i in 0..EACH {
            assert!(
                set.is_revoked(&Uuid::from_u128(w * 1000 + i), &Uuid::nil()),
                "writer {w} entry {i} lost"
            );
        }
    }
}
