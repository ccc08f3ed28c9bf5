//! libFuzzer target `verify`; the body is in `src/lib.rs` (`make fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tollgate_verifier_fuzz::verify(data));
