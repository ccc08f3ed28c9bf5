//! The extractor: a handler that takes [`Claims`] gets a verified token's
//! claims, or the request is answered with the verifier crate's
//! [`Refusal`] (problem+json, 401 with its challenge, or 503).
//!
//! It reads `Authorization`, the `access_token` cookie and `DPoP`, as every
//! tollgate verifier does; it reads no `x-tollgate-*` header, so nothing an
//! edge (or a client pretending to be one) sets is trusted here.

use axum::extract::{FromRef, FromRequestParts, OriginalUri};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tollgate_verifier::{
    AccessClaims, Refusal, RequestParts, VerifyError, host_origins, proof_url,
};

use crate::Tollgate;

/// The verified claims of the request's access token (`Authorization:
/// Bearer` or `DPoP` with its proof, else the `access_token` cookie).
/// Rejects with a problem+json: 401 with `WWW-Authenticate`, or 503
/// `revocation_state_stale`.
#[derive(Debug, Clone)]
pub struct Claims(pub AccessClaims);

/// Why [`Claims`] refused a request.
#[derive(Debug)]
pub enum Rejection {
    /// No token at all; `dpop`: the request carried a DPoP proof.
    Missing {
        /// Whether a `DPoP` header came with it.
        dpop: bool,
    },
    /// The verifier refused it.
    Invalid(VerifyError),
}

impl Rejection {
    /// The answer, as every tollgate verifier gives it.
    pub fn refusal(&self) -> Refusal {
        match self {
            Rejection::Missing { dpop } => Refusal::missing_token(*dpop),
            Rejection::Invalid(err) => Refusal::from_error(err),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.refusal().to_http()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Claims
where
    Tollgate: FromRef<S>,
{
    type Rejection = Rejection;

    #[tracing::instrument(name = "tollgate", skip_all)]
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let tollgate = Tollgate::from_ref(state);
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        // A value that is not text still counts, so two headers are refused.
        let dpop: Vec<&str> = parts
            .headers
            .get_all("dpop")
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        let raw = RequestParts {
            authorization: header(header::AUTHORIZATION),
            cookie: header(header::COOKIE),
            dpop: &dpop,
            method: parts.method.as_str(),
            url: "",
        };
        let Some(mut request) = raw.request() else {
            return Err(Rejection::Missing {
                dpop: raw.has_proof(),
            });
        };
        request.url = public_url(&tollgate, parts, &request.proofs);
        tollgate
            .verify_request(request)
            .await
            .map(Claims)
            .map_err(Rejection::Invalid)
    }
}

/// The URL the client addressed, for a DPoP proof's `htu`: one of the
/// configured public URLs (or this request's host) plus the path as the
/// client sent it (before any `Router::nest` stripped a prefix). A `Host`
/// that could bend the URL gives none, and the proof is refused.
fn public_url(tollgate: &Tollgate, parts: &Parts, proofs: &[String]) -> String {
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(parts.uri.path(), |original| original.path());
    let public = &tollgate.config().public_urls;
    if public.is_empty() {
        let host = parts.uri.authority().map(|a| a.as_str()).or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
        });
        proof_url(proofs, &host_origins(host), path)
    } else {
        proof_url(proofs, public, path)
    }
}
