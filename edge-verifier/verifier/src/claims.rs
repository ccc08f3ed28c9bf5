//! Access-token claims: the wire type the issuer signs and verifiers return.
//!
//! Parsing is two-step. [`RawClaims`] accepts any JSON object and records
//! what is there; [`RawClaims::require`] turns it into [`AccessClaims`] or
//! says which required claim is missing. That separation is what lets a
//! verifier tell `missing_claim` from `malformed`.

use serde::Serialize;
use uuid::Uuid;

pub use crate::audience::Audience;
use crate::error::VerifyError;
use crate::json::{self, Object, Reader, Seen};
use crate::upstream::Named;

/// The claims of an access token (RFC 9068 profile): one of tollgate's own,
/// or of a trusted upstream identity provider, read by its rules.
///
/// Only the verifier can vouch for a value of this type: see
/// [`Verified`](crate::Verified). The issuer builds one to sign it.
///
/// A tollgate token always has `jti` and `sid`, both UUIDs
/// ([`token_uuid`](Self::token_uuid), [`session_uuid`](Self::session_uuid));
/// an upstream's are opaque strings, and either may be absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Token id: revoking it revokes this one token (RFC 7009).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Session id: revoking it revokes every token of the session (for
    /// tollgate, the device's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Roles, e.g. `["USER"]`; an upstream's come from its roles claim.
    pub roles: Vec<String>,
    /// The user's e-mail address, when the issuer includes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The key the token is bound to (RFC 9449 DPoP), if it is bound: it is
    /// then accepted only with a proof made by that key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// The `cnf` claim (RFC 7800) of a DPoP-bound token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the bound key, base64url.
    pub jkt: String,
}

impl AccessClaims {
    /// The claims as JSON, members in the order above and absent ones left
    /// out: the text the issuer signs (serde writes the same).
    pub fn to_json(&self) -> String {
        let mut object = Object::new();
        object.str("iss", &self.iss).str("sub", &self.sub);
        match &self.aud {
            Audience::One(aud) => object.str("aud", aud),
            Audience::Many(auds) => object.strs("aud", auds.iter().map(String::as_str)),
        };
        object.int("iat", self.iat).int("exp", self.exp);
        if let Some(nbf) = self.nbf {
            object.int("nbf", nbf);
        }
        for (name, value) in [("jti", &self.jti), ("sid", &self.sid)] {
            if let Some(value) = value {
                object.str(name, value);
            }
        }
        object.strs("roles", self.roles.iter().map(String::as_str));
        if let Some(email) = &self.email {
            object.str("email", email);
        }
        if let Some(cnf) = &self.cnf {
            let mut confirmation = Object::new();
            confirmation.str("jkt", &cnf.jkt);
            object.raw("cnf", &confirmation.finish());
        }
        object.finish()
    }

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

/// Whatever a tollgate token's payload holds, before the required claims
/// are checked: the registered claims, and tollgate's own.
///
/// Unknown claims are ignored; a known claim of the wrong JSON type, or any
/// claim given twice, makes the payload malformed.
#[derive(Default)]
pub(crate) struct RawClaims {
    registered: Registered,
    /// `jti` as a UUID, as tollgate's tokens carry it (read here, not in
    /// `registered`).
    jti: Option<Uuid>,
    sid: Option<Uuid>,
    roles: Option<Vec<String>>,
    email: Option<String>,
}

/// A `cnf` as sent. A confirmation method other than `jkt` (say mTLS's
/// `x5t#S256`) cannot be checked here, so such a token is refused rather
/// than treated as unbound.
struct RawConfirmation {
    jkt: Option<String>,
}

impl RawConfirmation {
    /// A `cnf` object, or `None` for `null`.
    fn read(r: &mut Reader<'_>) -> Result<Option<Self>, json::Error> {
        if r.null()? {
            return Ok(None);
        }
        let mut jkt = None;
        r.members(&["jkt"], &mut |r, _| {
            jkt = r.opt_string()?;
            Ok(())
        })?;
        Ok(Some(RawConfirmation { jkt }))
    }
}

impl RawClaims {
    /// The members read: [`Registered::NAMES`], then tollgate's own.
    const NAMES: [&'static str; 11] = [
        "iss", "sub", "aud", "iat", "exp", "nbf", "jti", "cnf", "sid", "roles", "email",
    ];

    /// Reads a tollgate token's payload: `jti` and `sid` are UUIDs here.
    pub(crate) fn read(payload: &[u8]) -> Result<Self, json::Error> {
        let mut claims = RawClaims::default();
        Reader::document(payload, |r| {
            r.members(&Self::NAMES, &mut |r, claim| {
                let c = &mut claims;
                match claim {
                    6 => c.jti = r.opt_uuid()?,
                    8 => c.sid = r.opt_uuid()?,
                    9 => c.roles = if r.null()? { None } else { Some(r.strings()?) },
                    10 => c.email = r.opt_string()?,
                    registered => c.registered.read(registered, r)?,
                }
                Ok(())
            })
        })?;
        Ok(claims)
    }

    /// Checks that every required claim is present.
    pub(crate) fn require(self) -> Result<AccessClaims, VerifyError> {
        let claims = self.registered.claims(
            self.jti.map(uuid_text),
            self.sid.map(uuid_text),
            self.roles.unwrap_or_default(),
            self.email,
        )?;
        need(claims.jti.as_ref(), "jti")?;
        need(claims.sid.as_ref(), "sid")?;
        Ok(claims)
    }
}

fn need<T>(value: Option<T>, name: &'static str) -> Result<T, VerifyError> {
    value.ok_or(VerifyError::MissingClaim(name))
}

/// A UUID in its canonical text (lowercase, hyphenated), without going
/// through `core::fmt`.
fn uuid_text(uuid: Uuid) -> String {
    uuid.hyphenated()
        .encode_lower(&mut Uuid::encode_buffer())
        .to_owned()
}

/// Reads the `iss` of a payload, and nothing else, before its signature is
/// checked: it picks whose keys and rules judge the token. `None` when the
/// payload is not a JSON object with a string `iss`.
pub(crate) fn peek_issuer(payload: &[u8]) -> Option<String> {
    let mut iss = None;
    Reader::document(payload, |r| {
        r.members(&["iss"], &mut |r, _| {
            iss = r.opt_string()?;
            Ok(())
        })
    })
    .ok()?;
    iss
}

/// The registered claims (RFC 7519 §4.1) a verifier reads, typed: every
/// token has them, tollgate's and an upstream's; everything else is the
/// issuer's own.
#[derive(Default)]
struct Registered {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
    cnf: Option<RawConfirmation>,
}

impl Registered {
    const NAMES: [&'static str; 8] = ["iss", "sub", "aud", "iat", "exp", "nbf", "jti", "cnf"];

    /// The claims of a token: these, `iss`, `sub`, `aud`, `iat` and `exp`
    /// required (every token has them), with its issuer's own as read.
    fn claims(
        self,
        jti: Option<String>,
        sid: Option<String>,
        roles: Vec<String>,
        email: Option<String>,
    ) -> Result<AccessClaims, VerifyError> {
        Ok(AccessClaims {
            iss: need(self.iss, "iss")?,
            sub: need(self.sub, "sub")?,
            aud: need(self.aud, "aud")?,
            iat: need(self.iat, "iat")?,
            exp: need(self.exp, "exp")?,
            nbf: self.nbf,
            jti,
            sid,
            roles,
            email,
            cnf: confirmation(self.cnf)?,
        })
    }

    /// Reads the claim `NAMES[index]`.
    fn read(&mut self, index: usize, r: &mut Reader<'_>) -> Result<(), json::Error> {
        match index {
            0 => self.iss = r.opt_string()?,
            1 => self.sub = r.opt_string()?,
            2 => self.aud = Audience::read_opt(r)?,
            3 => self.iat = Some(r.numeric_date(true)?),
            4 => self.exp = Some(r.numeric_date(false)?),
            5 => self.nbf = Some(r.numeric_date(true)?),
            6 => self.jti = r.opt_string()?,
            _ => self.cnf = RawConfirmation::read(r)?,
        }
        Ok(())
    }
}

/// The claims of an upstream's token under its rules: `iss`, `sub`, `aud`,
/// `iat` and `exp` required, `jti` and the session optional.
pub(crate) fn upstream_claims(
    payload: &[u8],
    upstream: &crate::upstream::Upstream,
) -> Result<AccessClaims, VerifyError> {
    let malformed = || VerifyError::Malformed("payload is not a JSON object of valid claims");
    // One pass over the members: a registered claim typed (one given twice
    // is malformed, as in tollgate's own tokens); the provider's own claims
    // read by its rules, the last of a name counting, as JSON libraries do.
    let mut registered = Registered::default();
    let mut named = Named::default();
    let (mut nonce, mut typ_id) = (false, false);
    Reader::document(payload, |r| {
        let mut seen = Seen::default();
        r.object(&mut |r, name| {
            let value = r.skip()?;
            if let Some(index) = Registered::NAMES.iter().position(|known| *known == name) {
                seen.first(index, r)?;
                Reader::document(value, |r| registered.read(index, r))?;
            }
            upstream.take(name, value, &mut named);
            // An ID token is not an access token, whatever its `typ` and
            // `aud` (Keycloak's and Auth0's say `JWT`, and `aud` is the
            // client): it carries a `nonce`, or (Keycloak) says so in its
            // own `typ` claim.
            match name {
                "nonce" => nonce = true,
                "typ" => typ_id = Reader::document(value, |r| r.str()).is_ok_and(|typ| typ == "ID"),
                _ => {}
            }
            Ok(())
        })
    })
    .map_err(|_| malformed())?;
    if nonce || typ_id {
        return Err(VerifyError::WrongType);
    }
    // Where its tokens name their session, one that does not could never
    // be revoked by a session logout.
    if upstream.has_session_claim() && named.sid.is_none() {
        return Err(VerifyError::MissingClaim("the session claim"));
    }
    let jti = registered.jti.take();
    registered.claims(jti, named.sid, named.roles, named.email)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A tollgate token's reader hands the registered claims to
    /// `Registered::read` by their index there.
    #[test]
    fn tollgates_claims_start_with_the_registered_ones() {
        assert_eq!(RawClaims::NAMES[..8], Registered::NAMES);
    }
}
