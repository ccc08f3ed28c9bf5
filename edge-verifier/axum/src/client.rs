//! The one kind of request this crate makes: `GET` a path of the issuer,
//! the whole exchange (headers and body) bounded by one deadline.

use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A plain-HTTP client for the issuer.
#[derive(Clone)]
pub(crate) struct IssuerClient {
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl IssuerClient {
    pub(crate) fn new() -> Self {
        IssuerClient {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// GETs `url` as text; the whole exchange, body included, must end
    /// within `budget`.
    pub(crate) async fn get(&self, url: &str, budget: Duration) -> Result<String, String> {
        let uri = url.parse().map_err(|err| format!("bad URL {url}: {err}"))?;
        let exchange = async {
            let response = self
                .client
                .get(uri)
                .await
                .map_err(|err| format!("GET {url}: {err}"))?;
            if response.status() != StatusCode::OK {
                return Err(format!("GET {url}: HTTP {}", response.status()));
            }
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|err| format!("GET {url}: {err}"))?
                .to_bytes();
            String::from_utf8(body.to_vec())
                .map_err(|_| format!("GET {url}: the body is not UTF-8"))
        };
        tokio::time::timeout(budget, exchange)
            .await
            .map_err(|_| format!("GET {url}: no complete answer by the deadline"))?
    }
}
