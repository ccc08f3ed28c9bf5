//! The revocation feed's wire types (`GET /v1/revocations?since=<cursor>`).
//!
//! ```json
//! {"cursor":"<opaque>","reset":false,"more":false,"keys":"<opaque>",
//!  "revoked":[{"sid":"<uuid>","until":1763820000},{"jti":"<uuid>","until":1763820300}]}
//! ```
//!
//! Entries of upstream identity providers name their `iss`
//! ([`RevocationEntry`]); a verifier older than them refuses the page, so it
//! fails closed rather than skipping a revocation.
//!
//! `more` is tollgate's addition to the feed's first shape (docs/issuer.md,
//! "The revocation feed"): it says the page was
//! cut at the server's limit, so the client should ask again at once rather
//! than infer "caught up" from a short page. It defaults to `false`. `keys`
//! names the key-set version (docs/verifier.md); it is optional on the wire.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One page of the revocation feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationFeed {
    /// Where to continue from: pass it back as `since`.
    pub cursor: String,
    /// `true` for a snapshot: the client replaces its whole set with this page
    /// (and, if `more`, the pages that follow).
    #[serde(default)]
    pub reset: bool,
    /// More entries are waiting after `cursor`.
    #[serde(default)]
    pub more: bool,
    /// The issuer's key-set version: it changes whenever a key is added or
    /// withdrawn, and a verifier that sees a new one refetches the JWKS
    /// before it accepts another token. Opaque; absent from older issuers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<String>,
    /// The entries, in commit order.
    pub revoked: Vec<RevocationEntry>,
}

impl RevocationFeed {
    /// The path and query of the next feed request: after `cursor`, or a
    /// snapshot with none. Every adapter that polls the feed builds its URL
    /// here, so the cursor is always escaped the same way.
    ///
    /// ```
    /// use tollgate_verifier::RevocationFeed;
    /// assert_eq!(RevocationFeed::request_path(None), "/v1/revocations");
    /// assert_eq!(RevocationFeed::request_path(Some("ab:12")), "/v1/revocations?since=ab%3A12");
    /// ```
    pub fn request_path(cursor: Option<&str>) -> String {
        let Some(cursor) = cursor else {
            return "/v1/revocations".into();
        };
        let mut path = String::from("/v1/revocations?since=");
        // Percent-encode all but RFC 3986's unreserved characters.
        for byte in cursor.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                path.push(char::from(byte));
            } else {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                path.push('%');
                path.push(char::from(HEX[usize::from(byte >> 4)]));
                path.push(char::from(HEX[usize::from(byte & 15)]));
            }
        }
        path
    }
}

/// What a revocation entry revokes.
///
/// tollgate's own sessions and tokens are named by UUID. Those of an
/// upstream identity provider are named by the provider's opaque strings
/// and scoped by its `iss`: a `sid` of provider A never revokes a session of
/// provider B, or of tollgate. A subject cut-off revokes every token of one
/// user issued at or before a moment (a logout with no session, a password
/// change), as Keycloak's "not before" does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Revoked {
    /// A tollgate device session: every token with this `sid`.
    Sid(Uuid),
    /// One tollgate token: the token with this `jti`.
    Jti(Uuid),
    /// A session of the upstream `iss`: every token of it whose session
    /// claim is `sid`.
    UpstreamSid {
        /// The provider's issuer identifier.
        iss: String,
        /// Its session id, as its tokens carry it.
        sid: String,
    },
    /// One token of the upstream `iss`.
    UpstreamJti {
        /// The provider's issuer identifier.
        iss: String,
        /// The token's `jti`.
        jti: String,
    },
    /// Every token whose `sub` is `sub` from `iss` (`None`: tollgate's own)
    /// with `iat` at or before `before`.
    Subject {
        /// The issuer the subject belongs to; `None` for tollgate's own.
        iss: Option<String>,
        /// The subject identifier.
        sub: String,
        /// Unix seconds: tokens issued at or before it are revoked.
        before: i64,
    },
    /// Every token whose `email` claim is `email` from `iss` with `iat` at
    /// or before `before` (an SSF event naming its subject by e-mail).
    Email {
        /// The issuer the subject belongs to; `None` for tollgate's own.
        iss: Option<String>,
        /// The e-mail address, as the tokens carry it.
        email: String,
        /// Unix seconds: tokens issued at or before it are revoked.
        before: i64,
    },
}

impl Revoked {
    /// The upstream issuer this entry is scoped to, `None` for tollgate's own.
    pub fn issuer(&self) -> Option<&str> {
        match self {
            Revoked::Sid(_) | Revoked::Jti(_) => None,
            Revoked::UpstreamSid { iss, .. } | Revoked::UpstreamJti { iss, .. } => Some(iss),
            Revoked::Subject { iss, .. } | Revoked::Email { iss, .. } => iss.as_deref(),
        }
    }
}

/// A revocation, as on the wire:
///
/// ```json
/// {"sid":"<uuid>","until":1763820300}
/// {"jti":"<uuid>","until":1763820300}
/// {"iss":"https://idp.example","sid":"<opaque>","until":1763820300}
/// {"iss":"https://idp.example","sub":"<opaque>","before":1763816700,"until":1763820330}
/// ```
///
/// Exactly one of `sid`, `jti`, `sub` and `email`; `before` with `sub` and
/// `email` only. Without `iss` the entry is tollgate's own, and `sid` and
/// `jti` are UUIDs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EntryWire", into = "EntryWire")]
pub struct RevocationEntry {
    /// What is revoked.
    pub target: Revoked,
    /// Unix seconds after which no token of `target` can be valid any more
    /// (its latest `exp` plus leeway): the entry may be dropped after it,
    /// never before.
    pub until: i64,
}

/// The flat JSON shape of an entry.
#[derive(Serialize, Deserialize)]
struct EntryWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<i64>,
    until: i64,
}

/// A `sid` or `jti` as sent: a UUID in its canonical form (lower case,
/// hyphenated) is read without allocating (the common case, a snapshot of a
/// million of tollgate's own entries); anything else is kept as text, for
/// an upstream entry, whose ids compare as the exact text.
#[derive(Debug)]
enum Id {
    Uuid(Uuid),
    Text(String),
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Uuid(id) => id.serialize(serializer),
            Id::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;

        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = Id;

            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a session or token id")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Id, E> {
                let mut canonical = [0u8; uuid::fmt::Hyphenated::LENGTH];
                Ok(match Uuid::try_parse(value) {
                    Ok(id) if id.hyphenated().encode_lower(&mut canonical) == value => Id::Uuid(id),
                    _ => Id::Text(value.to_owned()),
                })
            }
        }

        deserializer.deserialize_str(IdVisitor)
    }
}

impl Id {
    fn own(self) -> Result<Uuid, &'static str> {
        match self {
            Id::Uuid(id) => Ok(id),
            Id::Text(_) => {
                Err("a tollgate `sid` or `jti` is a UUID (an upstream entry names its `iss`)")
            }
        }
    }

    fn text(self) -> String {
        match self {
            Id::Uuid(id) => id.to_string(),
            Id::Text(text) => text,
        }
    }
}

impl TryFrom<EntryWire> for RevocationEntry {
    type Error = &'static str;

    fn try_from(wire: EntryWire) -> Result<Self, Self::Error> {
        let EntryWire {
            iss,
            sid,
            jti,
            sub,
            email,
            before,
            until,
        } = wire;
        if iss.as_deref() == Some("") {
            return Err("a revocation entry's `iss` is empty");
        }
        let target = match (sid, jti, sub, email, before, iss) {
            (Some(sid), None, None, None, None, None) => Revoked::Sid(sid.own()?),
            (None, Some(jti), None, None, None, None) => Revoked::Jti(jti.own()?),
            (Some(sid), None, None, None, None, Some(iss)) => Revoked::UpstreamSid {
                iss,
                sid: sid.text(),
            },
            (None, Some(jti), None, None, None, Some(iss)) => Revoked::UpstreamJti {
                iss,
                jti: jti.text(),
            },
            (None, None, Some(sub), None, Some(before), iss) => {
                Revoked::Subject { iss, sub, before }
            }
            (None, None, None, Some(email), Some(before), iss) => {
                Revoked::Email { iss, email, before }
            }
            _ => {
                return Err(
                    "a revocation entry needs exactly one of `sid`, `jti`, `sub` and `email`, \
                     and `before` with `sub` or `email` only",
                );
            }
        };
        Ok(RevocationEntry { target, until })
    }
}

impl From<RevocationEntry> for EntryWire {
    fn from(entry: RevocationEntry) -> Self {
        let mut wire = EntryWire {
            iss: None,
            sid: None,
            jti: None,
            sub: None,
            email: None,
            before: None,
            until: entry.until,
        };
        match entry.target {
            Revoked::Sid(sid) => wire.sid = Some(Id::Uuid(sid)),
            Revoked::Jti(jti) => wire.jti = Some(Id::Uuid(jti)),
            Revoked::UpstreamSid { iss, sid } => {
                wire.iss = Some(iss);
                wire.sid = Some(Id::Text(sid));
            }
            Revoked::UpstreamJti { iss, jti } => {
                wire.iss = Some(iss);
                wire.jti = Some(Id::Text(jti));
            }
            Revoked::Subject { iss, sub, before } => {
                wire.iss = iss;
                wire.sub = Some(sub);
                wire.before = Some(before);
            }
            Revoked::Email { iss, email, before } => {
                wire.iss = iss;
                wire.email = Some(email);
                wire.before = Some(before);
            }
        }
        wire
    }
}
