//! The revocation feed's wire types (`GET /v1/revocations?since=<cursor>`).
//!
//! ```json
//! {"cursor":"<opaque>","reset":false,"more":false,"keys":"<opaque>",
//!  "revoked":[{"sid":"<uuid>","until":1763820000},{"jti":"<uuid>","until":1763820300}]}
//! ```
//!
//! Entries of upstream identity providers name their `iss` and carry a key
//! in place of the provider's ids ([`RevocationEntry`]); a verifier older
//! than them refuses the page (they name neither `sid` nor `jti`), so it
//! fails closed rather than skipping a revocation.
//!
//! `more` is tollgate's addition to the feed's first shape (docs/issuer.md,
//! "The revocation feed"): it says the page was
//! cut at the server's limit, so the client should ask again at once rather
//! than infer "caught up" from a short page. It defaults to `false`. `keys`
//! names the key-set version (docs/verifier.md); it is optional on the wire.

use serde::Serialize;
use uuid::Uuid;

use crate::json::{self, Reader};

/// One page of the revocation feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevocationFeed {
    /// Where to continue from: pass it back as `since`.
    pub cursor: String,
    /// `true` for a snapshot: the client replaces its whole set with this page
    /// (and, if `more`, the pages that follow).
    pub reset: bool,
    /// More entries are waiting after `cursor`.
    pub more: bool,
    /// The issuer's key-set version: it changes whenever a key is added or
    /// withdrawn, and a verifier that sees a new one refetches the JWKS
    /// before it accepts another token. Opaque; absent from older issuers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<String>,
    /// The entries, in commit order.
    pub revoked: Vec<RevocationEntry>,
}

impl RevocationFeed {
    /// Parses a page: `cursor` and `revoked` required, `reset` and `more`
    /// `false` when absent, `keys` optional; other members ignored, none
    /// given twice.
    pub fn from_json(json: &str) -> Result<Self, json::Error> {
        const NAMES: [&str; 5] = ["cursor", "reset", "more", "keys", "revoked"];
        let (mut cursor, mut revoked) = (None, None);
        let (mut reset, mut more, mut keys) = (false, false, None);
        Reader::document(json.as_bytes(), |r| {
            r.members(&NAMES, &mut |r, member| {
                match member {
                    0 => cursor = Some(r.string()?),
                    1 => reset = r.bool()?,
                    2 => more = r.bool()?,
                    3 => keys = r.opt_string()?,
                    _ => {
                        let mut entries = Vec::new();
                        r.array(&mut |r| {
                            entries.push(RevocationEntry::read(r)?);
                            Ok(())
                        })?;
                        revoked = Some(entries);
                    }
                }
                Ok(())
            })?;
            Ok(RevocationFeed {
                cursor: cursor
                    .take()
                    .ok_or_else(|| r.fail("a feed page has no `cursor`"))?,
                reset,
                more,
                keys: keys.take(),
                revoked: revoked
                    .take()
                    .ok_or_else(|| r.fail("a feed page has no `revoked`"))?,
            })
        })
    }

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
        // All but RFC 3986's unreserved characters.
        let escaped = crate::percent::encode(cursor, |byte| {
            byte.is_ascii_alphanumeric() || b"-._~".contains(&byte)
        });
        format!("/v1/revocations?since={escaped}")
    }
}

/// What a revocation entry revokes.
///
/// tollgate's own sessions and tokens are named by UUID. Those of an
/// upstream identity provider are scoped by its `iss`: a `sid` of provider
/// A never revokes a session of provider B, or of tollgate. A subject
/// cut-off revokes every token of one user issued at or before a moment (a
/// logout with no session, a password change), as Keycloak's "not before"
/// does.
///
/// The issuer holds an upstream's entries in clear (`UpstreamSid`, ...);
/// the feed carries them as their 16-byte key only (`Upstream`, `Cutoff`),
/// so the public feed never names who logged out. Each clear variant is
/// written as its key form, and read back as it.
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
    /// Every token whose `email` claim is `email` (ASCII case aside) from
    /// `iss` with `iat` at or before `before` (an SSF event naming its
    /// subject by e-mail).
    Email {
        /// The issuer the subject belongs to; `None` for tollgate's own.
        iss: Option<String>,
        /// The e-mail address, as the tokens carry it.
        email: String,
        /// Unix seconds: tokens issued at or before it are revoked.
        before: i64,
    },
    /// An upstream session or token as the feed carries it: its key.
    Upstream {
        /// The provider's issuer identifier.
        iss: String,
        /// The entry's key ([`crate::entry_key`]).
        key: [u8; 16],
    },
    /// A subject cut-off as the feed carries it: its key and moment.
    Cutoff {
        /// The issuer; `None` for tollgate's own.
        iss: Option<String>,
        /// The entry's key.
        key: [u8; 16],
        /// Unix seconds: tokens issued at or before it are revoked.
        before: i64,
    },
}

impl Revoked {
    /// The upstream issuer this entry is scoped to, `None` for tollgate's own.
    pub fn issuer(&self) -> Option<&str> {
        match self {
            Revoked::Sid(_) | Revoked::Jti(_) => None,
            Revoked::UpstreamSid { iss, .. }
            | Revoked::UpstreamJti { iss, .. }
            | Revoked::Upstream { iss, .. } => Some(iss),
            Revoked::Subject { iss, .. }
            | Revoked::Email { iss, .. }
            | Revoked::Cutoff { iss, .. } => iss.as_deref(),
        }
    }

    /// The form the feed carries: tollgate's own as they are, an
    /// upstream's as its key.
    pub fn published(&self) -> Revoked {
        use crate::entry_key::{Kind, entry_key};
        let scope = |iss: &Option<String>| iss.clone().unwrap_or_default();
        match self {
            Revoked::UpstreamSid { iss, sid } => Revoked::Upstream {
                iss: iss.clone(),
                key: entry_key(Kind::Sid, iss, sid),
            },
            Revoked::UpstreamJti { iss, jti } => Revoked::Upstream {
                iss: iss.clone(),
                key: entry_key(Kind::Jti, iss, jti),
            },
            Revoked::Subject { iss, sub, before } => Revoked::Cutoff {
                iss: iss.clone(),
                key: entry_key(Kind::Sub, &scope(iss), sub),
                before: *before,
            },
            Revoked::Email { iss, email, before } => Revoked::Cutoff {
                iss: iss.clone(),
                key: entry_key(Kind::Email, &scope(iss), email),
                before: *before,
            },
            other => other.clone(),
        }
    }
}

/// A revocation, as on the wire:
///
/// ```json
/// {"sid":"<uuid>","until":1763820300}
/// {"jti":"<uuid>","until":1763820300}
/// {"iss":"https://idp.example","key":"<22 base64url>","until":1763820300}
/// {"iss":"https://idp.example","key":"<22 base64url>","before":1763816700,"until":1763820330}
/// ```
///
/// tollgate's own name a `sid` or `jti` (a UUID); an upstream's carry its
/// `iss` and the entry's `key` ([`Revoked::published`]), with `before` for
/// a subject cut-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "EntryWire")]
pub struct RevocationEntry {
    /// What is revoked.
    pub target: Revoked,
    /// Unix seconds after which no token of `target` can be valid any more
    /// (its latest `exp` plus leeway): the entry may be dropped after it,
    /// never before.
    pub until: i64,
}

/// The flat JSON shape of an entry.
#[derive(Default, Serialize)]
struct EntryWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<Key>,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<i64>,
    until: i64,
}

impl RevocationEntry {
    /// Parses one entry of a page (the forms above).
    pub fn from_json(json: &str) -> Result<Self, json::Error> {
        Reader::document(json.as_bytes(), RevocationEntry::read)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, json::Error> {
        const NAMES: [&str; 6] = ["iss", "sid", "jti", "key", "before", "until"];
        let mut wire = EntryWire::default();
        let mut until = None;
        r.members(&NAMES, &mut |r, member| {
            match member {
                0 => wire.iss = r.opt_string()?,
                1 => wire.sid = r.opt_uuid()?,
                2 => wire.jti = r.opt_uuid()?,
                3 => wire.key = Key::read(r)?,
                4 => wire.before = if r.null()? { None } else { Some(r.int()?) },
                _ => until = Some(r.int()?),
            }
            Ok(())
        })?;
        wire.until = until.ok_or_else(|| r.fail("a revocation entry has no `until`"))?;
        RevocationEntry::try_from(wire)
            .map_err(|_| r.fail("not a revocation entry of a known form"))
    }
}

/// An entry key as the feed writes it: 22 characters of unpadded base64url.
#[derive(Debug, Clone, Copy)]
struct Key([u8; 16]);

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0);
        serializer.serialize_str(&text)
    }
}

impl Key {
    /// 16 bytes in unpadded base64url, or `None` for `null`.
    fn read(r: &mut Reader<'_>) -> Result<Option<Key>, json::Error> {
        use base64::Engine as _;
        if r.null()? {
            return Ok(None);
        }
        let at = r.fail("an entry key is 16 bytes in unpadded base64url");
        let text = r.str()?;
        let mut key = [0u8; 16];
        match base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode_slice(text.as_bytes(), &mut key)
        {
            Ok(16) => Ok(Some(Key(key))),
            _ => Err(at),
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
            key,
            before,
            until,
        } = wire;
        if iss.as_deref() == Some("") {
            return Err("a revocation entry's `iss` is empty");
        }
        let target = match (sid, jti, key, before, iss) {
            (Some(sid), None, None, None, None) => Revoked::Sid(sid),
            (None, Some(jti), None, None, None) => Revoked::Jti(jti),
            (None, None, Some(Key(key)), None, Some(iss)) => Revoked::Upstream { iss, key },
            (None, None, Some(Key(key)), Some(before), iss) => Revoked::Cutoff { iss, key, before },
            _ => {
                return Err(
                    "a revocation entry is a `sid` or a `jti` (tollgate's own), or an `iss` with \
                     a `key` (and `before` for a subject cut-off)",
                );
            }
        };
        Ok(RevocationEntry { target, until })
    }
}

impl From<RevocationEntry> for EntryWire {
    fn from(entry: RevocationEntry) -> Self {
        let mut wire = EntryWire {
            until: entry.until,
            ..EntryWire::default()
        };
        match entry.target.published() {
            Revoked::Sid(sid) => wire.sid = Some(sid),
            Revoked::Jti(jti) => wire.jti = Some(jti),
            Revoked::Upstream { iss, key } => {
                wire.iss = Some(iss);
                wire.key = Some(Key(key));
            }
            Revoked::Cutoff { iss, key, before } => {
                wire.iss = iss;
                wire.key = Some(Key(key));
                wire.before = Some(before);
            }
            // `published` leaves no clear upstream form.
            Revoked::UpstreamSid { .. }
            | Revoked::UpstreamJti { .. }
            | Revoked::Subject { .. }
            | Revoked::Email { .. } => {}
        }
        wire
    }
}
