//! Signatures checked by workerd's WebCrypto (native BoringSSL) instead of
//! in wasm. The verifier crate still decides everything else: it parses the
//! token and the proof, pins each key to its algorithm, and hands over only
//! the signature ([`SignatureCheck`]). Built without the crate's `native`
//! feature, the worker carries no curve code at all.
//!
//! Imported keys are kept per isolate, by their JWK: the issuer's few keys,
//! and the DPoP keys of the devices seen lately (bounded). A `CryptoKey` is
//! a plain object, so sharing it between requests is allowed; a promise is
//! never shared (workerd would not resume a request on another's promise).

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use tollgate_verifier::{Algorithm, SignatureCheck};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

/// Imported keys held at most; past it the map starts over (a re-import
/// costs one `importKey`).
const MAX_KEYS: usize = 1024;

thread_local! {
    static KEYS: RefCell<HashMap<String, JsValue>> = RefCell::new(HashMap::new());
}

/// Whether the signature verifies. Any failure of WebCrypto (a key it will
/// not import, say a point off the curve) is a signature that does not.
pub async fn verify(check: &SignatureCheck) -> bool {
    matches!(verify_inner(check).await, Ok(true))
}

async fn verify_inner(check: &SignatureCheck) -> Result<bool, JsValue> {
    let subtle = subtle()?;
    let key = key(&subtle, check).await?;
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

/// The `CryptoKey` for the check's JWK and algorithm: from the isolate's
/// map, or imported. Keyed by both: one RSA key may be published for RS256
/// and for PS256, and a `CryptoKey` is imported for one of them.
async fn key(subtle: &JsValue, check: &SignatureCheck) -> Result<JsValue, JsValue> {
    let jwk = check.jwk_json();
    let id = format!("{} {jwk}", check.algorithm().name());
    if let Some(key) = KEYS.with(|keys| keys.borrow().get(&id).cloned()) {
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
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(id, key.clone());
    });
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
