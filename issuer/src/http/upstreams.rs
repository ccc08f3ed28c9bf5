//! The receivers of upstream providers' logout announcements:
//! `POST /v1/upstreams/{name}/backchannel-logout` (OIDC Back-Channel
//! Logout 1.0) and `POST /v1/upstreams/{name}/events` (SSF push, RFC
//! 8935). Each answers in its standard's shape; an unknown `name` is a 404
//! problem. Anything anonymous callers send revokes nothing unless it is
//! a valid event signed by that provider ([`crate::upstream::receive`]).
//! An address whose announcements were refused `--token-failures-per-address`
//! times in the rate window is answered 429 before any signature is
//! checked, as the refresh route does.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tollgate_verifier::event::{EventCode, EventError};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ClientAddr;
use crate::metrics::Channel;
use crate::openapi::Problem404;
use crate::upstream::receive::{Kind, Refused, receive};

/// The form of a Back-Channel Logout request.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // The schema; the handler reads the form itself.
pub struct LogoutForm {
    /// The logout token (a JWT signed by the provider).
    logout_token: String,
}

/// OIDC Back-Channel Logout 1.0 §2.5: the provider's logout token revokes
/// the session it names (or every token of its subject).
#[utoipa::path(post, path = "/v1/upstreams/{name}/backchannel-logout", tag = "upstreams",
    params(("name" = String, Path, description = "The upstream's configured name")),
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The logout is on the feed"),
        (status = 400, description = "`{\"error\":\"invalid_request\",\"error_description\":...}` (OIDC BCL §2.8); nothing revoked", content_type = "application/json"),
        (status = 429, description = "Too many announcements at once; try again", content_type = "application/json"),
        (status = 503, description = "A key of the provider this issuer does not have yet, or a body cut off or too slow to arrive; try again after `Retry-After`", content_type = "application/json"),
        Problem404))]
pub async fn backchannel_logout(
    State(state): State<AppState>,
    Path(name): Path<String>,
    address: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let provider = state.upstreams.get(&name).ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    if let Err(wait) = state.upstream_limit.check(&address.0, now) {
        return Ok(limited(
            wait,
            r#"{"error":"temporarily_unavailable","error_description":"too many refused announcements from this address"}"#,
        ));
    }
    let answer = |status, body: String| {
        (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response()
    };
    let refuse = |err: EventError| {
        state.upstream_limit.record(&address.0, now);
        answer(StatusCode::BAD_REQUEST, err.logout_body())
    };
    let body = match readable(body) {
        Ok(body) => body,
        Err(Unread::TooLarge(err)) => return Ok(refuse(err)),
        Err(Unread::Later) => {
            return Ok(later(
                r#"{"error":"temporarily_unavailable","error_description":"the body was cut off or too slow to arrive; try again"}"#,
            ));
        }
    };
    if !is_media_type(&headers, "application/x-www-form-urlencoded") {
        return Ok(refuse(EventError::new(
            EventCode::Malformed,
            "the body must be application/x-www-form-urlencoded",
        )));
    }
    let Some(token) = logout_token(&body) else {
        return Ok(refuse(EventError::new(
            EventCode::Malformed,
            "the form must hold exactly one logout_token",
        )));
    };
    match receive(
        &state,
        provider,
        Kind::Logout,
        Channel::BackchannelLogout,
        &token,
    )
    .await
    {
        Ok(_) => Ok(answer(StatusCode::OK, String::new())),
        Err(Refused::Event(err)) => Ok(refuse(err)),
        Err(Refused::Later) => Ok(later(
            r#"{"error":"temporarily_unavailable","error_description":"unknown_kid: no key of this provider has the kid yet; try again"}"#,
        )),
        Err(Refused::Busy) => Ok(busy(
            r#"{"error":"temporarily_unavailable","error_description":"too many announcements at once"}"#,
        )),
        Err(Refused::Unavailable(err)) => Err(err),
    }
}

/// RFC 8935 push delivery of a Security Event Token (SSF 1.0 / CAEP 1.0).
#[utoipa::path(post, path = "/v1/upstreams/{name}/events", tag = "upstreams",
    params(("name" = String, Path, description = "The upstream's configured name")),
    request_body(content = String, content_type = "application/secevent+jwt", description = "The SET"),
    responses(
        (status = 202, description = "Accepted; its revocations are on the feed"),
        (status = 400, description = "`{\"err\":...,\"description\":...}` (RFC 8935 §2.4); nothing revoked", content_type = "application/json"),
        (status = 429, description = "Too many announcements at once; try again", content_type = "application/json"),
        (status = 503, description = "A key of the provider this issuer does not have yet, or a body cut off or too slow to arrive; try again after `Retry-After`", content_type = "application/json"),
        Problem404))]
pub async fn events(
    State(state): State<AppState>,
    Path(name): Path<String>,
    address: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let provider = state.upstreams.get(&name).ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    if let Err(wait) = state.upstream_limit.check(&address.0, now) {
        return Ok(limited(
            wait,
            r#"{"err":"temporarily_unavailable","description":"too many refused announcements from this address"}"#,
        ));
    }
    let refuse = |err: EventError| {
        state.upstream_limit.record(&address.0, now);
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            err.set_body(),
        )
            .into_response()
    };
    let body = match readable(body) {
        Ok(body) => body,
        Err(Unread::TooLarge(err)) => return Ok(refuse(err)),
        Err(Unread::Later) => {
            return Ok(later(
                r#"{"err":"temporarily_unavailable","description":"the body was cut off or too slow to arrive; try again"}"#,
            ));
        }
    };
    if !is_media_type(&headers, "application/secevent+jwt") {
        return Ok(refuse(EventError::new(
            EventCode::Malformed,
            "the body must be application/secevent+jwt",
        )));
    }
    let Some(token) = std::str::from_utf8(&body).ok().map(str::trim) else {
        return Ok(refuse(EventError::new(
            EventCode::Malformed,
            "the body is not text",
        )));
    };
    match receive(
        &state,
        provider,
        Kind::SecurityEvent,
        Channel::SsfPush,
        token,
    )
    .await
    {
        Ok(_) => Ok(StatusCode::ACCEPTED.into_response()),
        Err(Refused::Event(err)) => Ok(refuse(err)),
        Err(Refused::Later) => Ok(later(
            r#"{"err":"temporarily_unavailable","description":"unknown_kid: no key of this provider has the kid yet; try again"}"#,
        )),
        Err(Refused::Busy) => Ok(busy(
            r#"{"err":"temporarily_unavailable","description":"too many announcements at once"}"#,
        )),
        Err(Refused::Unavailable(err)) => Err(err),
    }
}

/// 503 with `Retry-After`: a key this issuer may not fetch again before
/// the cooldown ends (see [`crate::upstream::UNKNOWN_KID_COOLDOWN`]).
fn later(body: &'static str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::RETRY_AFTER, "10"),
        ],
        body,
    )
        .into_response()
}

/// 429: this address sent too many refused announcements in the window.
fn limited(wait: u64, body: &'static str) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::RETRY_AFTER, HeaderValue::from(wait)),
        ],
        body,
    )
        .into_response()
}

fn busy(body: &'static str) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::RETRY_AFTER, "1"),
        ],
        body,
    )
        .into_response()
}

/// Whether `Content-Type` is `media_type`, parameters aside.
fn is_media_type(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case(media_type))
}

/// The one `logout_token` of a form body; `None` if there is none, more
/// than one, or the body is not a form.
fn logout_token(body: &[u8]) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    let mut tokens = pairs.into_iter().filter(|(name, _)| name == "logout_token");
    let (_, token) = tokens.next()?;
    tokens.next().is_none().then_some(token)
}

/// Why an announcement's body was not read.
enum Unread {
    /// Over the size limit: the announcement's fault, refused in the
    /// standard's own shape like any other bad one.
    TooLarge(EventError),
    /// Cut off or too slow to arrive: says nothing of the announcement,
    /// so try again (not counted against the address).
    Later,
}

/// The body, or why it was not read.
fn readable(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Unread> {
    // The message names the limit; this keeps the two together.
    const _: () = assert!(crate::BODY_LIMIT == 16 * 1024);
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Unread::TooLarge(EventError::new(
                EventCode::Malformed,
                "the body is over 16 KiB",
            ))
        } else {
            Unread::Later
        }
    })
}
