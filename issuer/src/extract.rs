//! Extractors whose rejections are [`ApiError`]s: JSON and form bodies,
//! the Bearer-authenticated caller, and the client's address.

use std::net::SocketAddr;

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use tollgate_verifier::{AccessClaims, ErrorCode, RevocationSet};

use crate::AppState;
use crate::error::ApiError;

/// A JSON body; a bad one is a problem+json, never axum's plain text.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(bad_body(rejection.status(), json_message(&rejection))),
        }
    }
}

fn json_message(rejection: &JsonRejection) -> String {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "expected a body with content-type application/json".into()
        }
        // serde's message names the field and what was expected; it never
        // echoes the value, so no password reaches the response.
        JsonRejection::JsonDataError(err) => err.body_text(),
        JsonRejection::JsonSyntaxError(_) => "the body is not valid JSON".into(),
        other => other.body_text(),
    }
}

/// A form body (RFC 7009 uses `application/x-www-form-urlencoded`).
#[derive(Debug)]
pub struct ApiForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(ApiForm(value)),
            Err(rejection) => {
                let message = match &rejection {
                    FormRejection::InvalidFormContentType(_) => {
                        "expected a body with content-type application/x-www-form-urlencoded".into()
                    }
                    other => other.body_text(),
                };
                Err(bad_body(rejection.status(), message))
            }
        }
    }
}

fn bad_body(status: StatusCode, message: String) -> ApiError {
    ApiError::BadBody { status, message }
}

/// The caller, authenticated by a Bearer access token that this issuer
/// signed and that is not revoked.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's verified claims.
    pub claims: AccessClaims,
    /// The user id (`sub`).
    pub user: tollgate_verifier::Uuid,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    #[tracing::instrument(name = "authenticate", skip_all)]
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?;
        let keys = state.keys();
        // The verifier crate decides validity here as at every edge; the
        // revocation log in the database is this issuer's revocation state.
        let verified = keys
            .verifier
            .verify(token, state.clock.now(), &RevocationSet::new())
            .map_err(|err| ApiError::InvalidToken(err.code()))?;
        let claims = verified.claims().clone();
        if state.store.is_revoked(claims.sid, claims.jti).await? {
            return Err(ApiError::InvalidToken(ErrorCode::Revoked));
        }
        let user = claims
            .sub
            .parse()
            .map_err(|_| ApiError::InvalidToken(ErrorCode::Malformed))?;
        Ok(Caller { claims, user })
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::InvalidToken(ErrorCode::Malformed))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(ApiError::InvalidToken(ErrorCode::Malformed))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::MissingToken);
    }
    Ok(token.trim())
}

/// The client's address: from the configured proxy header, else the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(name) = &state.settings.client_ip_header {
            if let Some(value) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
                // X-Forwarded-For style lists: the first is the client.
                let first = value.split(',').next().unwrap_or_default().trim();
                if !first.is_empty() {
                    return Ok(ClientAddr(first.to_owned()));
                }
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string());
        Ok(ClientAddr(peer))
    }
}
