//! The synchronous `Verifier` class: the caller hands it keys and feed
//! pages, and it judges tokens at the time the caller says.

use tollgate_verifier::dpop::ReplayCache;
use tollgate_verifier::{Follower, KeySet, Replay, RevocationFeed, Verifier as Core};
use wasm_bindgen::prelude::*;

use crate::js::{
    INVALID_FEED, INVALID_JWKS, INVALID_OPTIONS, JsVerifierOptions, claims_json, coded, no_unknown,
    parse, request, secs,
};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Options {
    jwks: serde_json::Value,
    #[serde(flatten)]
    verifier: JsVerifierOptions,
    /// Whatever is left: refused ([`crate::js::no_unknown`]).
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Verifies tollgate access tokens and holds the revocation state.
#[wasm_bindgen(js_name = Verifier)]
pub struct WasmVerifier {
    core: Core,
    feed: Follower,
    replays: ReplayCache,
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
        let options: Options = parse(options, INVALID_OPTIONS)?;
        no_unknown(&options.rest)?;
        Ok(WasmVerifier {
            core: Core::new(
                options.verifier.options()?,
                key_set(&options.jwks.to_string())?,
            ),
            feed: Follower::new(),
            replays: ReplayCache::default(),
        })
    }

    /// Verifies `token` at `now_secs` (Unix seconds); returns the claims as
    /// JSON, or throws an `Error` whose `code` says why not.
    pub fn verify(&self, token: &str, now_secs: f64) -> Result<String, JsValue> {
        claims_json(self.core.verify(token, secs(now_secs), self.feed.live()))
    }

    /// Verifies what a request presents (JSON `{authorization, cookie,
    /// dpop, method, url}`), a DPoP proof included, at `now_secs`; claims
    /// as JSON, or a coded error (`missing_token` when there is no token).
    #[wasm_bindgen(js_name = verifyRequest)]
    pub fn verify_request(&mut self, parts: &str, now_secs: f64) -> Result<String, JsValue> {
        let request = request(parts)?;
        claims_json(self.core.verify_request(
            request,
            secs(now_secs),
            self.feed.live(),
            Replay::Record(&mut self.replays),
        ))
    }

    /// Applies one page of the revocation feed (JSON). A snapshot's pages
    /// are gathered apart and replace the held set only once its last page
    /// (`more: false`) has arrived.
    #[wasm_bindgen(js_name = applyRevocations)]
    pub fn apply_revocations(&mut self, feed: &str) -> Result<(), JsValue> {
        let page: RevocationFeed = parse(feed, INVALID_FEED)?;
        self.feed.apply(&page);
        Ok(())
    }

    /// Drops revocations whose `until` is before `before_secs`; returns how many.
    pub fn prune(&mut self, before_secs: f64) -> usize {
        self.feed.prune(secs(before_secs))
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

    /// The feed cursor to ask for next, if any page was applied.
    #[wasm_bindgen(getter)]
    pub fn cursor(&self) -> Option<String> {
        self.feed.cursor().map(str::to_owned)
    }

    /// How many revocations are held.
    #[wasm_bindgen(getter, js_name = revokedCount)]
    pub fn revoked_count(&self) -> usize {
        self.feed.live().len()
    }
}
