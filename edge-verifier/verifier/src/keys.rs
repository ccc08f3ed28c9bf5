//! Verification keys: the JWKS wire format (RFC 7517) and the parsed key set.
//!
//! Every key is pinned to exactly one algorithm when it is loaded, from its
//! key type and curve. A token's `alg` header can only *select* that
//! algorithm, never switch the key to another one: this is what makes
//! algorithm-confusion attacks (an HS256 token "signed" with an Ed25519
//! public key's bytes) impossible by construction.
//!
//! Keys come only from the configured JWKS. Header parameters that point at
//! keys (`jku`, `x5u`, `jwk`, `x5c`) are never read.

use core::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::Serialize;

use crate::algorithm::Algorithm;
use crate::error::KeyError;
use crate::json::{self, Object, Reader};
use crate::upstream::{Upstream, UpstreamRules};

/// Shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_SECRET_LEN: usize = 32;

/// Shortest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A JSON Web Key Set document, as served at `/.well-known/jwks.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
    /// The tollgate issuer's key-set version these keys are at (member
    /// `keys_version`; RFC 7517 §5 lets a set carry members others ignore).
    /// A verifier compares it with the version the feed announced, so a
    /// stale copy of the JWKS (a cache, a lagging replica) is noticed.
    #[serde(rename = "keys_version", skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The upstream identity providers the tollgate issuer trusts, with the
    /// rules their tokens are judged by (member `upstreams`, tollgate's
    /// addition). A key that names an `iss` verifies only tokens of that
    /// upstream, and only if it is listed here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<UpstreamRules>,
    /// The upstreams' keys (member `upstream_keys`, tollgate's addition),
    /// each naming the issuer it belongs to. Apart from `keys` on purpose:
    /// a verifier that knows nothing of upstreams (any JOSE library, an
    /// older tollgate) must never take one for a key of tollgate's own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_keys: Vec<Jwk>,
}

/// One JSON Web Key. Only the members needed for verification are kept;
/// private members (`d`, `p`, ...) are never read.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct Jwk {
    /// Key type: `OKP`, `EC`, `RSA` or `oct`.
    pub kty: String,
    /// Key id, matched against a token's `kid` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The upstream issuer whose tokens this key verifies (tollgate's
    /// addition; absent: the tollgate issuer's own key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Intended algorithm; when present it must agree with the key type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use; keys marked `enc` are skipped.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Curve, for `OKP` and `EC` keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Public point (x coordinate), base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Public point (y coordinate) of an `EC` key, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Symmetric secret of an `oct` key, base64url. Redacted in `Debug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
}

impl Jwks {
    /// Parses a JWKS document: `keys` required; `keys_version`,
    /// `upstreams` and `upstream_keys` optional; other members ignored,
    /// none given twice.
    pub fn from_json(json: &str) -> Result<Self, json::Error> {
        const NAMES: [&str; 4] = ["keys", "keys_version", "upstreams", "upstream_keys"];
        let mut jwks = Jwks::default();
        let mut keys = None;
        Reader::document(json.as_bytes(), |r| {
            r.members(&NAMES, &mut |r, member| {
                match member {
                    0 => keys = Some(jwk_list(r)?),
                    1 => jwks.version = r.opt_string()?,
                    2 => {
                        r.array(&mut |r| {
                            jwks.upstreams.push(UpstreamRules::read(r)?);
                            Ok(())
                        })?;
                    }
                    _ => jwks.upstream_keys = jwk_list(r)?,
                }
                Ok(())
            })?;
            jwks.keys = keys
                .take()
                .ok_or_else(|| r.fail("the JWKS has no `keys`"))?;
            Ok(())
        })?;
        Ok(jwks)
    }
}

fn jwk_list(r: &mut Reader<'_>) -> Result<Vec<Jwk>, json::Error> {
    let mut keys = Vec::new();
    r.array(&mut |r| {
        keys.push(Jwk::read(r)?);
        Ok(())
    })?;
    Ok(keys)
}

impl Jwk {
    /// The members, in the order of the struct (and of its serialization).
    const NAMES: [&'static str; 11] = [
        "kty", "kid", "iss", "alg", "use", "crv", "x", "y", "n", "e", "k",
    ];

    /// Parses one JWK: `kty` required, every other member a string or
    /// `null`, unknown members ignored, none given twice.
    pub fn from_json(json: &str) -> Result<Self, json::Error> {
        Reader::document(json.as_bytes(), Jwk::read)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, json::Error> {
        let mut jwk = Jwk::default();
        let mut kty = None;
        r.members(&Self::NAMES, &mut |r, member| {
            match member.checked_sub(1) {
                None => kty = Some(r.string()?),
                Some(optional) => *jwk.optional_mut()[optional] = r.opt_string()?,
            }
            Ok(())
        })?;
        jwk.kty = kty.ok_or_else(|| r.fail("a JWK has no `kty`"))?;
        Ok(jwk)
    }

    /// The members after `kty`, in `NAMES`' order.
    fn optional(&self) -> [&Option<String>; 10] {
        [
            &self.kid,
            &self.iss,
            &self.alg,
            &self.key_use,
            &self.crv,
            &self.x,
            &self.y,
            &self.n,
            &self.e,
            &self.k,
        ]
    }

    fn optional_mut(&mut self) -> [&mut Option<String>; 10] {
        [
            &mut self.kid,
            &mut self.iss,
            &mut self.alg,
            &mut self.key_use,
            &mut self.crv,
            &mut self.x,
            &mut self.y,
            &mut self.n,
            &mut self.e,
            &mut self.k,
        ]
    }

    /// The JWK as JSON: the members that are set, in the order of the
    /// struct's fields (the text serde writes for it).
    pub fn to_json(&self) -> String {
        let mut object = Object::new();
        object.str("kty", &self.kty);
        for (name, value) in Self::NAMES[1..].iter().zip(self.optional()) {
            if let Some(value) = value {
                object.str(name, value);
            }
        }
        object.finish()
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("kid", &self.kid)
            .field("iss", &self.iss)
            .field("alg", &self.alg)
            .field("crv", &self.crv)
            .field("k", &self.k.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// A parsed verification key, pinned to its one algorithm. It keeps the
/// members of its JWK that verification needs, so a caller can check a
/// signature with the platform's crypto ([`SignatureCheck`](crate::SignatureCheck));
/// with the `native` feature it also holds the crate's own parsed key.
///
/// Cloned for every token that is not in the cache, so its parts are shared.
#[derive(Clone)]
pub(crate) struct Key {
    alg: Algorithm,
    jwk: Arc<Jwk>,
    /// `jwk` as JSON, made once: what callers key imported platform keys by.
    jwk_json: Arc<str>,
    /// Unique to this parsed key in this process (never reused), shared by
    /// its clones: what callers key imported platform keys by without
    /// reading the text.
    serial: u64,
    /// `None` where this build cannot check the algorithm itself (RSA
    /// without the `rsa` feature): the platform's crypto must.
    #[cfg(feature = "native")]
    native: Option<Arc<NativeKey>>,
}

/// The key as the crate's own signature code takes it.
#[cfg(feature = "native")]
#[derive(Clone)]
pub(crate) enum NativeKey {
    EdDsa(ed25519_dalek::VerifyingKey),
    Es256(p256::ecdsa::VerifyingKey),
    Hs256(jwt_compact::alg::Hs256Key),
    #[cfg(feature = "rsa")]
    Rsa(rsa::RsaPublicKey),
}

impl Key {
    pub(crate) fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The JWK members verification needs (no `kid`, `use` or `alg`).
    pub(crate) fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// [`jwk`](Self::jwk) as JSON text.
    pub(crate) fn jwk_json(&self) -> &str {
        &self.jwk_json
    }

    /// This key's number, unique in the process (see [`SignatureCheck::key_serial`](crate::SignatureCheck::key_serial)).
    pub(crate) fn serial(&self) -> u64 {
        self.serial
    }

    #[cfg(feature = "native")]
    pub(crate) fn native(&self) -> Option<&NativeKey> {
        self.native.as_deref()
    }
}

/// Only the members that identify the key, for [`Key::jwk`].
fn key_members(jwk: &Jwk) -> Jwk {
    Jwk {
        kty: jwk.kty.clone(),
        crv: jwk.crv.clone(),
        x: jwk.x.clone(),
        y: jwk.y.clone(),
        n: jwk.n.clone(),
        e: jwk.e.clone(),
        k: jwk.k.clone(),
        ..Jwk::default()
    }
}

/// The keys a [`Verifier`](crate::Verifier) trusts, by issuer and `kid`,
/// and the rules of the upstream issuers they belong to.
///
/// Build it from a JWKS with [`KeySet::from_jwks`] or [`KeySet::from_json`].
/// Keys of types this build does not implement (say P-384 or X25519) are
/// skipped rather than failing the whole set, as JOSE libraries do; so are
/// keys in `keys` that name an issuer, keys in `upstream_keys` of an
/// upstream the set has no rules for, and shared secrets or algorithms its
/// rules do not allow. A key of a supported type that is broken is an
/// error.
#[derive(Clone, Default)]
pub struct KeySet {
    /// `(issuer, kid, key)`; issuer `None` is the tollgate issuer's own.
    keys: Vec<(Option<Arc<str>>, String, Key)>,
    upstreams: Vec<Upstream>,
    skipped: usize,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field(
                "keys",
                &self
                    .keys
                    .iter()
                    .map(|(iss, kid, key)| (iss.as_deref(), kid.as_str(), key.algorithm()))
                    .collect::<Vec<_>>(),
            )
            .field(
                "upstreams",
                &self
                    .upstreams
                    .iter()
                    .map(Upstream::issuer)
                    .collect::<Vec<_>>(),
            )
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl KeySet {
    /// An empty key set: every token fails with `unknown_kid`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a JWKS JSON document.
    pub fn from_json(json: &str) -> Result<Self, KeyError> {
        let jwks = Jwks::from_json(json).map_err(|err| KeyError::Json(err.to_string()))?;
        Self::from_jwks(&jwks)
    }

    /// Loads every supported key of a JWKS, and its upstream rules.
    pub fn from_jwks(jwks: &Jwks) -> Result<Self, KeyError> {
        let mut set = KeySet::new();
        for rules in &jwks.upstreams {
            let upstream = Upstream::new(rules.clone())?;
            if set.upstream(upstream.issuer()).is_some() {
                return Err(KeyError::DuplicateUpstream(upstream.issuer().to_owned()));
            }
            set.upstreams.push(upstream);
        }
        for jwk in &jwks.keys {
            let kid = jwk.kid.as_deref().ok_or(KeyError::MissingKid)?;
            // tollgate's own keys name no issuer; one that does is not
            // trusted as tollgate's (an upstream's key belongs apart).
            let parsed = if jwk.iss.is_some() {
                None
            } else {
                parse_jwk(jwk, kid)?
            };
            match parsed {
                Some(key) => set.insert(None, kid, key)?,
                None => set.skipped += 1,
            }
        }
        for jwk in &jwks.upstream_keys {
            let kid = jwk.kid.as_deref().ok_or(KeyError::MissingKid)?;
            let upstream = jwk.iss.as_deref().and_then(|iss| set.upstream(iss));
            let key = match upstream {
                Some(upstream) => {
                    parse_jwk(jwk, kid)?.filter(|key| upstream.allows(key.algorithm()))
                }
                None => None,
            };
            match (key, jwk.iss.as_deref()) {
                (Some(key), Some(iss)) => set.insert(Some(Arc::from(iss)), kid, key)?,
                _ => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// Adds an HS256 secret under `kid` (single-party setups, where the
    /// secret comes from configuration rather than a published JWKS).
    pub fn insert_hs256(&mut self, kid: &str, secret: &[u8]) -> Result<(), KeyError> {
        let jwk = Jwk {
            kty: "oct".into(),
            k: Some(Base64UrlUnpadded::encode_string(secret)),
            ..Jwk::default()
        };
        match parse_jwk(&jwk, kid)? {
            Some(key) => self.insert(None, kid, key),
            None => Err(invalid(kid, "not an HS256 secret")),
        }
    }

    fn insert(&mut self, issuer: Option<Arc<str>>, kid: &str, key: Key) -> Result<(), KeyError> {
        if self
            .keys
            .iter()
            .any(|(iss, existing, _)| *iss == issuer && existing == kid)
        {
            return Err(KeyError::DuplicateKid(kid.to_owned()));
        }
        self.keys.push((issuer, kid.to_owned(), key));
        Ok(())
    }

    /// The key for `kid` of `issuer` (`None`: tollgate's own), if any.
    /// Linear: a key set holds a handful of keys.
    pub(crate) fn get(&self, issuer: Option<&str>, kid: &str) -> Option<&Key> {
        self.keys
            .iter()
            .find(|(iss, id, _)| iss.as_deref() == issuer && id == kid)
            .map(|(_, _, key)| key)
    }

    /// Whether the set has rules for any upstream issuer.
    pub(crate) fn has_upstreams(&self) -> bool {
        !self.upstreams.is_empty()
    }

    /// The rules of the upstream issuer `iss`, if the set trusts it.
    pub(crate) fn upstream(&self, iss: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.issuer() == iss)
    }

    /// Whether a key with this id is loaded, of any issuer (to decide when
    /// to refetch a JWKS).
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|(_, id, _)| id == kid)
    }

    /// The loaded key ids with their pinned algorithms.
    pub fn kids(&self) -> impl Iterator<Item = (&str, Algorithm)> {
        self.keys
            .iter()
            .map(|(_, kid, key)| (kid.as_str(), key.algorithm()))
    }

    /// The upstream issuers whose tokens the set can verify.
    pub fn upstream_issuers(&self) -> impl Iterator<Item = &str> {
        self.upstreams.iter().map(Upstream::issuer)
    }

    /// How many keys are loaded.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is loaded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys of the JWKS were skipped as unsupported or untrusted.
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

/// The algorithm a JWK's type, curve and declared `alg` call for, or `None`
/// if this build does not implement it. An RSA key without `alg` is RS256,
/// what every provider that omits it signs with.
fn pinned_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("OKP", Some("Ed25519")) => Some(Algorithm::EdDsa),
        ("EC", Some("P-256")) => Some(Algorithm::Es256),
        ("oct", _) => Some(Algorithm::Hs256),
        ("RSA", _) => match jwk.alg.as_deref() {
            None | Some("RS256") => Some(Algorithm::Rs256),
            Some("PS256") => Some(Algorithm::Ps256),
            // RS384, PS512, RSA-OAEP...: not implemented here.
            Some(_) => None,
        },
        _ => None,
    }
}

/// The next [`Key::serial`]; 2^64 keys are never parsed in one process.
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

pub(crate) fn parse_jwk(jwk: &Jwk, kid: &str) -> Result<Option<Key>, KeyError> {
    if jwk.key_use.as_deref().is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let Some(alg) = pinned_algorithm(jwk) else {
        return Ok(None);
    };
    if let Some(declared) = jwk.alg.as_deref() {
        if declared != alg.name() {
            return Err(invalid(kid, "its `alg` does not match its key type"));
        }
    }
    check_lengths(alg, jwk, kid)?;
    #[cfg(feature = "native")]
    let native = native_key(alg, jwk, kid)?.map(Arc::new);
    let jwk = key_members(jwk);
    let jwk_json = jwk.to_json();
    Ok(Some(Key {
        alg,
        jwk: Arc::new(jwk),
        jwk_json: jwk_json.into(),
        serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
        #[cfg(feature = "native")]
        native,
    }))
}

/// The crate's own parsed key; every point and secret checked. `None`
/// for an algorithm this build leaves to the platform's crypto.
#[cfg(feature = "native")]
fn native_key(alg: Algorithm, jwk: &Jwk, kid: &str) -> Result<Option<NativeKey>, KeyError> {
    Ok(Some(match alg {
        Algorithm::EdDsa => {
            let x: [u8; 32] = decode_fixed(jwk.x.as_deref(), kid, "`x` must be 32 bytes")?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
                .map_err(|_| invalid(kid, "`x` is not an Ed25519 point"))?;
            if key.is_weak() {
                return Err(invalid(kid, "`x` is a weak Ed25519 key"));
            }
            NativeKey::EdDsa(key)
        }
        Algorithm::Es256 => {
            let x: [u8; 32] = decode_fixed(jwk.x.as_deref(), kid, "`x` must be 32 bytes")?;
            let y: [u8; 32] = decode_fixed(jwk.y.as_deref(), kid, "`y` must be 32 bytes")?;
            let point = p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
            let key = p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                .map_err(|_| invalid(kid, "`x`,`y` is not a P-256 point"))?;
            NativeKey::Es256(key)
        }
        Algorithm::Hs256 => {
            let k = decode(jwk.k.as_deref(), kid, "`k` must be base64url")?;
            NativeKey::Hs256(jwt_compact::alg::Hs256Key::new(&k))
        }
        #[cfg(feature = "rsa")]
        Algorithm::Rs256 | Algorithm::Ps256 => {
            let n = decode(jwk.n.as_deref(), kid, "`n` must be base64url")?;
            let e = decode(jwk.e.as_deref(), kid, "`e` must be base64url")?;
            let key = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&n),
                rsa::BigUint::from_bytes_be(&e),
            )
            .map_err(|_| invalid(kid, "`n`,`e` is not an RSA public key"))?;
            NativeKey::Rsa(key)
        }
        #[cfg(not(feature = "rsa"))]
        Algorithm::Rs256 | Algorithm::Ps256 => return Ok(None),
    }))
}

/// The shape every build checks: lengths, and the secret's and modulus's
/// size. The crate's own key parse ([`native_key`]) checks the points; the
/// platform's crypto refuses a point off its curve when it imports it,
/// which makes every signature by it fail.
fn check_lengths(alg: Algorithm, jwk: &Jwk, kid: &str) -> Result<(), KeyError> {
    match alg {
        Algorithm::EdDsa => {
            decode_fixed::<32>(jwk.x.as_deref(), kid, "`x` must be 32 bytes")?;
        }
        Algorithm::Es256 => {
            decode_fixed::<32>(jwk.x.as_deref(), kid, "`x` must be 32 bytes")?;
            decode_fixed::<32>(jwk.y.as_deref(), kid, "`y` must be 32 bytes")?;
        }
        Algorithm::Hs256 => {
            let k = decode(jwk.k.as_deref(), kid, "`k` must be base64url")?;
            if k.len() < MIN_HS256_SECRET_LEN {
                return Err(invalid(kid, "HS256 secret shorter than 32 bytes"));
            }
        }
        Algorithm::Rs256 | Algorithm::Ps256 => {
            let n = decode(jwk.n.as_deref(), kid, "`n` must be base64url")?;
            let e = decode(jwk.e.as_deref(), kid, "`e` must be base64url")?;
            let bits = n.iter().position(|&byte| byte != 0).map_or(0, |first| {
                (n.len() - first) * 8 - n[first].leading_zeros() as usize
            });
            if bits < MIN_RSA_BITS {
                return Err(invalid(kid, "RSA modulus shorter than 2048 bits"));
            }
            if e.is_empty() || e.len() > 8 {
                return Err(invalid(kid, "`e` is not an RSA public exponent"));
            }
        }
    }
    Ok(())
}

fn invalid(kid: &str, reason: &'static str) -> KeyError {
    KeyError::InvalidKey {
        kid: kid.to_owned(),
        reason,
    }
}

fn decode(member: Option<&str>, kid: &str, reason: &'static str) -> Result<Vec<u8>, KeyError> {
    let text = member.ok_or_else(|| invalid(kid, reason))?;
    Base64UrlUnpadded::decode_vec(text).map_err(|_| invalid(kid, reason))
}

fn decode_fixed<const N: usize>(
    member: Option<&str>,
    kid: &str,
    reason: &'static str,
) -> Result<[u8; N], KeyError> {
    decode(member, kid, reason)?
        .try_into()
        .map_err(|_| invalid(kid, reason))
}
