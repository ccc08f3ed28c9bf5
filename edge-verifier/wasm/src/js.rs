//! What crosses the boundary: coded errors, JSON arguments, the parts of a
//! request as JS hands them over, and the refusal of a request.

use js_sys::{Error, Reflect};
use tollgate_verifier::{
    Algorithm, ErrorCode, Refusal, Request, RequestParts, Verified, VerifierOptions, VerifyError,
};
use wasm_bindgen::prelude::*;

/// Codes thrown for problems in the arguments rather than the token.
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

/// `text` as JSON of `T` (nothing after it), or an `Error` with `code`.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(text: &str, code: &str) -> Result<T, JsValue> {
    serde_json::from_str(text).map_err(|err| coded(code, &err.to_string()))
}

/// Refuses options left over after the known ones were taken (a typo'd
/// option must not be ignored in silence). With `#[serde(flatten)]`,
/// `deny_unknown_fields` does not work, so each options type collects the
/// rest and asks this.
pub(crate) fn no_unknown(
    rest: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<(), JsValue> {
    match rest.keys().next() {
        None => Ok(()),
        Some(name) => Err(coded(INVALID_OPTIONS, &format!("unknown option `{name}`"))),
    }
}

/// The claims as JSON, or the coded error.
pub(crate) fn claims_json(result: Result<Verified, VerifyError>) -> Result<String, JsValue> {
    match result {
        Ok(verified) => serde_json::to_string(verified.claims())
            .map_err(|err| coded(INVALID_OPTIONS, &err.to_string())),
        Err(err) => Err(thrown(&err)),
    }
}

/// What a request presents, as the JS side passes it: the raw header values
/// (`authorization`, `cookie`, `dpop`), the method and the URL the client
/// addressed. The verifier crate reads the scheme, the token and the proofs
/// out of them, as every adapter does.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsParts {
    #[serde(default)]
    authorization: Option<String>,
    #[serde(default)]
    cookie: Option<String>,
    #[serde(default)]
    dpop: Option<String>,
    #[serde(default)]
    method: String,
    #[serde(default)]
    url: String,
}

/// The request `parts` (JSON [`JsParts`]) present; throws `missing_token`
/// if they present no token.
pub(crate) fn request(parts: &str) -> Result<Request, JsValue> {
    let parts: JsParts = parse(parts, INVALID_OPTIONS)?;
    let dpop: Vec<&str> = parts.dpop.as_deref().into_iter().collect();
    RequestParts {
        authorization: parts.authorization.as_deref(),
        cookie: parts.cookie.as_deref(),
        dpop: &dpop,
        method: &parts.method,
        url: &parts.url,
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
    serde_json::json!({
        "status": refusal.status(),
        "challenge": refusal.challenge(),
        "body": refusal.body(),
    })
    .to_string()
}

/// The verifier options JS may set, shared by both classes.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct JsVerifierOptions {
    issuer: String,
    audience: String,
    #[serde(default)]
    algorithms: Option<Vec<String>>,
    #[serde(default)]
    leeway_secs: Option<u32>,
    #[serde(default)]
    cache_capacity: Option<usize>,
}

impl JsVerifierOptions {
    /// The verifier's options, checked.
    pub(crate) fn options(&self) -> Result<VerifierOptions, JsValue> {
        let mut core = VerifierOptions::new(&self.issuer, &self.audience);
        if let Some(names) = &self.algorithms {
            core.algorithms = names
                .iter()
                .map(|name| {
                    Algorithm::from_name(name).ok_or_else(|| {
                        coded(INVALID_OPTIONS, &format!("unsupported algorithm `{name}`"))
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(leeway) = self.leeway_secs {
            core.leeway_secs = leeway;
        }
        if let Some(capacity) = self.cache_capacity {
            core.cache_capacity = capacity;
        }
        core.check()
            .map_err(|err| coded(err.code(), &err.to_string()))?;
        Ok(core)
    }
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

/// The `kid` a token's header names, if it can be read (proves nothing);
/// in both builds (`Verifier.peekKid` in JS).
#[wasm_bindgen(js_name = peekKid)]
pub fn peek_kid(token: &str) -> Option<String> {
    tollgate_verifier::Verifier::peek_kid(token)
}
