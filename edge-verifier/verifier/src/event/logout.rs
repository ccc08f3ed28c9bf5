//! OpenID Connect Back-Channel Logout 1.0 logout tokens (§2.4, validated as
//! §2.6 says).
//!
//! Accepted: `typ` `logout+jwt`, or `JWT` (Keycloak before 25), or none;
//! `events` with the back-channel logout member, an object; `sub`, `sid`
//! or both; no `nonce`; `exp` optional (older senders omit it, and then
//! `iat` bounds the age). A `sid` revokes that session where the
//! provider's access tokens carry a session claim; otherwise, or with only
//! `sub`, every token of `sub` issued up to the logout is revoked.

use crate::json::Value;

use super::{Event, EventCode as C, EventError, EventOptions, signed};
use crate::feed::Revoked;
use crate::keys::KeySet;
use crate::media_type::is_type;

/// The member of `events` that makes a JWT a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Judges a logout token of the provider `options.issuer` at `now`.
pub fn judge_logout_token(
    token: &str,
    keys: &KeySet,
    options: &EventOptions,
    now: i64,
) -> Result<Event, EventError> {
    let signed = signed(token, keys, options, |typ| {
        typ.is_none_or(|typ| is_type(typ, "logout+jwt") || is_type(typ, "JWT"))
    })?;
    let (jti, keep_until, iat) = signed.common(options, now)?;
    let logout = signed
        .claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT));
    if !logout.is_some_and(Value::is_object) {
        return Err(EventError::new(
            C::WrongEvent,
            "`events` has no back-channel logout member that is an object",
        ));
    }
    if signed.claims.contains_key("nonce") {
        return Err(EventError::new(
            C::NoncePresent,
            "a logout token must not carry `nonce`",
        ));
    }
    let sub = signed.id("sub")?;
    let sid = signed.id("sid")?;
    let iss = options.issuer.clone();
    let target = match (sid, sub) {
        (Some(sid), _) if signed.has_session_claim() => Revoked::UpstreamSid {
            iss,
            sid: sid.to_owned(),
        },
        (_, Some(sub)) => Revoked::Subject {
            iss: Some(iss),
            sub: sub.to_owned(),
            before: iat,
        },
        (Some(_), None) => {
            return Err(EventError::new(
                C::UnmappedSession,
                "the token names only a session, and this provider's access tokens name none",
            ));
        }
        (None, None) => {
            return Err(EventError::new(
                C::NoSubject,
                "the token has neither `sub` nor `sid`",
            ));
        }
    };
    Ok(Event {
        jti,
        keep_until,
        revoked: vec![signed.entry(target, now, options)],
    })
}
