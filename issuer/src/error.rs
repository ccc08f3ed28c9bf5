//! The API's one error type: every failure is an RFC 9457 problem+json
//! document with a stable `code`. A 500 never says more than "internal".

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// An API failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request's parameters or body do not validate.
    #[error("validation failed")]
    ValidationFailed(Vec<FieldError>),
    /// Storage failed; logged in full, answered as a bare 500.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl ApiError {
    /// One invalid field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::ValidationFailed(vec![FieldError {
            field,
            message: message.into(),
        }])
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
    errors: Option<&'a [FieldError]>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title, errors) = match &self {
            ApiError::ValidationFailed(errors) => (
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "The request is not valid.",
                Some(errors.as_slice()),
            ),
            ApiError::Store(err) => {
                tracing::error!(error = %err, "storage failure");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error.",
                    None,
                )
            }
        };
        let body = Problem {
            kind: "about:blank",
            title,
            status: status.as_u16(),
            code,
            errors,
        };
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            Json(body),
        )
            .into_response()
    }
}
