//! What crosses the boundary: coded errors, the options (JSON), the parts
//! of a request as JS hands them over, and the refusal of a request.

use js_sys::{Error, Reflect};
use tollgate_verifier::json::Object;
use tollgate_verifier::{
    ErrorCode, HostKind, HostOptions, Refusal, Request, RequestParts, Verified, VerifyError,
};
use wasm_bindgen::prelude::*;

/// The code thrown for problems in the arguments rather than the token.
pub(crate) const INVALID_OPTIONS: &str = "invalid_options";
#[cfg(feature = "native")]
pub(crate) const INVALID_JWKS: &str = "invalid_jwks";
#[cfg(feature = "native")]
pub(crate) const INVALID_FEED: &str = "invalid_feed";

/// The code for a request without any token (not a verifier code: there
/// was nothing to verify).
pub(crate) const MISSING_TOKEN: &str = "missing_token";

/// A JS `Error` with `code` set.
pub(crate) fn coded(code: &str, message: &str) -> JsValue {
    let error = Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

/// A verifier error as a coded JS error.
pub(crate) fn thrown(err: &VerifyError) -> JsValue {
    coded(err.code().as_str(), &err.to_string())
}

/// The options a JS host hands over (JSON), read and checked by the
/// verifier crate; `invalid_options` with its words if they are not usable.
pub(crate) fn host_options(json: &str, kind: HostKind) -> Result<HostOptions, JsValue> {
    HostOptions::from_json(json, kind).map_err(|err| coded(err.code(), &err.to_string()))
}

/// The claims as JSON, or the coded error.
pub(crate) fn claims_json(result: Result<Verified, VerifyError>) -> Result<String, JsValue> {
    match result {
        Ok(verified) => Ok(verified.claims().to_json()),
        Err(err) => Err(thrown(&err)),
    }
}

/// What a request presents, as the JS side passes it: the raw header
/// values (`authorization`, `cookie`, `dpop`), the method and the URL the
/// client addressed. The verifier crate reads the scheme, the token and
/// the proofs out of them, as every adapter does; throws `missing_token`
/// if they present no token.
pub(crate) fn request(
    authorization: Option<String>,
    cookie: Option<String>,
    dpop: Option<String>,
    method: &str,
    url: &str,
) -> Result<Request, JsValue> {
    let dpop: Vec<&str> = dpop.as_deref().into_iter().collect();
    RequestParts {
        authorization: authorization.as_deref(),
        cookie: cookie.as_deref(),
        dpop: &dpop,
        method,
        url,
    }
    .request()
    .ok_or_else(|| coded(MISSING_TOKEN, "a bearer or DPoP token is required"))
}

/// The answer to a refused request, as every tollgate adapter gives it: JSON
/// `{status, challenge, body}` for `code` (a verifier code, or
/// `missing_token`) and a detail safe to show. `dpop`: the request carried
/// a DPoP proof (a missing token is then also challenged with the DPoP
/// scheme). An unknown code is answered as `malformed`.
#[wasm_bindgen]
pub fn refusal(code: &str, detail: &str, dpop: bool) -> String {
    let refusal = if code == MISSING_TOKEN {
        Refusal::missing_token(dpop)
    } else {
        let code = ErrorCode::ALL
            .into_iter()
            .find(|known| known.as_str() == code)
            .unwrap_or(ErrorCode::Malformed);
        Refusal::with_detail(code, detail)
    };
    let mut answer = Object::new();
    answer
        .str("body", &refusal.body())
        .opt_str("challenge", refusal.challenge())
        .uint("status", u64::from(refusal.status()));
    answer.finish()
}

/// Milliseconds from JS (a `Date.now()`), saturating; NaN is 0.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) fn millis(ms: f64) -> u64 {
    ms as u64
}

#[allow(clippy::cast_precision_loss)] // Unix ms fit an f64 exactly for 280,000 years.
pub(crate) fn js_ms(ms: u64) -> f64 {
    ms as f64
}

/// Seconds from JS; `as` saturates, NaN becomes 0, which no token is valid at.
#[allow(clippy::cast_possible_truncation)]
#[cfg(feature = "native")]
pub(crate) fn secs(now_secs: f64) -> i64 {
    now_secs as i64
}

/// This instance's `WebAssembly.Memory`, through which JS reads the bytes
/// an attempt's signatures need (`Attempt.signatureAt`).
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// The `kid` a token's header names, if it can be read (proves nothing);
/// in both builds (`Verifier.peekKid` in JS).
#[wasm_bindgen(js_name = peekKid)]
pub fn peek_kid(token: &str) -> Option<String> {
    tollgate_verifier::Verifier::peek_kid(token)
}
