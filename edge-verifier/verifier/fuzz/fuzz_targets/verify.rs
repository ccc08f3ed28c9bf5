//! Fuzzes the token parser: any bytes must yield a coded error or a verified
//! token, never a panic. Run with `cargo +nightly fuzz run verify`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_verifier::{ErrorCode, KeySet, RevocationSet, Verifier, VerifierOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let mut keys = KeySet::new();
    let _ = keys.insert_hs256("hs", &[0x42; 32]);
    let verifier = Verifier::new(VerifierOptions::new("https://issuer.test", "api"), keys);
    if let Err(err) = verifier.verify(token, 1_763_820_000, &RevocationSet::new()) {
        assert!(ErrorCode::ALL.contains(&err.code()));
    }
    let _ = Verifier::peek_kid(token);
});
