//! The revocation feed's wire types (`GET /v1/revocations?since=<cursor>`).
//!
//! ```json
//! {"cursor":"<opaque>","reset":false,"more":false,"keys":"<opaque>",
//!  "revoked":[{"sid":"<uuid>","until":1763820000},{"jti":"<uuid>","until":1763820300}]}
//! ```
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Revoked {
    /// A device session: every token with this `sid`.
    Sid(Uuid),
    /// One token: the token with this `jti`.
    Jti(Uuid),
}

/// A revocation: `{"sid": ..., "until": ...}` or `{"jti": ..., "until": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EntryWire", into = "EntryWire")]
pub struct RevocationEntry {
    /// The session or token revoked.
    pub target: Revoked,
    /// Unix seconds after which no token of `target` can be valid any more
    /// (its latest `exp` plus leeway): the entry may be dropped after it,
    /// never before.
    pub until: i64,
}

/// The flat JSON shape of an entry; exactly one of `sid`/`jti` is set.
#[derive(Serialize, Deserialize)]
struct EntryWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<Uuid>,
    until: i64,
}

impl TryFrom<EntryWire> for RevocationEntry {
    type Error = &'static str;

    fn try_from(wire: EntryWire) -> Result<Self, Self::Error> {
        let target = match (wire.sid, wire.jti) {
            (Some(sid), None) => Revoked::Sid(sid),
            (None, Some(jti)) => Revoked::Jti(jti),
            _ => return Err("a revocation entry needs exactly one of `sid` and `jti`"),
        };
        Ok(RevocationEntry {
            target,
            until: wire.until,
        })
    }
}

impl From<RevocationEntry> for EntryWire {
    fn from(entry: RevocationEntry) -> Self {
        let (sid, jti) = match entry.target {
            Revoked::Sid(sid) => (Some(sid), None),
            Revoked::Jti(jti) => (None, Some(jti)),
        };
        EntryWire {
            sid,
            jti,
            until: entry.until,
        }
    }
}
