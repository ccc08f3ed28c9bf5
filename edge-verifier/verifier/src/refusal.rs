//! The answer to a refused request, decided once for every adapter: the
//! status, the stable `code`, the `WWW-Authenticate` challenge, and the
//! problem+json body (RFC 9457). The edge, `tollgate-axum`, the npm
//! package's Hono middleware and the issuer's Bearer routes copy it onto
//! their response type and add nothing.

use crate::error::{ErrorCode, VerifyError};
use crate::json::Object;

/// The proof algorithms a DPoP challenge names (RFC 9449 §7.1): those
/// [`crate::dpop::PROOF_ALGORITHMS`] accepts, `Ed25519` being RFC 9864's
/// name for EdDSA over Ed25519.
const DPOP_ALGS: &str = "ES256 EdDSA Ed25519";

/// A problem+json body (RFC 9457) with tollgate's stable `code`, its
/// members in alphabetical order: every refusal's ([`Refusal::body`]), and
/// an adapter's own problems (a bad path, an upstream that is down).
///
/// ```
/// assert_eq!(
///     tollgate_verifier::problem_json(400, "bad_path", "Not accepted.", "An encoded slash."),
///     r#"{"code":"bad_path","detail":"An encoded slash.","status":400,"title":"Not accepted.","type":"about:blank"}"#
/// );
/// ```
pub fn problem_json(status: u16, code: &str, title: &str, detail: &str) -> String {
    let mut body = Object::new();
    body.str("code", code)
        .str("detail", detail)
        .uint("status", u64::from(status))
        .str("title", title)
        .str("type", "about:blank");
    body.finish()
}

/// A refused request, as HTTP: 401 for a missing or refused token (with a
/// challenge), 503 when the verifier cannot vouch for its revocation state.
///
/// ```
/// use tollgate_verifier::{Refusal, VerifyError};
/// let refusal = Refusal::from_error(&VerifyError::Revoked);
/// assert_eq!(refusal.status(), 401);
/// assert_eq!(refusal.code(), "revoked");
/// assert_eq!(refusal.challenge(), Some(r#"Bearer error="invalid_token", error_description="revoked""#));
/// assert!(refusal.body().contains(r#""code":"revoked""#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    status: u16,
    code: &'static str,
    title: &'static str,
    detail: String,
    challenge: Option<String>,
}

impl Refusal {
    /// The `Content-Type` of [`Self::body`].
    pub const CONTENT_TYPE: &'static str = "application/problem+json";

    /// The `Cache-Control` every refusal carries: a cache must never answer
    /// for a token's validity.
    pub const CACHE_CONTROL: &'static str = "no-store";

    /// No token at all (`missing_token`). RFC 6750 §3: a bare `Bearer`
    /// challenge, without an error; a request that carries a `DPoP` header
    /// (`dpop`: its client speaks DPoP) is also offered the DPoP scheme with
    /// its algorithms (RFC 9449 §7.1).
    pub fn missing_token(dpop: bool) -> Self {
        Refusal {
            status: 401,
            code: "missing_token",
            title: TITLE_401,
            detail: "A bearer or DPoP token is required.".to_owned(),
            challenge: Some(if dpop {
                format!("Bearer, DPoP algs=\"{DPOP_ALGS}\"")
            } else {
                "Bearer".to_owned()
            }),
        }
    }

    /// A token the verifier refused, or a state it cannot vouch for.
    pub fn from_error(error: &VerifyError) -> Self {
        Self::with_detail(error.code(), error.to_string())
    }

    /// A refusal with `code` and a detail safe to show (the adapter's own
    /// words, such as why the revocation state is stale).
    pub fn with_detail(code: ErrorCode, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        if code == ErrorCode::RevocationStateStale {
            return Refusal {
                status: 503,
                code: code.as_str(),
                title: "The revocation state cannot be trusted.",
                detail,
                challenge: None,
            };
        }
        Refusal {
            status: 401,
            code: code.as_str(),
            title: TITLE_401,
            detail,
            challenge: Some(challenge(code)),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The problem's title.
    pub fn title(&self) -> &'static str {
        self.title
    }

    /// What was wrong, in words safe to show.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The `WWW-Authenticate` value, for a 401.
    pub fn challenge(&self) -> Option<&str> {
        self.challenge.as_deref()
    }

    /// The problem+json body ([`problem_json`]).
    pub fn body(&self) -> String {
        problem_json(self.status, self.code, self.title, &self.detail)
    }

    /// The whole refusal as an `http` response (feature `http`): status,
    /// [`Self::CONTENT_TYPE`], [`Self::CACHE_CONTROL`], the challenge and
    /// [`Self::body`]. `B` is the adapter's body type (axum's `Body`).
    #[cfg(feature = "http")]
    pub fn to_http<B: From<String>>(&self) -> http::Response<B> {
        use http::header;
        let mut response = http::Response::new(B::from(self.body()));
        *response.status_mut() =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::UNAUTHORIZED);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static(Self::CONTENT_TYPE),
        );
        headers.insert(
            header::CACHE_CONTROL,
            http::HeaderValue::from_static(Self::CACHE_CONTROL),
        );
        if let Some(value) = self
            .challenge()
            .and_then(|c| http::HeaderValue::from_str(c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

const TITLE_401: &str = "The request is not authenticated.";

/// The `WWW-Authenticate` value for a 401 with `code`: a `DPoP` challenge
/// naming the proof algorithms for the DPoP codes (RFC 9449 §7.1),
/// otherwise RFC 6750's `Bearer error="invalid_token"` with the code as its
/// description.
fn challenge(code: ErrorCode) -> String {
    match code {
        ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce => {
            format!("DPoP algs=\"{DPOP_ALGS}\", error=\"{}\"", code.as_str())
        }
        _ => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            code.as_str()
        ),
    }
}

impl ErrorCode {
    /// The `WWW-Authenticate` challenge for a 401 with this code, as
    /// [`Refusal`] writes it.
    pub fn challenge(self) -> String {
        challenge(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code has one answer: 503 for stale state (no challenge), 401
    /// with a challenge for the rest, DPoP-scheme for the DPoP codes.
    #[test]
    fn every_code_is_answered_one_way() {
        for code in ErrorCode::ALL {
            let refusal = Refusal::with_detail(code, "why");
            assert_eq!(refusal.code(), code.as_str());
            let body: serde_json::Value = serde_json::from_str(&refusal.body()).unwrap_or_default();
            assert_eq!(body["code"], code.as_str());
            assert_eq!(body["status"], refusal.status());
            assert_eq!(body["detail"], "why");
            match code {
                ErrorCode::RevocationStateStale => {
                    assert_eq!(refusal.status(), 503);
                    assert_eq!(refusal.challenge(), None);
                }
                ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce => {
                    assert_eq!(refusal.status(), 401);
                    assert!(
                        refusal
                            .challenge()
                            .is_some_and(|c| c.starts_with("DPoP algs="))
                    );
                }
                _ => {
                    assert_eq!(refusal.status(), 401);
                    assert!(
                        refusal
                            .challenge()
                            .is_some_and(|c| c.starts_with("Bearer error=\"invalid_token\""))
                    );
                }
            }
        }
    }

    /// A request without a token gets a bare Bearer challenge, and a DPoP
    /// challenge beside it when it carries a DPoP proof.
    #[test]
    fn a_missing_token_is_challenged_in_the_clients_schemes() {
        assert_eq!(Refusal::missing_token(false).challenge(), Some("Bearer"));
        assert_eq!(
            Refusal::missing_token(true).challenge(),
            Some("Bearer, DPoP algs=\"ES256 EdDSA Ed25519\"")
        );
        assert_eq!(Refusal::missing_token(true).status(), 401);
    }
}
