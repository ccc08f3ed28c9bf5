//! Memory held by a `RevocationSet` of a million entries, measured by a
//! counting allocator. Its own test binary, so no other test allocates meanwhile.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use tollgate_verifier::{RevocationSet, Revoked};

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;
use support::{snapshot_page, spread_id as id};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: u128 = 1_000_000;
const LIMIT: f64 = 40.0;

/// Bytes per entry held by `build()`'s set once everything else it allocated is gone.
fn bytes_per_entry(build: impl FnOnce() -> RevocationSet) -> f64 {
    let before = LIVE.load(Ordering::SeqCst);
    let set = build();
    let held = LIVE.load(Ordering::SeqCst) - before;
    assert_eq!(set.len(), N as usize);
    assert!((0..N).step_by(997).all(|n| set.is_revoked(&id(n), &id(n))));
    held as f64 / N as f64
}

/// A million revocations, as a snapshot or as deltas, take at most 40 bytes each.
#[test]
fn a_million_entries_fit_in_40_bytes_each() {
    let snapshot = bytes_per_entry(|| {
        let page = snapshot_page(N);
        let mut set = RevocationSet::new();
        set.apply(&page);
        set
    });
    let deltas = bytes_per_entry(|| {
        let mut set = RevocationSet::new();
        for n in 0..N {
            set.insert(Revoked::Sid(id(n)), support::NOW + 330);
        }
        set
    });
    eprintln!("bytes per entry at 1,000,000: snapshot {snapshot:.1}, deltas {deltas:.1}");
    assert!(snapshot <= LIMIT, "snapshot: {snapshot:.1} bytes per entry");
    assert!(deltas <= LIMIT, "deltas: {deltas:.1} bytes per entry");
}
