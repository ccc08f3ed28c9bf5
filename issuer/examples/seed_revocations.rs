//! Seeds the configured database with `SEED_COUNT` (default 100,000) live
//! session revocations, for the snapshot benchmark in scripts/bench-issuer.sh.
//! Takes the issuer's own flags and environment (DATABASE_URL, --data-dir).
#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark helper.

use clap::Parser;
use tollgate_issuer::config::Config;
use tollgate_issuer::{Clock, SystemClock};
use tollgate_verifier::{RevocationEntry, Revoked, Uuid};

#[tokio::main]
async fn main() {
    let config = Config::parse();
    let count: usize = std::env::var("SEED_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let store = config.open_store().await.unwrap();
    let until = SystemClock.now() + 3600;
    let entries: Vec<_> = (0..count)
        .map(|_| RevocationEntry {
            target: Revoked::Sid(Uuid::new_v4()),
            until,
        })
        .collect();
    for chunk in entries.chunks(10_000) {
        store.append_revocations(chunk).await.unwrap();
    }
    println!("seeded {count} revocations");
}
