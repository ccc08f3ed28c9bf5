//! wasm-bindgen bindings of the tollgate verifier: the npm package
//! `tollgate-verifier` wraps this in a small ESM module (`js/`).
//!
//! The adapter is thin on purpose. Structured values cross the boundary as
//! JSON text (options, JWKS, feeds in; claims out), which keeps
//! serde-wasm-bindgen and its size out of the module; the JS wrapper parses
//! and stringifies. Errors are thrown as JS `Error`s carrying a `code`
//! property, the same codes as the Rust crate and the HTTP API.

use js_sys::{Error, Reflect};
use serde::Deserialize as _;
use tollgate_verifier::{
    Algorithm, KeySet, RevocationFeed, RevocationSet, Verifier as Core, VerifierOptions,
};
use wasm_bindgen::prelude::*;

/// Codes thrown for problems in the arguments rather than the token.
const INVALID_OPTIONS: &str = "invalid_options";
const INVALID_JWKS: &str = "invalid_jwks";
const INVALID_FEED: &str = "invalid_feed";

/// A JS `Error` with `code` set.
fn coded(code: &str, message: &str) -> JsValue {
    let error = Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    issuer: String,
    audience: String,
    jwks: serde_json::Value,
    #[serde(default)]
    algorithms: Option<Vec<String>>,
    #[serde(default)]
    leeway_secs: Option<u32>,
    #[serde(default)]
    cache_capacity: Option<usize>,
}

/// Verifies tollgate access tokens and holds the revocation state.
#[wasm_bindgen(js_name = Verifier)]
pub struct WasmVerifier {
    core: Core,
    revocations: RevocationSet,
}

fn key_set(jwks: &str) -> Result<KeySet, JsValue> {
    KeySet::from_json(jwks).map_err(|err| coded(INVALID_JWKS, &err.to_string()))
}

#[wasm_bindgen(js_class = Verifier)]
impl WasmVerifier {
    /// `options` is JSON: `{issuer, audience, jwks, algorithms?, leewaySecs?,
    /// cacheCapacity?}`, where `jwks` is a JWKS document (object).
    #[wasm_bindgen(constructor)]
    pub fn new(options: &str) -> Result<WasmVerifier, JsValue> {
        let options = Options::deserialize(&mut serde_json::Deserializer::from_str(options))
            .map_err(|err| coded(INVALID_OPTIONS, &err.to_string()))?;
        let mut core_options = VerifierOptions::new(options.issuer, options.audience);
        if let Some(names) = options.algorithms {
            core_options.algorithms = names
                .iter()
                .map(|name| {
                    Algorithm::from_name(name).ok_or_else(|| {
                        coded(INVALID_OPTIONS, &format!("unsupported algorithm `{name}`"))
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(leeway) = options.leeway_secs {
            core_options.leeway_secs = leeway;
        }
        if let Some(capacity) = options.cache_capacity {
            core_options.cache_capacity = capacity;
        }
        Ok(WasmVerifier {
            core: Core::new(core_options, key_set(&options.jwks.to_string())?),
            revocations: RevocationSet::new(),
        })
    }

    /// Verifies `token` at `now_secs` (Unix seconds); returns the claims as
    /// JSON, or throws an `Error` whose `code` says why not.
    pub fn verify(&self, token: &str, now_secs: f64) -> Result<String, JsValue> {
        // `as` saturates; NaN becomes 0, which no token is valid at.
        #[allow(clippy::cast_possible_truncation)]
        let now = now_secs as i64;
        match self.core.verify(token, now, &self.revocations) {
            Ok(verified) => serde_json::to_string(verified.claims())
                .map_err(|err| coded(INVALID_OPTIONS, &err.to_string())),
            Err(err) => Err(coded(err.code().as_str(), &err.to_string())),
        }
    }

    /// Applies one page of the revocation feed (JSON).
    #[wasm_bindgen(js_name = applyRevocations)]
    pub fn apply_revocations(&mut self, feed: &str) -> Result<(), JsValue> {
        let page: RevocationFeed =
            serde_json::from_str(feed).map_err(|err| coded(INVALID_FEED, &err.to_string()))?;
        self.revocations.apply(&page);
        Ok(())
    }

    /// Drops revocations whose `until` is before `before_secs`; returns how many.
    pub fn prune(&mut self, before_secs: f64) -> usize {
        #[allow(clippy::cast_possible_truncation)]
        self.revocations.prune(before_secs as i64)
    }

    /// Replaces the keys with a JWKS document (JSON).
    #[wasm_bindgen(js_name = setKeys)]
    pub fn set_keys(&mut self, jwks: &str) -> Result<(), JsValue> {
        self.core.set_keys(key_set(jwks)?);
        Ok(())
    }

    /// Whether a key with this id is loaded.
    #[wasm_bindgen(js_name = hasKid)]
    pub fn has_kid(&self, kid: &str) -> bool {
        self.core.keys().contains_kid(kid)
    }

    /// The `kid` a token's header names, if it can be read (proves nothing).
    #[wasm_bindgen(js_name = peekKid)]
    pub fn peek_kid(token: &str) -> Option<String> {
        Core::peek_kid(token)
    }

    /// The feed cursor to ask for next, if any page was applied.
    #[wasm_bindgen(getter)]
    pub fn cursor(&self) -> Option<String> {
        self.revocations.cursor().map(str::to_owned)
    }

    /// How many revocations are held.
    #[wasm_bindgen(getter, js_name = revokedCount)]
    pub fn revoked_count(&self) -> usize {
        self.revocations.len()
    }
}
