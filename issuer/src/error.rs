//! The API's one error type: every failure is an RFC 9457 problem+json
//! document with a stable `code`. A 500 never says more than "internal".

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollgate_verifier::{ErrorCode, Refusal};

use crate::store::StoreError;

/// An API failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request's parameters or body do not validate (400).
    #[error("validation failed")]
    ValidationFailed(Vec<FieldError>),
    /// The body could not be read as the JSON or form asked for; `status` is
    /// 400 (syntax), 413 (too large), 415 (content type) or 422 (shape).
    #[error("bad request body: {message}")]
    BadBody {
        /// The HTTP status.
        status: StatusCode,
        /// What is wrong, safe to show.
        message: String,
    },
    /// Unknown email or wrong password: one answer for both.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The account is deactivated.
    #[error("account disabled")]
    AccountDisabled,
    /// The refresh token is unknown, spent, or its session is over.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// An already rotated refresh token came back: its session is revoked.
    #[error("refresh token reused")]
    RefreshTokenReused,
    /// Signup with an email that has an account.
    #[error("email taken")]
    EmailTaken,
    /// Too many attempts; try again after this many seconds.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until an attempt is allowed again.
        retry_after: u64,
    },
    /// The caller lacks the role.
    #[error("forbidden")]
    Forbidden,
    /// No such resource (or not the caller's).
    #[error("not found")]
    NotFound,
    /// No token was sent; `dpop`: a DPoP proof came anyway (the challenge
    /// then offers that scheme too).
    #[error("missing bearer token")]
    MissingToken {
        /// Whether the request carried a `DPoP` header.
        dpop: bool,
    },
    /// The Bearer token was refused, with the verifier's code.
    #[error("invalid token: {0}")]
    InvalidToken(ErrorCode),
    /// A DPoP proof at a token route (login, refresh) is wrong, or missing
    /// where one is required (400, RFC 9449 §5).
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(&'static str),
    /// A DPoP proof at a token route lacks a current server nonce; the
    /// answer carries one in `DPoP-Nonce` (400, RFC 9449 §8).
    #[error("DPoP nonce required")]
    UseDpopNonce {
        /// The nonce to retry with.
        nonce: String,
    },
    /// Storage failed; logged in full, answered as a bare 500.
    #[error(transparent)]
    Store(StoreError),
    /// Something else failed inside; logged, answered as a bare 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            // Too much of one kind of work waiting: the client tries again.
            StoreError::Busy => ApiError::RateLimited { retry_after: 1 },
            other => ApiError::Store(other),
        }
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// `field` is wrong in the way `message` says.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

impl ApiError {
    /// One invalid field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::ValidationFailed(vec![FieldError::new(field, message)])
    }

    /// `Ok` if no field failed.
    pub fn check(errors: Vec<FieldError>) -> Result<(), ApiError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::ValidationFailed(errors))
        }
    }

    /// Every code [`Self::code`] can return besides the verifier's own
    /// (OpenAPI lists them; a test keeps the two in step).
    pub const CODES: &'static [&'static str] = &[
        "validation_failed",
        "invalid_credentials",
        "account_disabled",
        "invalid_refresh_token",
        "refresh_token_reused",
        "email_taken",
        "rate_limited",
        "forbidden",
        "not_found",
        "missing_token",
        "internal",
    ];

    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::ValidationFailed(_) | ApiError::BadBody { .. } => "validation_failed",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::AccountDisabled => "account_disabled",
            ApiError::InvalidRefreshToken => "invalid_refresh_token",
            ApiError::RefreshTokenReused => "refresh_token_reused",
            ApiError::EmailTaken => "email_taken",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MissingToken { .. } => "missing_token",
            ApiError::InvalidToken(code) => code.as_str(),
            ApiError::InvalidDpopProof(_) => "invalid_dpop_proof",
            ApiError::UseDpopNonce { .. } => "use_dpop_nonce",
            ApiError::Store(_) | ApiError::Internal(_) => "internal",
        }
    }

    fn status_and_title(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::ValidationFailed(_) => (StatusCode::BAD_REQUEST, "The request is not valid."),
            ApiError::BadBody { status, .. } => (*status, "The request body is not valid."),
            ApiError::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "The email or password is not right.",
            ),
            ApiError::AccountDisabled => (StatusCode::FORBIDDEN, "The account is disabled."),
            ApiError::InvalidRefreshToken => {
                (StatusCode::UNAUTHORIZED, "The refresh token is not valid.")
            }
            ApiError::RefreshTokenReused => (
                StatusCode::UNAUTHORIZED,
                "The refresh token was already used; the session is revoked.",
            ),
            ApiError::EmailTaken => (StatusCode::CONFLICT, "The email has an account."),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "Too many attempts."),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "Not allowed."),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "Not found."),
            // Rendered from the verifier crate's refusal (see `refusal`).
            ApiError::MissingToken { .. } | ApiError::InvalidToken(_) => (
                StatusCode::UNAUTHORIZED,
                "The request is not authenticated.",
            ),
            ApiError::InvalidDpopProof(_) => {
                (StatusCode::BAD_REQUEST, "The DPoP proof is not valid.")
            }
            ApiError::UseDpopNonce { .. } => (
                StatusCode::BAD_REQUEST,
                "Retry with a DPoP proof that carries the server's nonce.",
            ),
            ApiError::Store(_) | ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
            }
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    /// A refused token, as every tollgate verifier answers it.
    fn refusal(&self) -> Option<Refusal> {
        match self {
            ApiError::MissingToken { dpop } => Some(Refusal::missing_token(*dpop)),
            ApiError::InvalidToken(code) => Some(Refusal::with_detail(*code, code.to_string())),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, ApiError::Store(_) | ApiError::Internal(_)) {
            tracing::error!(error = %self, "request failed");
        }
        if let Some(refusal) = self.refusal() {
            return refusal.to_http();
        }
        let (status, title) = self.status_and_title();
        let code = self.code();
        let (detail, errors) = match &self {
            ApiError::ValidationFailed(errors) => (None, Some(errors.as_slice())),
            ApiError::BadBody { message, .. } => (Some(message.as_str()), None),
            ApiError::InvalidDpopProof(what) => (Some(*what), None),
            _ => (None, None),
        };
        let body = Problem {
            kind: "about:blank",
            title,
            status: status.as_u16(),
            code,
            detail,
            errors,
        };
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            Json(body),
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::UseDpopNonce { nonce } => {
                if let Ok(value) = HeaderValue::from_str(nonce) {
                    headers.insert(crate::headers::DPOP_NONCE, value);
                }
            }
            ApiError::RateLimited { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        response
    }
}
