//! Verification cost against its peer: the bare ed25519-dalek signature check
//! on the same bytes. Results and the machine go into docs/BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ed25519_dalek::Verifier as _;
use tollgate_verifier::{RevocationFeed, RevocationSet, Uuid};

#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;
use support::*;

const MILLION: u128 = 1_000_000;

/// The full verify path (cache off) beside the bare signature check, with a
/// million revocations held, so parsing, claims and revocation are all paid.
fn verify(c: &mut Criterion) {
    let keys = Keys::new();
    let uncached = keys.verifier_with(|o| o.cache_capacity = 0);
    let cached = keys.verifier();
    let mut revoked = RevocationSet::new();
    revoked.apply(&snapshot_page(MILLION));

    let eddsa = ed_token(&keys, &claims());
    let es256 = forge(&header("ES256", "es"), &claims(), Sign::Es(&keys.es));
    let hs256 = forge(&header("HS256", "hs"), &claims(), Sign::Hs(&HS_SECRET));

    let (input, sig) = eddsa.rsplit_once('.').unwrap();
    let sig_bytes = <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(sig).unwrap();
    let signature = ed25519_dalek::Signature::from_slice(&sig_bytes).unwrap();
    let public = keys.ed.verifying_key();

    let mut group = c.benchmark_group("verify");
    group.bench_function("ed25519_dalek_bare_signature", |b| {
        b.iter(|| {
            public
                .verify(black_box(input.as_bytes()), black_box(&signature))
                .unwrap()
        })
    });
    group.bench_function("eddsa", |b| {
        b.iter(|| uncached.verify(black_box(&eddsa), NOW, &revoked).unwrap())
    });
    group.bench_function("es256", |b| {
        b.iter(|| uncached.verify(black_box(&es256), NOW, &revoked).unwrap())
    });
    group.bench_function("hs256", |b| {
        b.iter(|| uncached.verify(black_box(&hs256), NOW, &revoked).unwrap())
    });
    cached.verify(&eddsa, NOW, &revoked).unwrap();
    group.bench_function("eddsa_cache_hit", |b| {
        b.iter(|| cached.verify(black_box(&eddsa), NOW, &revoked).unwrap())
    });
    group.finish();
}

/// Lookups in a set of a million, and loading a 100,000-entry snapshot.
fn revocations(c: &mut Criterion) {
    let mut set = RevocationSet::new();
    set.apply(&snapshot_page(MILLION));
    let mut group = c.benchmark_group("revocation");
    let mut n = 0u128;
    group.bench_function("lookup_hit_in_1m", |b| {
        b.iter(|| {
            n = (n + 2) % MILLION;
            assert!(set.is_revoked(black_box(&spread_id(n)), &Uuid::nil()));
        })
    });
    group.bench_function("lookup_miss_in_1m", |b| {
        b.iter(|| {
            n += 1;
            assert!(!set.is_revoked(black_box(&spread_id(MILLION + n)), &spread_id(MILLION + n)));
        })
    });
    let page = snapshot_page(100_000);
    group.bench_function("apply_100k_snapshot", |b| {
        b.iter_batched(
            RevocationSet::new,
            |mut set| set.apply(black_box(&page)),
            BatchSize::LargeInput,
        )
    });
    let json = serde_json::to_string(&page).unwrap();
    group.bench_function("parse_and_apply_100k_snapshot_json", |b| {
        b.iter_batched(
            RevocationSet::new,
            |mut set| set.apply(&RevocationFeed::from_json(black_box(&json)).unwrap()),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, verify, revocations);
criterion_main!(benches);
