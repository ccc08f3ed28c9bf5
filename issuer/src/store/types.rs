//! The records the store keeps and the requests it takes, apart from how
//! either database holds them.

use tollgate_verifier::{RevocationEntry, Uuid};

/// A user as stored. The password hash never shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Random id; the `sub` of the user's tokens.
    pub id: Uuid,
    /// Lower-cased email address, unique.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Holds the `ADMIN` role as well as `USER`.
    pub is_admin: bool,
    /// A deactivated user cannot log in or refresh.
    pub active: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("is_admin", &self.is_admin)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// A device session: one login of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The `sid` of every token issued to it.
    pub id: Uuid,
    /// Whose session it is.
    pub user_id: Uuid,
    /// The device's id as the client sent it (a fingerprint, say).
    pub device_id: String,
    /// `browser`, `mobile`, ... as the client sent it.
    pub device_type: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Last login or refresh, Unix seconds.
    pub last_used_at: i64,
    /// After this a refresh is refused (sliding: each refresh moves it).
    pub expires_at: i64,
    /// How many times its refresh token was rotated.
    pub refresh_count: i64,
    /// The RFC 7638 thumbprint of the DPoP key the session is bound to, if
    /// it logged in with a proof: its tokens carry it as `cnf.jkt`, and it
    /// refreshes only with a proof from that key.
    pub dpop_jkt: Option<String>,
}

/// How long the revocation of a session must last: past the latest `exp`
/// of any access token it was given (plus the leeway), and never less than
/// `floor` (now + this replica's TTL + leeway, which also covers sessions
/// from before `access_exp` was recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokeUntil {
    /// The least `until`.
    pub floor: i64,
    /// Verifiers' clock-skew allowance, added to the latest `exp`.
    pub leeway: i64,
}

impl RevokeUntil {
    /// The `until` for a session whose latest access token expires at `access_exp`.
    pub fn for_exp(self, access_exp: i64) -> i64 {
        self.floor.max(access_exp.saturating_add(self.leeway))
    }
}

/// What a login stores.
#[derive(Clone)]
pub struct NewSession {
    /// The session as it starts.
    pub session: Session,
    /// SHA-256 of its first refresh token.
    pub refresh_hash: [u8; 32],
    /// The `exp` of its first access token.
    pub access_exp: i64,
    /// How long the revocation of a session this one replaces lasts.
    pub revoke: RevokeUntil,
}

/// What a refresh asks for.
#[derive(Clone)]
pub struct RefreshRequest {
    /// SHA-256 of the refresh token presented.
    pub presented: [u8; 32],
    /// SHA-256 of its successor. The successor is derived from the
    /// presented token (an HMAC under a server key), so a second
    /// presentation within the grace window gets the same one.
    pub successor: [u8; 32],
    /// Unix seconds.
    pub now: i64,
    /// The session's new `expires_at` if the refresh succeeds.
    pub expires_at: i64,
    /// The `exp` of the access token the caller will sign.
    pub access_exp: i64,
    /// A token rotated at most this many seconds ago, whose successor is
    /// still the session's live token, is a concurrent refresh (two tabs, a
    /// retry): it gets that same successor. Anything else rotated is reuse.
    pub reuse_grace_secs: i64,
    /// How long the session's revocation lasts if this is a reuse.
    pub revoke: RevokeUntil,
    /// The thumbprint of the key whose DPoP proof came with the refresh. A
    /// session bound to a key refreshes only with a proof from it.
    pub proof_jkt: Option<String>,
    /// Refuse to refresh a session that is not bound to a key (`--require-dpop`:
    /// sessions from before it was turned on must log in again with a proof).
    pub require_bound: bool,
}

/// How a refresh ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: it is now rotated to the successor, and this
    /// is the session.
    Rotated(Session),
    /// The token was rotated within the grace window and its successor is
    /// still live: answer with that same successor. Nothing new is stored
    /// but the session's use.
    Repeated(Session),
    /// The token had already been rotated otherwise: the session is now revoked.
    Reused,
    /// Unknown token, a session that is over, or a deactivated user.
    Invalid,
    /// The session is bound to a DPoP key and the refresh came without a
    /// proof from it: nothing was changed.
    WrongKey,
}

/// Which of a user's sessions to revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// One session, if it is the user's and live.
    One(Uuid),
    /// Every live session of the user.
    All,
}

/// A revocation as logged, with its position in the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRevocation {
    /// Position in commit order; the feed cursor points at one.
    pub seq: i64,
    /// What was revoked and until when.
    pub entry: RevocationEntry,
}

/// The first page of a snapshot, read in one consistent view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPage {
    /// Unexpired revocations in `seq` order, at most the limit asked for.
    pub entries: Vec<LoggedRevocation>,
    /// The entry with the highest `seq` visible in the same read (none if
    /// the log is empty). Every lower `seq` that will ever commit has
    /// committed, so a cursor here skips nothing.
    pub head: Option<LoggedRevocation>,
}

/// A token signing key as stored. The secret never shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id, as in the JWKS and token headers.
    pub kid: String,
    /// JOSE algorithm name, e.g. `EdDSA`.
    pub alg: String,
    /// The private key bytes (for Ed25519, the 32-byte seed).
    pub secret: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
    /// When it stopped signing; `None` for the current key.
    pub retired_at: Option<i64>,
    /// When it was withdrawn (`keys withdraw`): from then on it is neither
    /// published nor trusted.
    pub withdrawn_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("withdrawn_at", &self.withdrawn_at)
            .finish()
    }
}

/// What `keys withdraw` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    /// The key is withdrawn; `replaced` says it was the current key and the
    /// replacement now signs.
    Withdrawn {
        /// It was the current key.
        replaced: bool,
    },
    /// No key has this id.
    Unknown,
    /// It was withdrawn before.
    AlreadyWithdrawn,
}
