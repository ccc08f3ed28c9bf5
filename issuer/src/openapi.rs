//! The issuer's OpenAPI 3.1 document, generated from the code with
//! `utoipa` so it cannot drift: every route is registered through
//! `utoipa_axum`'s router together with its `#[utoipa::path]` annotation
//! ([`crate::app`]), and the problem `code`s are listed from the code's own
//! error types. Served at `GET /openapi.json`.

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr, Schema};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};

use crate::error::{ApiError, FieldError};

/// Every `code` a problem+json body of this API can carry: the API's own,
/// `missing_token`, and the verifier crate's.
pub fn problem_codes() -> Vec<&'static str> {
    let mut codes = ApiError::CODES.to_vec();
    codes.extend(tollgate_verifier::ErrorCode::ALL.iter().map(|c| c.as_str()));
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// An RFC 9457 problem document, as every failure here is answered.
#[derive(Serialize)]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short human title.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable, machine-readable code.
    pub code: String,
    /// More detail, safe to show (some problems only).
    pub detail: Option<String>,
    /// Per-field errors (`validation_failed` only).
    pub errors: Option<Vec<FieldError>>,
}

impl PartialSchema for Problem {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        let string = || ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .description(Some(
                "RFC 9457 problem details (application/problem+json) with a stable `code`.",
            ))
            .property("type", string().examples(["about:blank"]))
            .required("type")
            .property("title", string())
            .required("title")
            .property("status", ObjectBuilder::new().schema_type(Type::Integer))
            .required("status")
            .property(
                "code",
                string()
                    .enum_values(Some(problem_codes()))
                    .description(Some("Branch on this, never on `title` or `detail`.")),
            )
            .required("code")
            .property("detail", string())
            .property("errors", ArrayBuilder::new().items(FieldError::schema()))
            .into()
    }
}

impl ToSchema for Problem {}

macro_rules! problem_response {
    ($name:ident, $status:literal, $description:literal) => {
        #[doc = $description]
        #[derive(IntoResponses)]
        #[response(status = $status, description = $description, content_type = "application/problem+json")]
        #[allow(dead_code)] // A response description only.
        pub struct $name(#[to_schema] Problem);
    };
}

problem_response!(
    Problem400,
    400,
    "`validation_failed`: a query, or a body's syntax or fields, not valid (`errors` names each field)"
);
problem_response!(
    Problem413,
    413,
    "`validation_failed`: a body over the 16 KiB limit"
);
problem_response!(
    Problem415,
    415,
    "`validation_failed`: a body of another content type than the one documented"
);
problem_response!(
    Problem422,
    422,
    "`validation_failed`: a body of the right syntax but the wrong shape (a missing or mistyped field)"
);
problem_response!(
    Problem401,
    401,
    "`missing_token`, `invalid_credentials`, `invalid_refresh_token`, `refresh_token_reused`, or a verifier code; with `WWW-Authenticate`"
);
problem_response!(Problem403, 403, "`forbidden` or `account_disabled`");
problem_response!(Problem404, 404, "`not_found`");
problem_response!(Problem409, 409, "`email_taken`");
problem_response!(Problem429, 429, "`rate_limited`, with `Retry-After`");

/// The bearer scheme of the authenticated routes.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT (RFC 9068 at+jwt)")
                    .build(),
            ),
        );
    }
}

/// The document's frame: title, version, security scheme, shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tollgate issuer",
        description = "Device sessions, short-lived access tokens, refresh-token rotation and the revocation feed that edge verifiers pull. Every failure is application/problem+json with a stable `code`."
    ),
    modifiers(&Bearer),
    components(schemas(Problem, FieldError, FeedPage, FeedEntry, JwksDocument))
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)))]
pub async fn document(
    axum::Extension(document): axum::Extension<std::sync::Arc<Document>>,
) -> Json<Document> {
    Json(document.as_ref().clone())
}

/// A page of the revocation feed (the verifier crate's `RevocationFeed`).
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only: the handler serialises the crate's own type.
pub struct FeedPage {
    /// Where to continue from: pass it back as `since`. Opaque.
    cursor: String,
    /// A snapshot: replace the set with this page and the ones after it.
    reset: bool,
    /// More entries wait after `cursor`: ask again at once.
    more: bool,
    /// The key-set version: a new one means the JWKS changed.
    keys: String,
    /// The entries, in commit order.
    revoked: Vec<FeedEntry>,
}

/// One revocation: exactly one of `sid`, `jti`, `sub`, `email`. Without
/// `iss` it is tollgate's own and `sid`/`jti` are UUIDs; with `iss` it is
/// an upstream provider's, its ids opaque. `sub` and `email` are subject
/// cut-offs: every token of the subject with `iat` at or before `before`.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only.
pub struct FeedEntry {
    /// The upstream issuer the entry is scoped to; absent: tollgate's.
    iss: Option<String>,
    /// A revoked session.
    sid: Option<String>,
    /// A revoked access token.
    jti: Option<String>,
    /// A subject cut off.
    sub: Option<String>,
    /// A subject cut off, named by e-mail.
    email: Option<String>,
    /// With `sub` or `email`: tokens issued at or before it are revoked.
    before: Option<i64>,
    /// Unix seconds after which no token of it can be valid.
    until: i64,
}

/// The JWKS document.
#[derive(ToSchema)]
#[allow(dead_code)] // A schema only.
pub struct JwksDocument {
    /// Public keys (`kty`, `kid`, `alg`, `use`, `crv`, `x`, `y`).
    keys: Vec<Object>,
    /// The key-set version these keys are at.
    keys_version: String,
    /// The upstream providers whose keys are here (each names its `iss`),
    /// with the rules their tokens are judged by.
    upstreams: Option<Vec<Object>>,
}

/// Any JSON object.
pub type Object = serde_json::Value;
