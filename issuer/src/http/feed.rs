//! The revocation feed (`GET /v1/revocations`) and the JWKS: what
//! verifiers pull. The paging and cursor rules are [`crate::feed`]'s.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollgate_verifier::Jwks;

use crate::AppState;
use crate::error::ApiError;
use crate::{feed, metrics, openapi};

/// The feed's query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The cursor of the last page applied (`epoch:seq:digest`); none for a snapshot.
    pub since: Option<String>,
    /// Entries per page, 1 to 1000 (default 1000). Read as text so that a
    /// bad one is this API's problem+json, not the extractor's plain text.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// The revocation feed: a snapshot without a cursor, else every entry
/// committed after it, paged.
#[utoipa::path(get, path = "/v1/revocations", tag = "feed", params(FeedQuery),
    responses((status = 200, description = "One page of the feed", body = openapi::FeedPage), openapi::Problem400))]
pub async fn revocations(
    State(state): State<AppState>,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    // Axum's own rejection is plain text; every failure here is problem+json.
    let Query(query) = query.map_err(|err| ApiError::invalid("query", err.body_text()))?;
    let limit = match query.limit.as_deref() {
        None => feed::DEFAULT_LIMIT,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=feed::MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("must be a whole number from 1 to {}", feed::MAX_LIMIT),
                )
            })?,
    };
    let now = state.clock.now();
    // Whatever the cursor (none, garbage, another database's), a snapshot
    // comes from the one cached read of the log's head.
    let served = state
        .feed
        .serve(
            state.store.as_ref(),
            query.since.as_deref(),
            limit,
            now,
            &state.metrics,
        )
        .await?;
    Ok(match served {
        feed::Served::Snapshot(body) => {
            state.metrics.feed_poll(metrics::FeedKind::Snapshot);
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    FEED_CACHE_CONTROL,
                ],
                body,
            )
                .into_response()
        }
        feed::Served::Delta(page) => {
            state.metrics.feed_poll(metrics::FeedKind::Delta);
            ([FEED_CACHE_CONTROL], Json(page)).into_response()
        }
    })
}

/// A cache between the issuer and a verifier (a CDN rule, a proxy) must
/// never answer for the feed: a stored page would be taken as news. The
/// JWKS may be stored but is revalidated each time, so a withdrawn key is
/// never served from a cache.
const FEED_CACHE_CONTROL: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-store");
const JWKS_CACHE_CONTROL: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-cache");

/// The signing keys' public parts, with the key-set version.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "feed",
    responses((status = 200, description = "The JWKS (RFC 7517), plus `keys_version`", body = openapi::JwksDocument)))]
pub async fn jwks(
    State(state): State<AppState>,
) -> Result<([(header::HeaderName, &'static str); 1], Json<Jwks>), ApiError> {
    let jwks = state.current_keys().await?.jwks(state.clock.now());
    Ok(([JWKS_CACHE_CONTROL], Json(jwks)))
}
