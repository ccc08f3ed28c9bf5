//! The synchronous `Verifier` class: the caller hands it keys and feed
//! pages, and it judges tokens at the time the caller says.

use tollgate_verifier::dpop::ReplayCache;
use tollgate_verifier::{Follower, HostKind, KeySet, Replay, RevocationFeed, Verifier as Core};
use wasm_bindgen::prelude::*;

use crate::js::{INVALID_FEED, INVALID_JWKS, claims_json, coded, host_options, request, secs};

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
        let options = host_options(options, HostKind::Keys)?;
        let jwks = options.jwks.as_deref().unwrap_or_default();
        Ok(WasmVerifier {
            core: Core::new(options.verifier, key_set(jwks)?),
            feed: Follower::new(),
            replays: ReplayCache::default(),
        })
    }

    /// Verifies `token` at `now_secs` (Unix seconds); returns the claims as
    /// JSON, or throws an `Error` whose `code` says why not.
    pub fn verify(&self, token: &str, now_secs: f64) -> Result<String, JsValue> {
        claims_json(self.core.verify(token, secs(now_secs), self.feed.live()))
    }

    /// Verifies what a request presents (its `Authorization`, `Cookie` and
    /// `DPoP` headers, method and URL), a DPoP proof included, at
    /// `now_secs`; claims as JSON, or a coded error (`missing_token` when
    /// there is no token).
    #[wasm_bindgen(js_name = verifyRequest)]
    pub fn verify_request(
        &mut self,
        authorization: Option<String>,
        cookie: Option<String>,
        dpop: Option<String>,
        method: &str,
        url: &str,
        now_secs: f64,
    ) -> Result<String, JsValue> {
        let request = request(authorization, cookie, dpop, method, url)?;
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
        let page =
            RevocationFeed::from_json(feed).map_err(|err| coded(INVALID_FEED, &err.to_string()))?;
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
