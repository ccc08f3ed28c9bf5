//! Logout announcements of upstream identity providers, judged: OpenID
//! Connect Back-Channel Logout 1.0 logout tokens ([`judge_logout_token`])
//! and Shared Signals Framework 1.0 / CAEP 1.0 Security Event Tokens (RFC
//! 8417, [`judge_security_event`]), each turned into the revocations it
//! means. The issuer receives them (push, poll) and persists the result;
//! which revocation an event means is decided here, once.
//!
//! Both are JWSs signed by the provider with a key of its published JWKS
//! (bound to its issuer in the [`KeySet`], as for access tokens), and both
//! are refused, with an [`EventError`] whose [`EventCode`] is stable, for:
//! a token over 8 KiB, a bad signature, a key of another issuer, `alg:
//! none` or HS256, a wrong `iss` or `aud`, a missing `jti`, an `iat` in the
//! future or too old, an `exp` in the past. What each kind adds is in its
//! module. A replayed `jti` is the caller's to refuse (it keeps the seen
//! ones until [`Event::keep_until`]).

mod logout;
mod set;

pub use logout::{BACKCHANNEL_LOGOUT_EVENT, judge_logout_token};
pub use set::{
    CREDENTIAL_CHANGE_EVENT, SESSION_REVOKED_EVENT, VERIFICATION_EVENT, judge_security_event,
};

use core::fmt;

use crate::json::{self, Members, Reader, Value};

use crate::algorithm::Algorithm;
use crate::audience::Audience;
use crate::bounds::MAX_TOKEN_LEN;
use crate::feed::{RevocationEntry, Revoked};
use crate::jws::{Header, Parts, SignatureCheck};
use crate::keys::KeySet;
use crate::upstream::Upstream;

/// How old a logout token without `exp` may be, in seconds (its `iat`
/// bounds its age, as the specification's quirks list asks).
pub const DEFAULT_LOGOUT_MAX_AGE_SECS: u32 = 300;

/// How old a Security Event Token may be, in seconds: a polled one may have
/// waited at the transmitter for a while.
pub const DEFAULT_EVENT_MAX_AGE_SECS: u32 = 86_400;

/// What an event token is judged against, besides the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOptions {
    /// The provider's issuer identifier: the endpoint's upstream.
    pub issuer: String,
    /// The `aud` the token must carry (the client id the provider knows
    /// tollgate by).
    pub audience: String,
    /// Clock skew allowed, in seconds.
    pub leeway_secs: u32,
    /// How old its `iat` may be, in seconds.
    pub max_age_secs: u32,
}

/// An accepted event: its id and what it revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The token's `jti`: a second token with it is a replay.
    pub jti: String,
    /// Until when the `jti` must be remembered to refuse a replay: past it
    /// the token is refused as expired or too old anyway.
    pub keep_until: i64,
    /// The revocations it means; empty for an event that revokes nothing
    /// (an SSF verification event).
    pub revoked: Vec<RevocationEntry>,
}

/// Why an event token was refused; the code is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventCode {
    /// Over 8 KiB.
    TooLarge,
    /// Not a compact JWS of JSON, or a claim of the wrong type.
    Malformed,
    /// `alg` is none, HS256, or not one the provider's rules allow, or not the key's.
    UnsupportedAlg,
    /// The `typ` header is not one this kind of token may have.
    WrongType,
    /// No key of this provider has the header's `kid`.
    UnknownKid,
    /// The signature does not verify.
    BadSignature,
    /// `iss` is not this provider.
    WrongIssuer,
    /// `aud` does not name tollgate.
    WrongAudience,
    /// `exp` has passed.
    Expired,
    /// `iat` is older than the age allowed.
    TooOld,
    /// `iat` is in the future.
    NotYetValid,
    /// A required claim is missing.
    MissingClaim,
    /// A logout token carries a `nonce` (it would be an ID token).
    NoncePresent,
    /// `events` is missing or names an event this receiver does not act on.
    WrongEvent,
    /// No subject: neither `sub` nor `sid`, or no `sub_id`.
    NoSubject,
    /// The subject belongs to another issuer.
    ForeignSubject,
    /// The subject's format is not one this receiver can map.
    UnsupportedSubject,
    /// The event names a session only, and the provider's access tokens
    /// carry none (its rules have no session claim): nothing to revoke.
    UnmappedSession,
    /// The `jti` was seen before (the caller decides this one).
    Replayed,
}

impl EventCode {
    /// The stable snake_case code.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventCode::TooLarge => "too_large",
            EventCode::Malformed => "malformed",
            EventCode::UnsupportedAlg => "unsupported_alg",
            EventCode::WrongType => "wrong_type",
            EventCode::UnknownKid => "unknown_kid",
            EventCode::BadSignature => "bad_signature",
            EventCode::WrongIssuer => "wrong_issuer",
            EventCode::WrongAudience => "wrong_audience",
            EventCode::Expired => "expired",
            EventCode::TooOld => "too_old",
            EventCode::NotYetValid => "not_yet_valid",
            EventCode::MissingClaim => "missing_claim",
            EventCode::NoncePresent => "nonce_present",
            EventCode::WrongEvent => "wrong_event",
            EventCode::NoSubject => "no_subject",
            EventCode::ForeignSubject => "foreign_subject",
            EventCode::UnsupportedSubject => "unsupported_subject",
            EventCode::UnmappedSession => "unmapped_session",
            EventCode::Replayed => "replayed",
        }
    }

    /// The RFC 8935 §2.4 error code a push receiver answers with.
    pub const fn set_error(self) -> &'static str {
        match self {
            EventCode::WrongIssuer => "invalid_issuer",
            EventCode::WrongAudience => "invalid_audience",
            EventCode::UnsupportedAlg | EventCode::UnknownKid | EventCode::BadSignature => {
                "invalid_key"
            }
            _ => "invalid_request",
        }
    }
}

/// An event token refused: the [`EventCode`] and a description safe to
/// send back to the provider (it never quotes the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// Why.
    pub code: EventCode,
    /// In words.
    pub description: &'static str,
}

impl EventError {
    /// An error with `code` and `description`.
    pub const fn new(code: EventCode, description: &'static str) -> Self {
        EventError { code, description }
    }

    /// The body of a Back-Channel Logout 400 (OIDC BCL §2.8, RFC 6749
    /// §5.2's shape): `{"error":"invalid_request","error_description":...}`.
    pub fn logout_body(&self) -> String {
        let mut body = json::Object::new();
        body.str("error", "invalid_request")
            .str("error_description", &self.to_string());
        body.finish()
    }

    /// The body of an RFC 8935 push 400: `{"err":...,"description":...}`.
    pub fn set_body(&self) -> String {
        let mut body = json::Object::new();
        body.str("description", &self.to_string())
            .str("err", self.code.set_error());
        body.finish()
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for EventError {}

/// A token whose signature verified, with its provider's rules.
pub(crate) struct Signed<'k> {
    pub(crate) upstream: &'k Upstream,
    pub(crate) claims: Members,
}

/// The checks both kinds share, up to and including the signature.
pub(crate) fn signed<'k>(
    token: &str,
    keys: &'k KeySet,
    options: &EventOptions,
    typ_ok: impl FnOnce(Option<&str>) -> bool,
) -> Result<Signed<'k>, EventError> {
    use EventCode as C;
    if token.len() > MAX_TOKEN_LEN {
        return Err(EventError::new(C::TooLarge, "the token is over 8 KiB"));
    }
    let malformed = |what| EventError::new(C::Malformed, what);
    let parts = Parts::split(token).map_err(|_| malformed("not a compact JWS"))?;
    let header = Header::read(&parts.header)
        .map_err(|_| malformed("the header is not a JSON object of the JWS shape"))?;
    if header.crit || header.b64 {
        return Err(malformed(
            "critical or unencoded-payload headers are not supported",
        ));
    }
    if !typ_ok(header.typ.as_deref()) {
        return Err(EventError::new(
            C::WrongType,
            "the `typ` header is not one this token may have",
        ));
    }
    let upstream = keys.upstream(&options.issuer).ok_or(EventError::new(
        C::UnknownKid,
        "no keys of this provider are loaded",
    ))?;
    let alg = Algorithm::from_name(&header.alg)
        .filter(|alg| upstream.allows(*alg))
        .ok_or(EventError::new(
            C::UnsupportedAlg,
            "the algorithm is not one this provider signs with",
        ))?;
    let claims = match Reader::document(&parts.payload, Value::read) {
        Ok(Value::Object(claims)) => claims,
        _ => return Err(malformed("the payload is not a JSON object")),
    };
    if claims.get("iss").and_then(Value::as_str) != Some(options.issuer.as_str()) {
        return Err(EventError::new(
            C::WrongIssuer,
            "`iss` is not this provider",
        ));
    }
    let kid = header
        .kid
        .as_deref()
        .ok_or(EventError::new(C::UnknownKid, "the header names no `kid`"))?;
    let key = keys.get(Some(&options.issuer), kid).ok_or(EventError::new(
        C::UnknownKid,
        "no key of this provider has the `kid`",
    ))?;
    if key.algorithm() != alg {
        return Err(EventError::new(
            C::UnsupportedAlg,
            "the algorithm is not the key's",
        ));
    }
    let check = SignatureCheck::new(key.clone(), parts.signing_input.to_vec(), parts.signature);
    if !check.verify() {
        return Err(EventError::new(
            C::BadSignature,
            "the signature does not verify",
        ));
    }
    Ok(Signed { upstream, claims })
}

impl Signed<'_> {
    /// `aud`, `jti`, `iat` and `exp` checked; the `jti` and until when to
    /// keep it, and the `iat`.
    pub(crate) fn common(
        &self,
        options: &EventOptions,
        now: i64,
    ) -> Result<(String, i64, i64), EventError> {
        use EventCode as C;
        let leeway = i64::from(options.leeway_secs);
        let not_audience =
            || EventError::new(C::Malformed, "`aud` is not a string or an array of strings");
        let aud = match self.claims.get("aud") {
            None => return Err(EventError::new(C::MissingClaim, "`aud` is missing")),
            Some(Value::String(aud)) => Audience::One(aud.clone()),
            Some(Value::Array(auds)) => Audience::Many(
                auds.iter()
                    .map(|aud| aud.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(not_audience)?,
            ),
            Some(_) => return Err(not_audience()),
        };
        if !aud.contains(&options.audience) {
            return Err(EventError::new(
                C::WrongAudience,
                "`aud` does not name this receiver",
            ));
        }
        let jti = self
            .string("jti")?
            .ok_or(EventError::new(C::MissingClaim, "`jti` is missing"))?;
        if jti.is_empty() || jti.len() > 256 {
            return Err(EventError::new(
                C::Malformed,
                "`jti` is empty or over 256 bytes",
            ));
        }
        let iat = self
            .date("iat")?
            .ok_or(EventError::new(C::MissingClaim, "`iat` is missing"))?;
        if iat > now.saturating_add(leeway) {
            return Err(EventError::new(C::NotYetValid, "`iat` is in the future"));
        }
        let oldest = now
            .saturating_sub(i64::from(options.max_age_secs))
            .saturating_sub(leeway);
        if iat < oldest {
            return Err(EventError::new(
                C::TooOld,
                "`iat` is older than this receiver accepts",
            ));
        }
        let exp = self.date("exp")?;
        if exp.is_some_and(|exp| now >= exp.saturating_add(leeway)) {
            return Err(EventError::new(C::Expired, "`exp` has passed"));
        }
        let keep_until = exp
            .unwrap_or(i64::MIN)
            .max(iat.saturating_add(i64::from(options.max_age_secs)))
            .saturating_add(leeway);
        Ok((jti.to_owned(), keep_until, iat))
    }

    /// A string claim; `Err` if it is there and not a string.
    pub(crate) fn string(&self, name: &str) -> Result<Option<&str>, EventError> {
        string_in(&self.claims, name)
    }

    /// A NumericDate claim, rounded up; `Err` if it is there and not a number.
    pub(crate) fn date(&self, name: &str) -> Result<Option<i64>, EventError> {
        date_in(&self.claims, name)
    }

    /// The entry revoking `target` for as long as any token it covers can
    /// live (the verifiers refuse tokens that live longer than the
    /// provider's `max_token_lifetime_secs`): a cut-off from its `before`,
    /// a session from now.
    pub(crate) fn entry(
        &self,
        target: Revoked,
        now: i64,
        options: &EventOptions,
    ) -> RevocationEntry {
        let lifetime = i64::from(self.upstream.rules().max_token_lifetime_secs);
        let from = match &target {
            Revoked::Subject { before, .. } | Revoked::Email { before, .. } => *before,
            _ => now,
        };
        RevocationEntry {
            target,
            until: from
                .saturating_add(lifetime)
                .saturating_add(i64::from(options.leeway_secs)),
        }
    }

    /// Whether the provider's access tokens name their session.
    pub(crate) fn has_session_claim(&self) -> bool {
        self.upstream.has_session_claim()
    }

    /// An id claim (`sub`, `sid`, ...): `Err` if it is there and not an
    /// id a header and a database column can hold.
    pub(crate) fn id(&self, name: &str) -> Result<Option<&str>, EventError> {
        id_in(&self.claims, name)
    }

    /// The moment a cut-off made at `at` takes: rounded up (as a token's
    /// `iat` is) and never later than now plus the leeway, so a future or
    /// millisecond timestamp cannot lock the user out of new logins.
    pub(crate) fn cut_at(&self, at: i64, now: i64, options: &EventOptions) -> i64 {
        at.min(now.saturating_add(i64::from(options.leeway_secs)))
    }
}

pub(crate) fn string_in<'a>(
    object: &'a Members,
    name: &str,
) -> Result<Option<&'a str>, EventError> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(EventError::new(
            EventCode::Malformed,
            "a claim that must be a string is not",
        )),
    }
}

/// The longest id (`sub`, `sid`, an e-mail address) an event may name.
pub const MAX_ID_LEN: usize = 1024;

/// An id member of `object`: a string of 1 to [`MAX_ID_LEN`] bytes without
/// control characters (which neither a header nor a Postgres text column
/// takes), or absent.
pub(crate) fn id_in<'a>(object: &'a Members, name: &str) -> Result<Option<&'a str>, EventError> {
    let Some(id) = string_in(object, name)? else {
        return Ok(None);
    };
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(EventError::new(
            EventCode::Malformed,
            "an id is empty, over 1024 bytes, or holds control characters",
        ));
    }
    Ok(Some(id))
}

/// A NumericDate member of `object`, a fraction rounded up exactly, as a
/// token's `iat` is (a cut-off at 100.7 covers a token issued at 100.4,
/// whose `iat` reads 101); `Err` if it is there and not a number in range.
pub(crate) fn date_in(object: &Members, name: &str) -> Result<Option<i64>, EventError> {
    match object.get(name) {
        None => Ok(None),
        Some(number @ Value::Number(_)) => number.whole_seconds(true).map(Some).ok_or(
            EventError::new(EventCode::Malformed, "a date claim is out of range"),
        ),
        Some(_) => Err(EventError::new(
            EventCode::Malformed,
            "a date claim is not a number",
        )),
    }
}
