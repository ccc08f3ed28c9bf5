//! Integration tests of the issuer, against real SQLite files and the real
//! Postgres named by `TOLLGATE_TEST_POSTGRES_URL` (set by `make test`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests fail by panicking.

/// Makes a test module running `check` on SQLite, and on Postgres when available.
macro_rules! on_both {
    ($check:ident) => {
        mod $check {
            /// On SQLite.
            #[tokio::test]
            async fn sqlite() {
                let (store, _dir) = crate::support::sqlite().await;
                super::$check(store).await;
            }

            /// On Postgres.
            #[tokio::test]
            async fn postgres() {
                if let Some(server) = crate::support::postgres_url() {
                    super::$check(crate::support::postgres(&server).await).await;
                }
            }
        }
    };
}

mod abuse;
mod accounts;
mod binary;
mod dpop;
mod feed;
mod http;
mod keys;
mod openapi;
mod postgres;
mod secrets;
mod service;
mod sessions;
mod support;
mod upstreams;
