//! Instruction-count companion to the criterion bench: runs one workload in
//! a function callgrind can isolate, so `scripts/overhead.sh` can compare the
//! full EdDSA verification with the bare ed25519-dalek check exactly, however
//! busy the machine is. Usage: `overhead <bare|verify|cache-hit> [iterations]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use ed25519_dalek::Verifier as _;
use tollgate_verifier::{RevocationSet, Verifier};

#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;
use support::*;

#[inline(never)]
fn run_bare(
    public: &ed25519_dalek::VerifyingKey,
    input: &[u8],
    signature: &ed25519_dalek::Signature,
    n: u32,
) {
    for _ in 0..n {
        public
            .verify(black_box(input), black_box(signature))
            .unwrap();
    }
}

#[inline(never)]
fn run_verify(verifier: &Verifier, token: &str, revoked: &RevocationSet, n: u32) {
    for _ in 0..n {
        verifier.verify(black_box(token), NOW, revoked).unwrap();
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let n: u32 = args.next().map_or(200, |n| n.parse().unwrap());

    let keys = Keys::new();
    let token = ed_token(&keys, &claims());
    let mut revoked = RevocationSet::new();
    revoked.apply(&snapshot_page(1_000_000));

    match mode.as_str() {
        "bare" => {
            let (input, sig) = token.rsplit_once('.').unwrap();
            let sig = <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(sig).unwrap();
            let signature = ed25519_dalek::Signature::from_slice(&sig).unwrap();
            run_bare(&keys.ed.verifying_key(), input.as_bytes(), &signature, n);
        }
        "verify" => run_verify(
            &keys.verifier_with(|o| o.cache_capacity = 0),
            &token,
            &revoked,
            n,
        ),
        "cache-hit" => {
            let verifier = keys.verifier();
            verifier.verify(&token, NOW, &revoked).unwrap();
            run_verify(&verifier, &token, &revoked, n);
        }
        _ => panic!("usage: overhead <bare|verify|cache-hit> [iterations]"),
    }
}
