//! The `Syncer` class: the verifier crate's sync policy, decided in Rust;
//! `createVerifier` in `api.js` only performs what it says. A request (or an
//! explicit sync) is an `Attempt`; `syncer.advance(attempt, now)` says what
//! to do next ([`Action`]), and the attempt carries what that needs: the
//! fetch to spawn, the time to sleep until, the signatures to check, the
//! answer.

use tollgate_verifier::json::Object;
use tollgate_verifier::{
    Admission, Algorithm, Catchup, Fetch, FetchKind, HostKind, Next, Outcome, ReplayMode, Request,
    SignatureCheck, Syncer, Verdicts, Verified, VerifyError,
};
use wasm_bindgen::prelude::*;

use crate::js::{INVALID_OPTIONS, claims_json, coded, host_options, js_ms, millis, request};

/// What JS does next for an `Attempt`.
#[wasm_bindgen]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Answered: read `attempt.claims()` (or `attempt.result()` for a sync).
    Done = 0,
    /// Start `attempt.fetch()` detached from the request (a promise nobody
    /// cancels, handed to `waitUntil` in Workers), then advance again.
    Spawn = 1,
    /// Sleep until `attempt.untilMs`, then advance again.
    Sleep = 2,
    /// Check the signatures the attempt holds, report with
    /// `attempt.checked(tokenOk, proofOk)`, and advance again.
    Check = 3,
}

/// A signature's algorithm, as `attempt.alg` hands it to JS: `Alg[code]`
/// is its JOSE name.
#[wasm_bindgen]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// Ed25519.
    EdDSA = 0,
    /// ECDSA P-256 with SHA-256.
    ES256 = 1,
    /// HMAC with SHA-256.
    HS256 = 2,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256 = 3,
    /// RSASSA-PSS with SHA-256.
    PS256 = 4,
}

impl Alg {
    /// `None` for an algorithm added to the crate and not yet here: JS then
    /// checks nothing, and a signature not checked does not verify.
    fn of(algorithm: Algorithm) -> Option<Self> {
        Some(match algorithm {
            Algorithm::EdDsa => Alg::EdDSA,
            Algorithm::Es256 => Alg::ES256,
            Algorithm::Hs256 => Alg::HS256,
            Algorithm::Rs256 => Alg::RS256,
            Algorithm::Ps256 => Alg::PS256,
            _ => return None,
        })
    }
}

/// Which signature of an attempt.
#[wasm_bindgen]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// The access token's.
    Token = 0,
    /// The DPoP proof's.
    Proof = 1,
}

/// The verifier crate's sync policy (`Syncer`).
#[wasm_bindgen(js_name = Syncer)]
pub struct WasmSyncer {
    core: Syncer,
}

enum Goal {
    Verify(Admission),
    Catchup(Catchup),
}

/// One request's (or one sync's) way through the syncer.
#[wasm_bindgen(js_name = Attempt)]
pub struct WasmAttempt {
    goal: Goal,
    fetch: Option<Fetch>,
    until_ms: u64,
    answer: Option<Result<String, JsValue>>,
}

fn fetch_json(fetch: &Fetch) -> String {
    let mut object = Object::new();
    object
        .uint("id", fetch.id)
        .bool("jwks", fetch.kind == FetchKind::Jwks)
        .str("path", &fetch.path)
        .uint("deadlineMs", fetch.deadline_ms);
    object.finish()
}

impl WasmAttempt {
    fn new(goal: Goal) -> Self {
        WasmAttempt {
            goal,
            fetch: None,
            until_ms: 0,
            answer: None,
        }
    }

    fn check(&self, which: Signature) -> Option<&SignatureCheck> {
        let Goal::Verify(admission) = &self.goal else {
            return None;
        };
        let pending = admission.pending()?;
        match which {
            Signature::Token => pending.token_check(),
            Signature::Proof => pending.proof_check(),
        }
    }

    /// Records what `next` says; the action for JS.
    fn take<T>(
        &mut self,
        next: Next<T>,
        done: impl FnOnce(T) -> Result<String, JsValue>,
    ) -> Action {
        match next {
            Next::Spawn(fetch) => {
                self.fetch = Some(fetch);
                Action::Spawn
            }
            Next::Sleep { until_ms } => {
                self.until_ms = until_ms;
                Action::Sleep
            }
            Next::Check => Action::Check,
            Next::Done(result) => {
                self.answer = Some(done(result));
                Action::Done
            }
        }
    }
}

#[wasm_bindgen(js_class = Attempt)]
impl WasmAttempt {
    /// After `Spawn`: the fetch, as JSON `{id, jwks, path, deadlineMs}`.
    pub fn fetch(&self) -> Option<String> {
        self.fetch.as_ref().map(fetch_json)
    }

    /// After `Sleep`: until when (Unix ms).
    #[wasm_bindgen(getter, js_name = untilMs)]
    pub fn until_ms(&self) -> f64 {
        js_ms(self.until_ms)
    }

    /// After `Check`: the algorithm of that signature (its JOSE name is
    /// `Alg[code]`), or `undefined` if there is none to check. A number, so
    /// that no string is made and decoded for each signature.
    pub fn alg(&self, which: Signature) -> Option<Alg> {
        self.check(which).and_then(|c| Alg::of(c.algorithm()))
    }

    /// The key's number, unique in this process and never reused: the
    /// token's key is looked up by it among the keys JS imported, without
    /// its JWK text crossing over for every token.
    #[wasm_bindgen(js_name = keySerial)]
    pub fn key_serial(&self, which: Signature) -> Option<f64> {
        // Exact below 2^53: a process parses fewer keys than that.
        self.check(which).map(|c| c.key_serial() as f64)
    }

    /// The key to check it with, as JWK JSON.
    pub fn jwk(&self, which: Signature) -> Option<String> {
        self.check(which).map(|c| c.jwk_json().to_owned())
    }

    /// Where signature `which` lies in the module's memory (`wasmMemory()`),
    /// for JS to read through a view rather than a copy: valid until the
    /// attempt is `checked` or freed, and while no other call into the
    /// module runs. WebCrypto copies what it is handed when called, so a
    /// view passed straight to `crypto.subtle.verify` is enough. 0 if there
    /// is none to check.
    #[wasm_bindgen(js_name = signatureAt)]
    pub fn signature_at(&self, which: Signature) -> usize {
        self.check(which)
            .map_or(0, |c| c.signature().as_ptr() as usize)
    }

    /// How many bytes the signature at `signatureAt(which)` has.
    #[wasm_bindgen(js_name = signatureLength)]
    pub fn signature_length(&self, which: Signature) -> usize {
        self.check(which).map_or(0, |c| c.signature().len())
    }

    /// Where the signed bytes (`header.payload` as sent) of signature
    /// `which` lie in the module's memory, as `signatureAt`.
    #[wasm_bindgen(js_name = messageAt)]
    pub fn message_at(&self, which: Signature) -> usize {
        self.check(which)
            .map_or(0, |c| c.message().as_ptr() as usize)
    }

    /// How many signed bytes there are at `messageAt(which)`.
    #[wasm_bindgen(js_name = messageLength)]
    pub fn message_length(&self, which: Signature) -> usize {
        self.check(which).map_or(0, |c| c.message().len())
    }

    /// Checks the signature here, in wasm (where that is the faster way).
    /// Only in the full build: the lean one leaves every signature to
    /// WebCrypto, and has no `verifyHere` for JS to call.
    #[cfg(feature = "native")]
    #[wasm_bindgen(js_name = verifyHere)]
    pub fn verify_here(&self, which: Signature) -> bool {
        self.check(which).is_some_and(SignatureCheck::verify)
    }

    /// The verdicts on the signatures `Check` asked for: `true`, `false`,
    /// or `undefined` for one not checked (which then does not verify).
    pub fn checked(&mut self, token: Option<bool>, proof: Option<bool>) {
        if let Goal::Verify(admission) = &mut self.goal {
            admission.checked(Verdicts { token, proof });
        }
    }

    /// After `Done`, for a verification: the claims as JSON, or throws the
    /// coded error.
    pub fn claims(&mut self) -> Result<String, JsValue> {
        self.answer
            .take()
            .unwrap_or_else(|| Err(coded(INVALID_OPTIONS, "the attempt has not answered")))
    }
}

#[wasm_bindgen(js_class = Syncer)]
impl WasmSyncer {
    /// `options` is JSON: `{issuer, audience, algorithms?, leewaySecs?,
    /// cacheCapacity?}` and the sync settings (`maxAgeMs`, `failAfterMs`,
    /// `refreshAheadMs`, `requestTimeoutMs`, `retryAfterMs`,
    /// `jwksCooldownMs`; each optional, the crate's defaults otherwise).
    /// Settings that would fail open, and unknown options, throw
    /// `invalid_options`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: &str) -> Result<WasmSyncer, JsValue> {
        let options = host_options(options, HostKind::Sync)?;
        let invalid = |err: tollgate_verifier::ConfigError| coded(err.code(), &err.to_string());
        let sync = options.sync.options().map_err(invalid)?;
        let core = Syncer::new(sync, options.verifier).map_err(invalid)?;
        Ok(WasmSyncer { core })
    }

    /// An attempt to verify `token`, presented as Bearer, arrived at `now_ms`.
    #[wasm_bindgen(js_name = admitToken)]
    pub fn admit_token(&self, token: &str, now_ms: f64) -> WasmAttempt {
        self.admit(Request::bearer(token), now_ms)
    }

    /// An attempt to verify what a request presents (its `Authorization`,
    /// `Cookie` and `DPoP` headers, method and URL), arrived at `now_ms`;
    /// throws `missing_token` when there is no token at all.
    #[wasm_bindgen(js_name = admitRequest)]
    pub fn admit_request(
        &self,
        authorization: Option<String>,
        cookie: Option<String>,
        dpop: Option<String>,
        method: &str,
        url: &str,
        now_ms: f64,
    ) -> Result<WasmAttempt, JsValue> {
        let request = request(authorization, cookie, dpop, method, url)?;
        Ok(self.admit(request, now_ms))
    }

    fn admit(&self, request: Request, now_ms: f64) -> WasmAttempt {
        let admission = Admission::new(request, millis(now_ms), ReplayMode::Record);
        WasmAttempt::new(Goal::Verify(admission))
    }

    /// An attempt that ends once the state may be used (the first sync).
    #[wasm_bindgen(js_name = untilUsable)]
    pub fn until_usable(&self, now_ms: f64) -> WasmAttempt {
        WasmAttempt::new(Goal::Catchup(Catchup::usable(millis(now_ms))))
    }

    /// An attempt that pulls the feed now (or waits for the sync in flight).
    #[wasm_bindgen(js_name = syncNow)]
    pub fn sync_now(&self, now_ms: f64) -> WasmAttempt {
        WasmAttempt::new(Goal::Catchup(Catchup::sync_now(millis(now_ms))))
    }

    /// What to do next for `attempt` at `now_ms`.
    pub fn advance(&mut self, attempt: &mut WasmAttempt, now_ms: f64) -> Action {
        let now = millis(now_ms);
        match &mut attempt.goal {
            Goal::Verify(admission) => {
                let next = self.core.advance(admission, now);
                attempt.take(next, |result: Result<Verified, VerifyError>| {
                    claims_json(result)
                })
            }
            Goal::Catchup(catchup) => {
                let next = self.core.advance_catchup(catchup, now);
                attempt.take(next, |result| match result {
                    Ok(()) => Ok(String::new()),
                    Err(reason) => Err(thrown_stale(&reason)),
                })
            }
        }
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
        self.core
            .on_response(millis(id), millis(now_ms), outcome)
            .as_ref()
            .map(fetch_json)
    }

    /// Whether a key with this id is loaded.
    #[wasm_bindgen(js_name = hasKid)]
    pub fn has_kid(&self, kid: &str) -> bool {
        self.core.has_kid(kid)
    }

    /// `{cursor, revoked, ageMs, keysVersion, syncing, lastError}` as JSON.
    pub fn status(&self, now_ms: f64) -> String {
        let status = self.core.status(millis(now_ms));
        let mut object = Object::new();
        object
            .opt_str("cursor", status.cursor.as_deref())
            .uint("revoked", u64::try_from(status.revoked).unwrap_or(u64::MAX))
            .opt_uint("ageMs", status.age_ms)
            .opt_str("keysVersion", status.keys_version.as_deref())
            .bool("syncing", status.syncing)
            .opt_str("lastError", status.last_error.as_deref());
        object.finish()
    }
}

/// A sync that ended without usable state, as `revocation_state_stale`.
fn thrown_stale(reason: &str) -> JsValue {
    coded(VerifyError::RevocationStateStale.code().as_str(), reason)
}

#[wasm_bindgen(js_class = Attempt)]
impl WasmAttempt {
    /// After `Done`, for a sync: returns, or throws `revocation_state_stale`
    /// with the reason.
    pub fn result(&mut self) -> Result<(), JsValue> {
        self.claims().map(|_| ())
    }
}
