//! Security Event Tokens (RFC 8417) of the Shared Signals Framework 1.0
//! carrying CAEP 1.0 events.
//!
//! Accepted: `typ` `secevent+jwt`; `events` naming only the events below;
//! the subject in `sub_id` (SSF 1.0), or in the event's `subject` (as
//! drafts before it had it). Subject formats: `iss_sub` (of this provider),
//! `email`, `opaque` (the provider's user id), `jwt_id` (one token), and
//! `complex` with a `user` of those and a `session` (`opaque`).
//!
//! - `session-revoked`: the session (a complex subject's `session`, or an
//!   `opaque` subject, as CAEP's own example names one), where the
//!   provider's access tokens carry a session claim; otherwise, for a
//!   subject that names the user, every token of the user up to the event.
//! - `credential-change`: every token of the user up to the event (a
//!   session alone, if that is all it names).
//! - SSF `verification`: accepted, revokes nothing.
//!
//! "Up to the event" is the event's `event_timestamp`, else the SET's `iat`.

use crate::json::{Members, Value};

use super::{
    Event, EventCode as C, EventError, EventOptions, Signed, date_in, id_in, signed, string_in,
};
use crate::feed::{RevocationEntry, Revoked};
use crate::keys::KeySet;
use crate::media_type::is_type;

/// CAEP 1.0 §3.1.
pub const SESSION_REVOKED_EVENT: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP 1.0 §3.3.
pub const CREDENTIAL_CHANGE_EVENT: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// SSF 1.0 §8.1.4.1: the transmitter checks the stream; nothing to do.
pub const VERIFICATION_EVENT: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// Judges a Security Event Token of the provider `options.issuer` at `now`.
pub fn judge_security_event(
    token: &str,
    keys: &KeySet,
    options: &EventOptions,
    now: i64,
) -> Result<Event, EventError> {
    let signed = signed(token, keys, options, |typ| {
        typ.is_some_and(|typ| is_type(typ, "secevent+jwt"))
    })?;
    let (jti, keep_until, iat) = signed.common(options, now)?;
    let events = signed
        .claims
        .get("events")
        .and_then(Value::as_object)
        .filter(|events| !events.is_empty())
        .ok_or(EventError::new(
            C::WrongEvent,
            "`events` is missing or empty",
        ))?;
    let mut revoked = Vec::new();
    for (kind, event) in events {
        let event = event.as_object().ok_or(EventError::new(
            C::Malformed,
            "an event's value is not an object",
        ))?;
        let revoke_user = match kind.as_str() {
            VERIFICATION_EVENT => continue,
            SESSION_REVOKED_EVENT => false,
            CREDENTIAL_CHANGE_EVENT => true,
            _ => {
                return Err(EventError::new(
                    C::WrongEvent,
                    "an event is not session-revoked, credential-change or verification",
                ));
            }
        };
        let subject = match signed.claims.get("sub_id") {
            Some(subject) => subject,
            None => event.get("subject").ok_or(EventError::new(
                C::NoSubject,
                "neither `sub_id` nor the event's `subject` is present",
            ))?,
        };
        let before = signed.cut_at(
            date_in(event, "event_timestamp")?.unwrap_or(iat),
            now,
            options,
        );
        let target = map_subject(&signed, subject, revoke_user, before, options)?;
        revoked.push(signed.entry(target, now, options));
    }
    Ok(Event {
        jti,
        keep_until,
        revoked: dedup(revoked),
    })
}

/// One SET may carry an event twice over; one entry each will do.
fn dedup(mut entries: Vec<RevocationEntry>) -> Vec<RevocationEntry> {
    entries.sort_by(|a, b| a.target.cmp(&b.target));
    entries.dedup_by(|later, kept| {
        let same = later.target == kept.target;
        if same {
            kept.until = kept.until.max(later.until);
        }
        same
    });
    entries
}

/// What a subject identifier revokes (SSF 1.0 §3, RFC 9493).
fn map_subject(
    signed: &Signed<'_>,
    subject: &Value,
    revoke_user: bool,
    before: i64,
    options: &EventOptions,
) -> Result<Revoked, EventError> {
    let subject = subject.as_object().ok_or(EventError::new(
        C::Malformed,
        "the subject identifier is not an object",
    ))?;
    // CAEP's own session-revoked example names the session by an opaque
    // subject.
    if !revoke_user && format(subject)? == "opaque" {
        let id = session_id_of(subject)?;
        return if signed.has_session_claim() {
            Ok(Revoked::UpstreamSid {
                iss: options.issuer.clone(),
                sid: id.to_owned(),
            })
        } else {
            Err(EventError::new(
                C::UnmappedSession,
                "an opaque subject of session-revoked names a session, and this provider's access tokens name none",
            ))
        };
    }
    if format(subject)? == "complex" {
        let session = subject.get("session").map(session_id).transpose()?;
        let user = subject.get("user");
        return match (session, user) {
            (Some(sid), _) if !revoke_user && signed.has_session_claim() => {
                Ok(Revoked::UpstreamSid {
                    iss: options.issuer.clone(),
                    sid: sid.to_owned(),
                })
            }
            (_, Some(user)) => {
                let user = user.as_object().ok_or(EventError::new(
                    C::Malformed,
                    "the complex subject's `user` is not an object",
                ))?;
                simple(user, before, options)
            }
            (Some(sid), None) if signed.has_session_claim() => Ok(Revoked::UpstreamSid {
                iss: options.issuer.clone(),
                sid: sid.to_owned(),
            }),
            (Some(_), None) => Err(EventError::new(
                C::UnmappedSession,
                "the subject names only a session, and this provider's access tokens name none",
            )),
            (None, None) => Err(EventError::new(
                C::NoSubject,
                "the complex subject names neither a user nor a session",
            )),
        };
    }
    simple(subject, before, options)
}

fn format(subject: &Members) -> Result<&str, EventError> {
    string_in(subject, "format")?.ok_or(EventError::new(
        C::UnsupportedSubject,
        "the subject identifier has no `format`",
    ))
}

/// A subject that names one user or one token.
fn simple(subject: &Members, before: i64, options: &EventOptions) -> Result<Revoked, EventError> {
    let iss = Some(options.issuer.clone());
    let need = |name| {
        id_in(subject, name)?.ok_or(EventError::new(
            C::Malformed,
            "the subject identifier lacks a member its format requires",
        ))
    };
    let own_issuer = |name| {
        if need(name)? == options.issuer {
            Ok(())
        } else {
            Err(EventError::new(
                C::ForeignSubject,
                "the subject belongs to another issuer",
            ))
        }
    };
    match format(subject)? {
        "iss_sub" => {
            own_issuer("iss")?;
            Ok(Revoked::Subject {
                iss,
                sub: need("sub")?.to_owned(),
                before,
            })
        }
        "opaque" => Ok(Revoked::Subject {
            iss,
            sub: need("id")?.to_owned(),
            before,
        }),
        "email" => Ok(Revoked::Email {
            iss,
            email: need("email")?.to_owned(),
            before,
        }),
        "jwt_id" => {
            own_issuer("iss")?;
            Ok(Revoked::UpstreamJti {
                iss: options.issuer.clone(),
                jti: need("jti")?.to_owned(),
            })
        }
        _ => Err(EventError::new(
            C::UnsupportedSubject,
            "the subject format is not iss_sub, opaque, email, jwt_id or complex",
        )),
    }
}

/// The id of a complex subject's `session` (format `opaque`).
fn session_id(session: &Value) -> Result<&str, EventError> {
    let session = session.as_object().ok_or(EventError::new(
        C::Malformed,
        "the complex subject's `session` is not an object",
    ))?;
    if format(session)? != "opaque" {
        return Err(EventError::new(
            C::UnsupportedSubject,
            "a session subject must be of format opaque",
        ));
    }
    session_id_of(session)
}

fn session_id_of(subject: &Members) -> Result<&str, EventError> {
    id_in(subject, "id")?.ok_or(EventError::new(
        C::Malformed,
        "the session subject has no `id`",
    ))
}
