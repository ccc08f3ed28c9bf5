//! Integration tests of the verifier, at a fixed clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail by panicking.

mod admission;
mod attacks;
mod cache;
mod claims;
mod dpop;
mod events;
mod keys;
mod properties;
mod revocation;
mod shapes;
mod split;
mod support;
mod sync;
mod upstream;
