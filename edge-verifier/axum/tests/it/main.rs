//! The extractor against a real issuer, and against a scripted one that
//! fails on cue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail by panicking.

mod dpop;
mod faults;
mod hangup;
mod layer;
mod stub;
