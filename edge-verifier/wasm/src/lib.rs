//! wasm-bindgen bindings of the tollgate verifier: the npm package
//! `tollgate-verifier` wraps this in a small ESM module (`js/`).
//!
//! The adapter is thin on purpose. Structured values cross the boundary as
//! JSON text (options, JWKS, feeds in; claims out), read and written by the
//! verifier crate (`from_json`, `to_json`), which keeps serde-wasm-bindgen
//! and serde_json out of the module; the JS wrapper parses and stringifies.
//! A request's parts cross as separate strings. Errors are thrown as JS
//! `Error`s carrying a `code` property, the same codes as the Rust crate
//! and the HTTP API.
//!
//! # Layout
//! - `js`: coded errors, the options, the request parts JS hands over,
//!   and the refusal every adapter answers with (`refusal`).
//! - `verifier`: the synchronous `Verifier` class (keys and pages fed by
//!   the caller); only in the full build (feature `native`), as it checks
//!   signatures in Rust.
//! - `syncer`: the `Syncer` class and its `Attempt`s: the verifier crate's
//!   sync policy, which `createVerifier` in `api.js` only performs.

mod js;
mod syncer;
#[cfg(feature = "native")]
mod verifier;

pub use js::{peek_kid, refusal, wasm_memory};
pub use syncer::{Action, Signature, WasmAttempt, WasmSyncer};
#[cfg(feature = "native")]
pub use verifier::WasmVerifier;
