//! Signatures checked by workerd's WebCrypto (native BoringSSL) instead of
//! in wasm. The verifier crate still decides everything else: it parses the
//! token and the proof, pins each key to its algorithm, and hands over only
//! the signature ([`SignatureCheck`]). Built without the crate's `native`
//! feature, the worker carries no curve code at all.
//!
//! Imported keys are kept per isolate in two bounded maps: the key set's by
//! key number (unique in the isolate, and pinned to one algorithm), and the
//! DPoP keys of the devices seen lately by algorithm and JWK text. Apart,
//! so clients sending proofs with ever new keys (each a caller's choice)
//! evict only each other, never the issuer's keys. A `CryptoKey` is
//! a plain object, so sharing it between requests is allowed; a promise is
//! never shared (workerd would not resume a request on another's promise).

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use tollgate_verifier::{Algorithm, SignatureCheck};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

/// Keys held at most in each of the two; past it one starts over (a
/// re-import costs one `importKey`). The key set's list fills too: every
/// refetched JWKS numbers its keys anew, so old numbers pile up. Lookups
/// there scan from the newest.
const MAX_KEYS: usize = 1024;

thread_local! {
    // The key set's keys by number: a list, which costs the worker no
    // second hash map (4.5 KB of wasm).
    static KEY_SET: RefCell<Vec<(u64, JsValue)>> = const { RefCell::new(Vec::new()) };
    static CLIENTS: RefCell<HashMap<String, JsValue>> = RefCell::new(HashMap::new());
}

/// Whose key signed: the key set's (a token) or a client's (a DPoP proof).
#[derive(Debug, Clone, Copy)]
pub enum Signer {
    /// A key of the key set, found by its number.
    KeySet,
    /// A key a proof carries, found by its algorithm and JWK text.
    Client,
}

/// Whether the signature verifies. Any failure of WebCrypto (a key it will
/// not import, say a point off the curve) is a signature that does not.
pub async fn verify(check: &SignatureCheck, signer: Signer) -> bool {
    matches!(verify_inner(check, signer).await, Ok(true))
}

async fn verify_inner(check: &SignatureCheck, signer: Signer) -> Result<bool, JsValue> {
    let subtle = subtle()?;
    let key = key(&subtle, check, signer).await?;
    let verify: Function = Reflect::get(&subtle, &"verify".into())?.dyn_into()?;
    let args = Array::of4(
        &verify_params(check.algorithm())?,
        &key,
        &Uint8Array::from(check.signature()),
        &Uint8Array::from(check.message()),
    );
    let promise: Promise = verify.apply(&subtle, &args)?.dyn_into()?;
    Ok(JsFuture::from(promise).await?.as_bool().unwrap_or(false))
}

fn subtle() -> Result<JsValue, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    Reflect::get(&crypto, &"subtle".into())
}

/// The `CryptoKey` for the check's key: from the isolate's maps, or
/// imported. A client's key by algorithm and JWK text: one RSA key may sign
/// RS256 and PS256 proofs, and a `CryptoKey` is imported for one of them.
async fn key(subtle: &JsValue, check: &SignatureCheck, signer: Signer) -> Result<JsValue, JsValue> {
    let jwk = check.jwk_json();
    let client_id = || format!("{} {jwk}", check.algorithm().name());
    let held = match signer {
        Signer::KeySet => KEY_SET.with(|keys| {
            let serial = check.key_serial();
            let keys = keys.borrow();
            keys.iter()
                .rev()
                .find(|(id, _)| *id == serial)
                .map(|(_, key)| key.clone())
        }),
        Signer::Client => CLIENTS.with(|keys| keys.borrow().get(&client_id()).cloned()),
    };
    if let Some(key) = held {
        return Ok(key);
    }
    let import: Function = Reflect::get(subtle, &"importKey".into())?.dyn_into()?;
    let usages = Array::of1(&"verify".into());
    let args = Array::of5(
        &"jwk".into(),
        &js_sys::JSON::parse(jwk)?,
        &import_params(check.algorithm())?,
        &false.into(),
        &usages,
    );
    let promise: Promise = import.apply(subtle, &args)?.dyn_into()?;
    let key = JsFuture::from(promise).await?;
    match signer {
        Signer::KeySet => KEY_SET.with(|keys| {
            let mut keys = keys.borrow_mut();
            let serial = check.key_serial();
            // Requests that missed together each imported it: hold it once.
            if keys.iter().rev().any(|(id, _)| *id == serial) {
                return;
            }
            if keys.len() >= MAX_KEYS {
                keys.clear();
            }
            keys.push((serial, key.clone()));
        }),
        Signer::Client => CLIENTS.with(|keys| {
            let mut keys = keys.borrow_mut();
            if keys.len() >= MAX_KEYS {
                keys.clear();
            }
            keys.insert(client_id(), key.clone());
        }),
    }
    Ok(key)
}

fn object(pairs: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    let object = Object::new();
    for (name, value) in pairs {
        Reflect::set(&object, &(*name).into(), value)?;
    }
    Ok(object.into())
}

fn import_params(alg: Algorithm) -> Result<JsValue, JsValue> {
    let text = |s: &str| JsValue::from_str(s);
    match alg {
        Algorithm::EdDsa => object(&[("name", text("Ed25519"))]),
        Algorithm::Es256 => object(&[("name", text("ECDSA")), ("namedCurve", text("P-256"))]),
        Algorithm::Hs256 => object(&[("name", text("HMAC")), ("hash", text("SHA-256"))]),
        Algorithm::Rs256 => object(&[
            ("name", text("RSASSA-PKCS1-v1_5")),
            ("hash", text("SHA-256")),
        ]),
        Algorithm::Ps256 => object(&[("name", text("RSA-PSS")), ("hash", text("SHA-256"))]),
        _ => Err("unsupported algorithm".into()),
    }
}

fn verify_params(alg: Algorithm) -> Result<JsValue, JsValue> {
    let text = |s: &str| JsValue::from_str(s);
    match alg {
        Algorithm::EdDsa => object(&[("name", text("Ed25519"))]),
        Algorithm::Es256 => object(&[("name", text("ECDSA")), ("hash", text("SHA-256"))]),
        Algorithm::Hs256 => object(&[("name", text("HMAC"))]),
        Algorithm::Rs256 => object(&[("name", text("RSASSA-PKCS1-v1_5"))]),
        // RFC 7518 §3.5: the salt is as long as the hash.
        Algorithm::Ps256 => object(&[("name", text("RSA-PSS")), ("saltLength", JsValue::from(32))]),
        _ => Err("unsupported algorithm".into()),
    }
}
