//! wasm-bindgen bindings of the tollgate verifier: the npm package
//! `tollgate-verifier` wraps this in a small ESM module (`js/`).
//!
//! The adapter is thin on purpose. Structured values cross the boundary as
//! JSON text (options, JWKS, feeds in; claims out), which keeps
//! serde-wasm-bindgen and its size out of the module; the JS wrapper parses
//! and stringifies. Errors are thrown as JS `Error`s carrying a `code`
//! property, the same codes as the Rust crate and the HTTP API.

use js_sys::{Error, Reflect};
use serde_json::json;
use tollgate_verifier::dpop::ReplayCache;
use tollgate_verifier::{
    Algorithm, ErrorCode, Fetch, FetchKind, KeySet, Outcome, PendingRequest, Presented,
    RevocationFeed, RevocationSet, SignatureCheck, Step, SyncOptions, Syncer, Verified,
    Verifier as Core, VerifierOptions, VerifyError,
};
use wasm_bindgen::prelude::*;

/// Codes thrown for problems in the arguments rather than the token.
const INVALID_OPTIONS: &str = "invalid_options";
const INVALID_JWKS: &str = "invalid_jwks";
const INVALID_FEED: &str = "invalid_feed";

/// The code for a request without any token (not a verifier code: there
/// was nothing to verify).
const MISSING_TOKEN: &str = "missing_token";

/// What a request presents, as the JS side passes it: the raw header values
/// (`authorization`, `cookie`, `dpop`), the method and the URL the client
/// addressed. The verifier crate reads the scheme and the token out of them,
/// as at the edge, so no wrapper parses `Authorization` itself.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestParts {
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

/// Verifies `request` (JSON [`RequestParts`]) with `verify`, which gets the
/// presented credentials; claims as JSON or a coded error.
fn verify_parts(
    request: &str,
    verify: impl FnOnce(&Presented<'_>) -> Result<Verified, VerifyError>,
) -> Result<String, JsValue> {
    with_presented(request, |presented| claims_json(verify(presented)))
}

/// Runs `f` on what `request` (JSON [`RequestParts`]) presents; throws
/// `missing_token` if it presents no token.
fn with_presented<T>(
    request: &str,
    f: impl FnOnce(&Presented<'_>) -> Result<T, JsValue>,
) -> Result<T, JsValue> {
    with_parts(&parse_parts(request)?, f)
}

fn parse_parts(request: &str) -> Result<RequestParts, JsValue> {
    parse(request, INVALID_OPTIONS)
}

/// `text` as JSON of `T`, or an `Error` with `code`.
fn parse<T: serde::de::DeserializeOwned>(text: &str, code: &str) -> Result<T, JsValue> {
    serde_json::from_str(text).map_err(|err| coded(code, &err.to_string()))
}

/// Runs `f` on what `parts` present; throws `missing_token` if no token.
fn with_parts<T>(
    parts: &RequestParts,
    f: impl FnOnce(&Presented<'_>) -> Result<T, JsValue>,
) -> Result<T, JsValue> {
    let Some((scheme, token)) =
        Core::credentials(parts.authorization.as_deref(), parts.cookie.as_deref())
    else {
        return Err(coded(MISSING_TOKEN, "a bearer or DPoP token is required"));
    };
    // Fetch joins repeated headers with ", "; a compact JWS holds no comma.
    let proofs: Vec<&str> = parts
        .dpop
        .as_deref()
        .map(|joined| joined.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let presented = Presented {
        scheme,
        token,
        proofs: &proofs,
        method: &parts.method,
        url: &parts.url,
    };
    f(&presented)
}

/// A request between `beginRequest` and `finishRequest`: the signatures
/// still to check, for JS to check with WebCrypto where the platform's is
/// faster (`which` is `"token"` or `"proof"`), or here (`verifyHere`).
///
/// It keeps the request's parts, so they cross into wasm once per request.
#[wasm_bindgen(js_name = PendingRequest)]
pub struct WasmPending {
    inner: PendingRequest,
    parts: RequestParts,
}

impl WasmPending {
    /// `which`: 0 for the token's signature, 1 for the proof's (a number,
    /// not a string: these calls run for every request). Another number is
    /// a caller's mistake and throws: read as "nothing to check", it would
    /// pass an unchecked signature.
    fn check(&self, which: u8) -> Result<Option<&SignatureCheck>, JsValue> {
        match which {
            0 => Ok(self.inner.token_check()),
            1 => Ok(self.inner.proof_check()),
            _ => Err(coded(
                INVALID_OPTIONS,
                "no such signature in a pending request",
            )),
        }
    }
}

#[wasm_bindgen(js_class = PendingRequest)]
impl WasmPending {
    /// The algorithm of the signature to check, or `undefined` if none.
    pub fn alg(&self, which: u8) -> Result<Option<String>, JsValue> {
        Ok(self.check(which)?.map(|c| c.algorithm().name().to_owned()))
    }

    /// The key to check it with, as JWK JSON.
    pub fn jwk(&self, which: u8) -> Result<Option<String>, JsValue> {
        Ok(self.check(which)?.map(|c| c.jwk_json().to_owned()))
    }

    /// The signed bytes.
    pub fn message(&self, which: u8) -> Result<Option<Vec<u8>>, JsValue> {
        Ok(self.check(which)?.map(|c| c.message().to_vec()))
    }

    /// The signature.
    pub fn signature(&self, which: u8) -> Result<Option<Vec<u8>>, JsValue> {
        Ok(self.check(which)?.map(|c| c.signature().to_vec()))
    }

    /// Checks the signature here, in wasm (where that is the faster way).
    #[wasm_bindgen(js_name = verifyHere)]
    pub fn verify_here(&self, which: u8) -> Result<bool, JsValue> {
        Ok(self.check(which)?.is_none_or(SignatureCheck::verify))
    }
}

fn claims_json(result: Result<Verified, VerifyError>) -> Result<String, JsValue> {
    match result {
        Ok(verified) => serde_json::to_string(verified.claims())
            .map_err(|err| coded(INVALID_OPTIONS, &err.to_string())),
        Err(err) => Err(coded(err.code().as_str(), &err.to_string())),
    }
}

/// The `WWW-Authenticate` challenge for a 401 with `code` (the verifier
/// crate's, so every adapter answers alike); `Bearer` for `missing_token`.
#[wasm_bindgen]
pub fn challenge(code: &str) -> String {
    ErrorCode::ALL
        .iter()
        .find(|known| known.as_str() == code)
        .map_or_else(|| "Bearer".to_owned(), |known| known.challenge())
}

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

impl Options {
    /// The verifier's options, checked.
    fn verifier_options(&self) -> Result<VerifierOptions, JsValue> {
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
        Ok(core)
    }
}

/// Milliseconds from JS (a `Date.now()`), saturating; NaN is 0.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn millis(ms: f64) -> u64 {
    ms as u64
}

#[allow(clippy::cast_precision_loss)] // Unix ms fit an f64 exactly for 280,000 years.
fn js_ms(ms: u64) -> f64 {
    ms as f64
}

/// Verifies tollgate access tokens and holds the revocation state.
#[wasm_bindgen(js_name = Verifier)]
pub struct WasmVerifier {
    core: Core,
    revocations: RevocationSet,
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
        Ok(WasmVerifier {
            core: Core::new(
                options.verifier_options()?,
                key_set(&options.jwks.to_string())?,
            ),
            revocations: RevocationSet::new(),
            replays: ReplayCache::default(),
        })
    }

    /// Verifies `token` at `now_secs` (Unix seconds); returns the claims as
    /// JSON, or throws an `Error` whose `code` says why not.
    pub fn verify(&self, token: &str, now_secs: f64) -> Result<String, JsValue> {
        // `as` saturates; NaN becomes 0, which no token is valid at.
        #[allow(clippy::cast_possible_truncation)]
        let now = now_secs as i64;
        claims_json(self.core.verify(token, now, &self.revocations))
    }

    /// Verifies what a request presents (JSON `{authorization, cookie,
    /// dpop, method, url}`), a DPoP proof included, at `now_secs`; claims
    /// as JSON, or a coded error (`missing_token` when there is no token).
    #[wasm_bindgen(js_name = verifyRequest)]
    pub fn verify_request(&mut self, request: &str, now_secs: f64) -> Result<String, JsValue> {
        #[allow(clippy::cast_possible_truncation)]
        let now = now_secs as i64;
        let WasmVerifier {
            core,
            revocations,
            replays,
        } = self;
        verify_parts(request, |presented| {
            core.verify_request(presented, now, revocations, replays)
        })
    }

    /// Applies one page of the revocation feed (JSON).
    #[wasm_bindgen(js_name = applyRevocations)]
    pub fn apply_revocations(&mut self, feed: &str) -> Result<(), JsValue> {
        let page: RevocationFeed = parse(feed, INVALID_FEED)?;
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

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SyncerOptions {
    issuer: String,
    audience: String,
    #[serde(default)]
    algorithms: Option<Vec<String>>,
    #[serde(default)]
    leeway_secs: Option<u32>,
    #[serde(default)]
    cache_capacity: Option<usize>,
    max_age_ms: u64,
    fail_after_ms: u64,
    #[serde(default)]
    refresh_ahead_ms: Option<u64>,
    #[serde(default)]
    request_timeout_ms: Option<u64>,
    #[serde(default)]
    jwks_cooldown_ms: Option<u64>,
}

/// The verifier crate's sync policy (`Syncer`): it says which fetch to make
/// and when a token may be checked; `createVerifier` in `api.js` performs
/// the fetches. Steps and fetches cross as JSON text.
#[wasm_bindgen(js_name = Syncer)]
pub struct WasmSyncer {
    core: Syncer,
}

fn fetch_json(fetch: &Fetch) -> serde_json::Value {
    json!({
        "id": fetch.id,
        "jwks": fetch.kind == FetchKind::Jwks,
        "path": fetch.path,
        "deadlineMs": js_ms(fetch.deadline_ms),
    })
}

fn fetch_text(fetch: Option<Fetch>) -> Option<String> {
    fetch.map(|fetch| fetch_json(&fetch).to_string())
}

#[wasm_bindgen(js_class = Syncer)]
impl WasmSyncer {
    /// `options` is JSON: `{issuer, audience, maxAgeMs, failAfterMs,
    /// refreshAheadMs?, requestTimeoutMs?, jwksCooldownMs?, algorithms?,
    /// leewaySecs?, cacheCapacity?}`. Settings that would fail open throw
    /// `invalid_options`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: &str) -> Result<WasmSyncer, JsValue> {
        let o: SyncerOptions = parse(options, INVALID_OPTIONS)?;
        let verifier = Options {
            issuer: o.issuer,
            audience: o.audience,
            jwks: serde_json::Value::Null,
            algorithms: o.algorithms,
            leeway_secs: o.leeway_secs,
            cache_capacity: o.cache_capacity,
        }
        .verifier_options()?;
        let mut sync = SyncOptions::new(o.max_age_ms, o.fail_after_ms);
        if let Some(ms) = o.refresh_ahead_ms {
            sync.refresh_ahead_ms = ms;
        }
        if let Some(ms) = o.request_timeout_ms {
            sync.request_timeout_ms = ms;
        }
        if let Some(ms) = o.jwks_cooldown_ms {
            sync.jwks_cooldown_ms = ms;
        }
        let core =
            Syncer::new(sync, verifier).map_err(|err| coded(err.code(), &err.to_string()))?;
        Ok(WasmSyncer { core })
    }

    /// What a request that arrived at `arrived_ms` does next: `undefined`
    /// when a token may be checked at once with nothing else to
    /// do (the common case); otherwise JSON: `{"action":"ready","refresh":F?}`,
    /// `{"action":"fetch","fetch":F}`, `{"action":"wait","untilMs":n}` or
    /// `{"action":"stale","reason":s,"refresh":F?}`, where `F` is
    /// `{id, jwks, path, deadlineMs}`.
    pub fn step(&mut self, now_ms: f64, arrived_ms: f64) -> Option<String> {
        let now = millis(now_ms);
        if self.core.is_fresh(now) {
            return None;
        }
        let step = match self.core.step(now, millis(arrived_ms)) {
            Step::Ready { refresh } => {
                json!({"action": "ready", "refresh": refresh.as_ref().map(fetch_json)})
            }
            Step::Fetch(fetch) => json!({"action": "fetch", "fetch": fetch_json(&fetch)}),
            Step::Wait { until_ms } => json!({"action": "wait", "untilMs": js_ms(until_ms)}),
            Step::Stale { reason, refresh } => json!({
                "action": "stale", "reason": reason, "refresh": refresh.as_ref().map(fetch_json),
            }),
        };
        Some(step.to_string())
    }

    /// Reports fetch `id`: `ok` with the body `text`, or failed with `text`
    /// saying why. Returns the next fetch of the same sync (JSON), if any.
    #[wasm_bindgen(js_name = onResponse)]
    pub fn on_response(&mut self, id: f64, now_ms: f64, ok: bool, text: &str) -> Option<String> {
        let outcome = if ok {
            Outcome::Body {
                text,
                observed_ms: None,
            }
        } else {
            Outcome::Failed(text)
        };
        fetch_text(self.core.on_response(millis(id), millis(now_ms), outcome))
    }

    /// Verifies `token` at `now_ms`; returns the claims as JSON or throws a
    /// coded `Error`.
    pub fn verify(&self, token: &str, now_ms: f64) -> Result<String, JsValue> {
        claims_json(self.core.verify(token, millis(now_ms)))
    }

    /// Verifies what a request presents (JSON `{authorization, cookie,
    /// dpop, method, url}`), a DPoP proof included, at `now_ms`; claims as
    /// JSON or a coded error (`missing_token` when there is no token).
    #[wasm_bindgen(js_name = verifyRequest)]
    pub fn verify_request(&self, request: &str, now_ms: f64) -> Result<String, JsValue> {
        verify_parts(request, |presented| {
            self.core.verify_request(presented, millis(now_ms))
        })
    }

    /// The first half of `verifyRequest` (JSON `{authorization, cookie,
    /// dpop, method, url}`), for checking the signatures with WebCrypto:
    /// what can be decided before them, and a `PendingRequest` naming them.
    #[wasm_bindgen(js_name = beginRequest)]
    pub fn begin_request(&self, request: &str, now_ms: f64) -> Result<WasmPending, JsValue> {
        self.begin(parse_parts(request)?, now_ms)
    }

    /// [`beginRequest`](Self::begin_request) for a token presented as
    /// Bearer, without the JSON of request parts.
    #[wasm_bindgen(js_name = beginToken)]
    pub fn begin_token(&self, token: &str, now_ms: f64) -> Result<WasmPending, JsValue> {
        let parts = RequestParts {
            authorization: Some(format!("Bearer {token}")),
            cookie: None,
            dpop: None,
            method: String::new(),
            url: String::new(),
        };
        self.begin(parts, now_ms)
    }

    fn begin(&self, parts: RequestParts, now_ms: f64) -> Result<WasmPending, JsValue> {
        let inner = with_parts(&parts, |presented| {
            self.core
                .begin_request(presented, millis(now_ms))
                .map_err(|err| coded(err.code().as_str(), &err.to_string()))
        })?;
        Ok(WasmPending { inner, parts })
    }

    /// The second half: with whether each signature verified, the claims as
    /// JSON, or a coded error; `undefined` if the keys changed since
    /// `beginRequest` (begin again). `pending` is used up.
    #[wasm_bindgen(js_name = finishRequest)]
    pub fn finish_request(
        &self,
        pending: WasmPending,
        token_ok: bool,
        proof_ok: bool,
        now_ms: f64,
    ) -> Result<Option<String>, JsValue> {
        let WasmPending { inner, parts } = pending;
        with_parts(&parts, |presented| {
            match self.core.finish_request(
                presented,
                inner,
                token_ok,
                proof_ok,
                millis(now_ms),
                true,
            ) {
                None => Ok(None),
                Some(result) => claims_json(result).map(Some),
            }
        })
    }

    /// After `unknown_kid`: a JWKS fetch to make (JSON), or `undefined` while
    /// the cooldown runs.
    #[wasm_bindgen(js_name = refetchKeys)]
    pub fn refetch_keys(&mut self, now_ms: f64) -> Option<String> {
        fetch_text(self.core.refetch_keys(millis(now_ms)))
    }

    /// Starts a sync now (JSON fetch), or `undefined` if one is in flight.
    #[wasm_bindgen(js_name = syncNow)]
    pub fn sync_now(&mut self, now_ms: f64) -> Option<String> {
        fetch_text(self.core.sync_now(millis(now_ms)))
    }

    /// Whether a fetch is in flight.
    #[wasm_bindgen(js_name = inFlight)]
    pub fn in_flight(&self, now_ms: f64) -> bool {
        self.core.in_flight(millis(now_ms))
    }

    /// Whether a key with this id is loaded.
    #[wasm_bindgen(js_name = hasKid)]
    pub fn has_kid(&self, kid: &str) -> bool {
        self.core.has_kid(kid)
    }

    /// `{cursor, revoked, ageMs, keysVersion, syncing, lastError}` as JSON.
    pub fn status(&self, now_ms: f64) -> String {
        let status = self.core.status(millis(now_ms));
        json!({
            "cursor": status.cursor,
            "revoked": status.revoked,
            "ageMs": status.age_ms.map(js_ms),
            "keysVersion": status.keys_version,
            "syncing": status.syncing,
            "lastError": status.last_error,
        })
        .to_string()
    }
}
