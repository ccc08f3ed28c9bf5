//! Integration tests of the issuer, against real SQLite files and the real
//! Postgres named by `TOLLGATE_TEST_POSTGRES_URL` (set by `make test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail by panicking.

mod feed;
mod http;
mod postgres;
mod support;
