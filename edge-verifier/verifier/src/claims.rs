//! Access-token claims: the wire type the issuer signs and verifiers return.
//!
//! Parsing is two-step. [`RawClaims`] accepts any JSON object and records
//! what is there; [`RawClaims::require`] turns it into [`AccessClaims`] or
//! says which required claim is missing. That separation is what lets a
//! verifier tell `missing_claim` from `malformed`.

use core::fmt;

use serde::{
    Deserialize, Deserializer, Serialize,
    de::{self, Visitor},
};
use uuid::Uuid;

pub use crate::audience::Audience;
use crate::error::VerifyError;

/// The claims of an access token (RFC 9068 profile): one of tollgate's own,
/// or of a trusted upstream identity provider, read by its rules.
///
/// Only the verifier can vouch for a value of this type: see
/// [`Verified`](crate::Verified). The issuer builds one to sign it.
///
/// A tollgate token always has `jti` and `sid`, both UUIDs
/// ([`token_uuid`](Self::token_uuid), [`session_uuid`](Self::session_uuid));
/// an upstream's are opaque strings, and either may be absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer URL.
    pub iss: String,
    /// Subject: for tollgate, the user's UUID (never a sequential id); for
    /// an upstream, whatever it names its users by.
    pub sub: String,
    /// Audience: one string or several.
    pub aud: Audience,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Token id: revoking it revokes this one token (RFC 7009).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Session id: revoking it revokes every token of the session (for
    /// tollgate, the device's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Roles, e.g. `["USER"]`; an upstream's come from its roles claim.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The user's e-mail address, when the issuer includes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The key the token is bound to (RFC 9449 DPoP), if it is bound: it is
    /// then accepted only with a proof made by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// The `cnf` claim (RFC 7800) of a DPoP-bound token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the bound key, base64url.
    pub jkt: String,
}

impl AccessClaims {
    /// Whether the claims carry `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The session id as a UUID: always there in a verified tollgate token.
    pub fn session_uuid(&self) -> Option<Uuid> {
        self.sid
            .as_deref()
            .and_then(|sid| Uuid::try_parse(sid).ok())
    }

    /// The token id as a UUID: always there in a verified tollgate token.
    pub fn token_uuid(&self) -> Option<Uuid> {
        self.jti
            .as_deref()
            .and_then(|jti| Uuid::try_parse(jti).ok())
    }
}

/// Whatever a token's payload holds, before the required claims are checked.
///
/// Unknown claims are ignored; a known claim of the wrong JSON type, or any
/// claim given twice, makes the payload malformed.
#[derive(Deserialize)]
pub(crate) struct RawClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    #[serde(default, deserialize_with = "numeric_date_ceil")]
    iat: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date_floor")]
    exp: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date_ceil")]
    nbf: Option<i64>,
    jti: Option<Uuid>,
    sid: Option<Uuid>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    email: Option<String>,
    cnf: Option<RawConfirmation>,
}

/// A `cnf` as sent. A confirmation method other than `jkt` (say mTLS's
/// `x5t#S256`) cannot be checked here, so such a token is refused rather
/// than treated as unbound.
#[derive(Deserialize)]
struct RawConfirmation {
    jkt: Option<String>,
}

impl RawClaims {
    /// Checks that every required claim is present.
    pub(crate) fn require(self) -> Result<AccessClaims, VerifyError> {
        fn need<T>(value: Option<T>, name: &'static str) -> Result<T, VerifyError> {
            value.ok_or(VerifyError::MissingClaim(name))
        }
        Ok(AccessClaims {
            iss: need(self.iss, "iss")?,
            sub: need(self.sub, "sub")?,
            aud: need(self.aud, "aud")?,
            iat: need(self.iat, "iat")?,
            exp: need(self.exp, "exp")?,
            nbf: self.nbf,
            jti: Some(need(self.jti, "jti")?.to_string()),
            sid: Some(need(self.sid, "sid")?.to_string()),
            roles: self.roles.unwrap_or_default(),
            email: self.email,
            cnf: confirmation(self.cnf)?,
        })
    }
}

/// Reads the `iss` of a payload, and nothing else, before its signature is
/// checked: it picks whose keys and rules judge the token. `None` when the
/// payload is not a JSON object with a string `iss`.
pub(crate) fn peek_issuer(payload: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: Option<String>,
    }
    serde_json::from_slice::<Issuer>(payload).ok()?.iss
}

/// The registered claims of an upstream's token (RFC 7519 §4.1), typed;
/// everything else is the provider's and read by its rules.
#[derive(Deserialize)]
struct Registered {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    #[serde(default, deserialize_with = "numeric_date_ceil")]
    iat: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date_floor")]
    exp: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date_ceil")]
    nbf: Option<i64>,
    jti: Option<String>,
    cnf: Option<RawConfirmation>,
}

/// The claims of an upstream's token under its rules: `iss`, `sub`, `aud`,
/// `iat` and `exp` required, `jti` and the session optional.
pub(crate) fn upstream_claims(
    payload: &[u8],
    upstream: &crate::upstream::Upstream,
) -> Result<AccessClaims, VerifyError> {
    fn need<T>(value: Option<T>, name: &'static str) -> Result<T, VerifyError> {
        value.ok_or(VerifyError::MissingClaim(name))
    }
    let malformed = || VerifyError::Malformed("payload is not a JSON object of valid claims");
    // Typed from the bytes (a registered claim given twice is malformed, as
    // in tollgate's own tokens); the provider's own claims as a map.
    let registered: Registered = serde_json::from_slice(payload).map_err(|_| malformed())?;
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(|_| malformed())?;
    // An ID token is not an access token, whatever its `typ` and `aud`
    // (Keycloak's and Auth0's say `JWT`, and `aud` is the client): it
    // carries a `nonce`, or (Keycloak) says so in its own `typ` claim.
    if value.get("nonce").is_some()
        || value.get("typ").and_then(serde_json::Value::as_str) == Some("ID")
    {
        return Err(VerifyError::WrongType);
    }
    let named = upstream.named(&value);
    // Where its tokens name their session, one that does not could never
    // be revoked by a session logout.
    if upstream.has_session_claim() && named.sid.is_none() {
        return Err(VerifyError::MissingClaim("the session claim"));
    }
    Ok(AccessClaims {
        iss: need(registered.iss, "iss")?,
        sub: need(registered.sub, "sub")?,
        aud: need(registered.aud, "aud")?,
        iat: need(registered.iat, "iat")?,
        exp: need(registered.exp, "exp")?,
        nbf: registered.nbf,
        jti: registered.jti,
        sid: named.sid,
        roles: named.roles,
        email: named.email,
        cnf: confirmation(registered.cnf)?,
    })
}

fn confirmation(cnf: Option<RawConfirmation>) -> Result<Option<Confirmation>, VerifyError> {
    match cnf {
        None => Ok(None),
        Some(RawConfirmation { jkt: Some(jkt) }) => Ok(Some(Confirmation { jkt })),
        Some(RawConfirmation { jkt: None }) => Err(VerifyError::Malformed(
            "cnf names a confirmation method other than jkt",
        )),
    }
}

/// Rounds a fractional `exp` down: a token never lives longer than it says.
fn numeric_date_floor<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(NumericDate { round_up: false }).map(Some)
}

/// Rounds a fractional `iat`/`nbf` up: a token never starts earlier than it says.
pub(crate) fn numeric_date_ceil<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(NumericDate { round_up: true }).map(Some)
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly
/// fractional. Strings, booleans and values outside `i64` are rejected.
struct NumericDate {
    round_up: bool,
}

impl Visitor<'_> for NumericDate {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a NumericDate (seconds since the Unix epoch)")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
        Ok(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
        i64::try_from(value).map_err(|_| E::custom("NumericDate out of range"))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<i64, E> {
        let rounded = if self.round_up {
            value.ceil()
        } else {
            value.floor()
        };
        // `as` saturates, so check the range on the float side first. The
        // bounds are exactly representable (-2^63 and 2^63); NaN is outside.
        const I64_RANGE: core::ops::Range<f64> =
            -9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0;
        if I64_RANGE.contains(&rounded) {
            #[allow(clippy::cast_possible_truncation)]
            Ok(rounded as i64)
        } else {
            Err(E::custom("NumericDate out of range"))
        }
    }
}
