//! Users, device sessions and refresh tokens: the records and the
//! [`AccountStore`] operations, each one transaction.
//!
//! Every operation that logs a device out appends its `sid` to the
//! revocation log in the same transaction, so a logout that returned is on
//! the feed, and one that failed left nothing behind.
//!
//! The SQL is the same on both databases (`$n` placeholders work on SQLite
//! too), so [`shared_store!`] writes the implementation once (of this and
//! of the signing-key store) and each store
//! instantiates it with what differs: how a write transaction starts, how a
//! user's row is locked, and how the revocation log is appended to.

use async_trait::async_trait;
use tollgate_verifier::Uuid;

use super::StoreError;

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

/// Users, sessions and refresh tokens.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores a new user; [`StoreError::Conflict`] if the email is taken.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;

    /// The user with this (lower-cased) email.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// The user with this id.
    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError>;

    /// Starts a session, revoking any live session of the same user and
    /// device; returns the ids it revoked. `None`, and nothing stored, if the
    /// user is deactivated (or gone) by the time the transaction runs: a
    /// login that was mid-Argon2 when an admin deactivated the account must
    /// not produce a live session.
    async fn start_session(&self, new: &NewSession) -> Result<Option<Vec<Uuid>>, StoreError>;

    /// Rotates a refresh token. Of concurrent calls with the same token, one
    /// gets [`RefreshOutcome::Rotated`] and the others, within the grace
    /// window, [`RefreshOutcome::Repeated`]: the session never has two live
    /// refresh tokens.
    async fn refresh_session(&self, request: &RefreshRequest)
    -> Result<RefreshOutcome, StoreError>;

    /// Revokes the session a refresh token (current or rotated) belongs to;
    /// returns the ids revoked (none if the token is unknown or its session
    /// was already over).
    async fn revoke_by_refresh(
        &self,
        hash: &[u8; 32],
        now: i64,
        until: RevokeUntil,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Revokes `which` of `user`'s live sessions; returns the ids revoked.
    async fn revoke_sessions(
        &self,
        user: Uuid,
        which: Which,
        now: i64,
        until: RevokeUntil,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Deactivates a user and revokes all their sessions; returns the ids
    /// revoked, or `None` if there is no such user.
    async fn deactivate_user(
        &self,
        user: Uuid,
        now: i64,
        until: RevokeUntil,
    ) -> Result<Option<Vec<Uuid>>, StoreError>;

    /// The user's sessions that are neither revoked nor expired, oldest first.
    async fn live_sessions(&self, user: Uuid, now: i64) -> Result<Vec<Session>, StoreError>;

    /// Whether the log holds a revocation of this session or token id.
    async fn is_revoked(&self, sid: Uuid, jti: Uuid) -> Result<bool, StoreError>;
}

/// A `users` row.
pub(super) type UserRow = (Uuid, String, String, String, bool, bool, i64);

pub(super) fn user(row: UserRow) -> User {
    let (id, email, name, password_hash, is_admin, active, created_at) = row;
    User {
        id,
        email,
        name,
        password_hash,
        is_admin,
        active,
        created_at,
    }
}

/// A `sessions` row, as [`SESSION_COLUMNS`] lists it.
pub(super) type SessionRow = (
    Uuid,
    Uuid,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
);

pub(super) const SESSION_COLUMNS: &str = "id, user_id, device_id, device_type, created_at, \
     last_used_at, expires_at, refresh_count, dpop_jkt";

pub(super) fn session(row: SessionRow) -> Session {
    let (
        id,
        user_id,
        device_id,
        device_type,
        created_at,
        last_used_at,
        expires_at,
        refresh_count,
        dpop_jkt,
    ) = row;
    Session {
        id,
        user_id,
        device_id,
        device_type,
        created_at,
        last_used_at,
        expires_at,
        refresh_count,
        dpop_jkt,
    }
}

/// Revocation entries for sessions revoked together, each lasting past the
/// latest access token it was given: rows of `(sid, access_exp)`.
pub(super) fn sid_entries(
    revoked: &[(Uuid, i64)],
    until: RevokeUntil,
) -> Vec<tollgate_verifier::RevocationEntry> {
    revoked
        .iter()
        .map(|(sid, access_exp)| tollgate_verifier::RevocationEntry {
            target: tollgate_verifier::Revoked::Sid(*sid),
            until: until.for_exp(*access_exp),
        })
        .collect()
}

/// Implements [`AccountStore`] and [`KeyStore`](super::KeyStore) for `$store`
/// on database `$db`; the store must have:
/// - `self.pool`;
/// - `async fn begin_write(&self) -> Result<WriteTx<DB>, sqlx::Error>`, a
///   transaction that will write (on SQLite it waits its turn and says
///   `BEGIN IMMEDIATE`, so it never fails halfway because another writer got
///   in first);
/// - `async fn append_in(tx, &[RevocationEntry]) -> Result<(), sqlx::Error>`,
///   which appends to the revocation log inside `tx`, in commit order;
///
/// `$greatest` names the two-argument maximum (`MAX` on SQLite, `GREATEST`
/// on Postgres); and `$lock_user` is a statement that reads a user's `active` flag (`$1`)
/// and locks the row until commit, so two logins from one device take turns
/// and a deactivation cannot slip between the check and the insert
/// (SQLite's write lock already does that).
macro_rules! shared_store {
    ($store:ty, $db:ty, lock_user: $lock_user:literal, greatest: $greatest:literal) => {
        impl $store {
            /// Retires the current signing key at `key.created_at` and
            /// inserts `key` as the current one, inside `tx`.
            async fn make_current(
                &self,
                tx: &mut $crate::store::WriteTx<$db>,
                key: &$crate::store::StoredKey,
            ) -> Result<(), $crate::store::StoreError> {
                let secret = self.sealer.seal(&format!("signing_key:{}:{}", key.kid, key.alg), &key.secret)?;
                sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                    .bind(key.created_at)
                    .execute(&mut ***tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, secret, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&secret)
                .bind(key.created_at)
                .execute(&mut ***tx)
                .await?;
                Ok(())
            }

            /// [`Store::limit_attempt`](crate::store::Store::limit_attempt), the same SQL on both databases.
            async fn count_attempt(
                &self,
                key: &str,
                max: u32,
                window: i64,
                now: i64,
            ) -> Result<Result<(), u64>, $crate::store::StoreError> {
                let (start, count): (i64, i64) = sqlx::query_as(
                    "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
                     ON CONFLICT (key) DO UPDATE SET \
                     window_start = CASE WHEN rate_limits.window_start + $3 <= $2 \
                                    THEN $2 ELSE rate_limits.window_start END, \
                     count = CASE WHEN rate_limits.window_start + $3 <= $2 \
                             THEN 1 ELSE rate_limits.count + 1 END \
                     RETURNING window_start, count",
                )
                .bind(key)
                .bind(now)
                .bind(window)
                .fetch_one(&self.pool)
                .await?;
                if count > i64::from(max) {
                    let wait = start.saturating_add(window).saturating_sub(now).max(1);
                    return Ok(Err(u64::try_from(wait).unwrap_or(1)));
                }
                Ok(Ok(()))
            }

            /// [`Store::limit_forgive`](crate::store::Store::limit_forgive).
            async fn forget_attempts(&self, key: &str) -> Result<(), $crate::store::StoreError> {
                sqlx::query("DELETE FROM rate_limits WHERE key = $1")
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// [`Store::limit_sweep`](crate::store::Store::limit_sweep).
            async fn sweep_attempts(&self, before: i64) -> Result<u64, $crate::store::StoreError> {
                Ok(sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }

            /// Whether a refresh token with this hash was ever issued: a read
            /// on the pool, taking no write turn.
            async fn refresh_token_known(
                pool: &sqlx::Pool<$db>,
                hash: &[u8; 32],
            ) -> Result<bool, sqlx::Error> {
                let found: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE hash = $1")
                        .bind(&hash[..])
                        .fetch_one(pool)
                        .await?;
                Ok(found > 0)
            }

            /// Gives the key set a new version, inside the transaction that
            /// changes it.
            async fn bump_keys_version(
                tx: &mut $crate::store::WriteTx<$db>,
            ) -> Result<(), sqlx::Error> {
                // A counter, so a verifier can tell a stale JWKS copy (a lower
                // number) from a newer one.
                sqlx::query(
                    "INSERT INTO meta (key, value) VALUES ('keys_serial', '1') \
                     ON CONFLICT (key) DO UPDATE SET \
                     value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)",
                )
                .execute(&mut ***tx)
                .await?;
                Ok(())
            }

            /// Revokes `user`'s live sessions (only `only`, if given) inside
            /// `tx` and logs each revocation; returns the ids revoked.
            async fn revoke_in(
                tx: &mut $crate::store::WriteTx<$db>,
                user: tollgate_verifier::Uuid,
                only: Option<tollgate_verifier::Uuid>,
                now: i64,
                until: $crate::store::RevokeUntil,
            ) -> Result<Vec<tollgate_verifier::Uuid>, sqlx::Error> {
                let sql = if only.is_some() {
                    "UPDATE sessions SET revoked_at = $1 \
                     WHERE revoked_at IS NULL AND user_id = $2 AND id = $3 RETURNING id, access_exp"
                } else {
                    "UPDATE sessions SET revoked_at = $1 \
                     WHERE revoked_at IS NULL AND user_id = $2 RETURNING id, access_exp"
                };
                let mut query = sqlx::query_as(sql).bind(now).bind(user);
                if let Some(sid) = only {
                    query = query.bind(sid);
                }
                let revoked: Vec<(tollgate_verifier::Uuid, i64)> = query.fetch_all(&mut ***tx).await?;
                let entries = $crate::store::accounts::sid_entries(&revoked, until);
                Self::append_in(tx, &entries).await?;
                Ok(revoked.into_iter().map(|(sid, _)| sid).collect())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::AccountStore for $store {
            async fn create_user(
                &self,
                user: &$crate::store::User,
            ) -> Result<(), $crate::store::StoreError> {
                let done = sqlx::query(
                    "INSERT INTO users (id, email, name, password_hash, is_admin, active, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email) DO NOTHING",
                )
                .bind(user.id)
                .bind(&user.email)
                .bind(&user.name)
                .bind(&user.password_hash)
                .bind(user.is_admin)
                .bind(user.active)
                .bind(user.created_at)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::store::StoreError::Conflict("email"));
                }
                Ok(())
            }

            async fn user_by_email(
                &self,
                email: &str,
            ) -> Result<Option<$crate::store::User>, $crate::store::StoreError> {
                let row: Option<$crate::store::accounts::UserRow> = sqlx::query_as(
                    "SELECT id, email, name, password_hash, is_admin, active, created_at \
                     FROM users WHERE email = $1",
                )
                .bind(email)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map($crate::store::accounts::user))
            }

            async fn user_by_id(
                &self,
                id: tollgate_verifier::Uuid,
            ) -> Result<Option<$crate::store::User>, $crate::store::StoreError> {
                let row: Option<$crate::store::accounts::UserRow> = sqlx::query_as(
                    "SELECT id, email, name, password_hash, is_admin, active, created_at \
                     FROM users WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map($crate::store::accounts::user))
            }

            async fn start_session(
                &self,
                new: &$crate::store::NewSession,
            ) -> Result<Option<Vec<tollgate_verifier::Uuid>>, $crate::store::StoreError> {
                let s = &new.session;
                let mut tx = self.begin_write().await?;
                let active: Option<bool> = sqlx::query_scalar($lock_user)
                    .bind(s.user_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                if active != Some(true) {
                    return Ok(None);
                }
                let replaced: Vec<(tollgate_verifier::Uuid, i64)> = sqlx::query_as(
                    "UPDATE sessions SET revoked_at = $1 \
                     WHERE revoked_at IS NULL AND user_id = $2 AND device_id = $3 RETURNING id, access_exp",
                )
                .bind(s.created_at)
                .bind(s.user_id)
                .bind(&s.device_id)
                .fetch_all(&mut **tx)
                .await?;
                let entries = $crate::store::accounts::sid_entries(&replaced, new.revoke);
                Self::append_in(&mut tx, &entries).await?;
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, device_id, device_type, created_at, \
                     last_used_at, expires_at, refresh_count, access_exp, dpop_jkt) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(s.id)
                .bind(s.user_id)
                .bind(&s.device_id)
                .bind(&s.device_type)
                .bind(s.created_at)
                .bind(s.last_used_at)
                .bind(s.expires_at)
                .bind(s.refresh_count)
                .bind(new.access_exp)
                .bind(&s.dpop_jkt)
                .execute(&mut **tx)
                .await?;
                sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)")
                    .bind(&new.refresh_hash[..])
                    .bind(s.id)
                    .bind(s.created_at)
                    .execute(&mut **tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(replaced.into_iter().map(|(sid, _)| sid).collect()))
            }

            async fn refresh_session(
                &self,
                r: &$crate::store::RefreshRequest,
            ) -> Result<$crate::store::RefreshOutcome, $crate::store::StoreError> {
                use $crate::store::RefreshOutcome;
                // Look first, outside the write turn: an unknown token (a
                // guess, garbage) must not queue behind logouts for it.
                if !Self::refresh_token_known(&self.pool, &r.presented).await? {
                    return Ok(RefreshOutcome::Invalid);
                }
                let mut tx = self.begin_write().await?;
                type Found = (tollgate_verifier::Uuid, tollgate_verifier::Uuid, Option<i64>, Option<i64>, i64, bool, Option<String>);
                let found: Option<Found> =
                    sqlx::query_as(
                        "SELECT s.id, s.user_id, r.rotated_at, s.revoked_at, s.expires_at, u.active, s.dpop_jkt \
                         FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
                         JOIN users u ON u.id = s.user_id WHERE r.hash = $1",
                    )
                    .bind(&r.presented[..])
                    .fetch_optional(&mut **tx)
                    .await?;
                let Some((sid, user, rotated_at, revoked_at, expires_at, active, dpop_jkt)) = found else {
                    return Ok(RefreshOutcome::Invalid);
                };
                if revoked_at.is_some() {
                    return Ok(RefreshOutcome::Invalid);
                }
                // A bound session without its key's proof (or an unbound one
                // where binding is required): touch nothing, so a stolen
                // refresh token neither works nor rotates. An already
                // rotated token still counts as reuse below, key or not.
                let wrong_key = if dpop_jkt.is_some() {
                    dpop_jkt != r.proof_jkt
                } else {
                    r.require_bound
                };
                if wrong_key && rotated_at.is_none() {
                    return Ok(RefreshOutcome::WrongKey);
                }
                // On Postgres a concurrent refresh that got here first holds
                // this row; when it commits, ours matches nothing.
                let claimed = if rotated_at.is_none() && expires_at > r.now && active {
                    sqlx::query(
                        "UPDATE refresh_tokens SET rotated_at = $1 WHERE hash = $2 AND rotated_at IS NULL",
                    )
                    .bind(r.now)
                    .bind(&r.presented[..])
                    .execute(&mut **tx)
                    .await?
                    .rows_affected()
                        == 1
                } else {
                    false
                };
                if !claimed {
                    if rotated_at.is_none() && (expires_at <= r.now || !active) {
                        return Ok(RefreshOutcome::Invalid);
                    }
                    // Rotated, by an earlier call or a concurrent one. Within
                    // the grace window, and while its successor is still the
                    // session's live token, this is the same refresh again.
                    let rotated: Option<i64> =
                        sqlx::query_scalar("SELECT rotated_at FROM refresh_tokens WHERE hash = $1")
                            .bind(&r.presented[..])
                            .fetch_optional(&mut **tx)
                            .await?
                            .flatten();
                    let live: Option<Vec<u8>> = sqlx::query_scalar(
                        "SELECT hash FROM refresh_tokens WHERE session_id = $1 AND rotated_at IS NULL",
                    )
                    .bind(sid)
                    .fetch_optional(&mut **tx)
                    .await?;
                    // Replicas' clocks (whole seconds) may disagree by a
                    // little; a rotation "in the future" beyond that is not
                    // a concurrent refresh.
                    let in_grace = rotated.is_some_and(|at| (-1..=r.reuse_grace_secs).contains(&(r.now - at)));
                    if in_grace && live.as_deref() == Some(&r.successor[..]) && active {
                        if wrong_key {
                            return Ok(RefreshOutcome::WrongKey);
                        }
                        let row: Option<$crate::store::accounts::SessionRow> = sqlx::query_as(&format!(
                            "UPDATE sessions SET last_used_at = $1, access_exp = {}(access_exp, $2) \
                             WHERE id = $3 AND revoked_at IS NULL RETURNING {}",
                            $greatest,
                            $crate::store::accounts::SESSION_COLUMNS
                        ))
                        .bind(r.now)
                        .bind(r.access_exp)
                        .bind(sid)
                        .fetch_optional(&mut **tx)
                        .await?;
                        let Some(row) = row else {
                            return Ok(RefreshOutcome::Invalid);
                        };
                        tx.commit().await?;
                        return Ok(RefreshOutcome::Repeated($crate::store::accounts::session(row)));
                    }
                    Self::revoke_in(&mut tx, user, Some(sid), r.now, r.revoke).await?;
                    tx.commit().await?;
                    return Ok(RefreshOutcome::Reused);
                }
                sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)")
                    .bind(&r.successor[..])
                    .bind(sid)
                    .bind(r.now)
                    .execute(&mut **tx)
                    .await?;
                // `revoked_at IS NULL`: a logout that committed while this
                // transaction waited must win, or a token would be issued
                // past its revocation's `until`.
                let row: Option<$crate::store::accounts::SessionRow> = sqlx::query_as(&format!(
                    "UPDATE sessions SET refresh_count = refresh_count + 1, last_used_at = $1, \
                     expires_at = $4, access_exp = {}(access_exp, $2) \
                     WHERE id = $3 AND revoked_at IS NULL RETURNING {}",
                    $greatest,
                    $crate::store::accounts::SESSION_COLUMNS
                ))
                .bind(r.now)
                .bind(r.access_exp)
                .bind(sid)
                .bind(r.expires_at)
                .fetch_optional(&mut **tx)
                .await?;
                let Some(row) = row else {
                    return Ok(RefreshOutcome::Invalid);
                };
                tx.commit().await?;
                Ok(RefreshOutcome::Rotated($crate::store::accounts::session(row)))
            }

            async fn revoke_by_refresh(
                &self,
                hash: &[u8; 32],
                now: i64,
                until: $crate::store::RevokeUntil,
            ) -> Result<Vec<tollgate_verifier::Uuid>, $crate::store::StoreError> {
                if !Self::refresh_token_known(&self.pool, hash).await? {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin_write().await?;
                let found: Option<(tollgate_verifier::Uuid, tollgate_verifier::Uuid)> = sqlx::query_as(
                    "SELECT s.id, s.user_id FROM refresh_tokens r \
                     JOIN sessions s ON s.id = r.session_id WHERE r.hash = $1",
                )
                .bind(&hash[..])
                .fetch_optional(&mut **tx)
                .await?;
                let Some((sid, user)) = found else {
                    return Ok(Vec::new());
                };
                let revoked = Self::revoke_in(&mut tx, user, Some(sid), now, until).await?;
                tx.commit().await?;
                Ok(revoked)
            }

            async fn revoke_sessions(
                &self,
                user: tollgate_verifier::Uuid,
                which: $crate::store::Which,
                now: i64,
                until: $crate::store::RevokeUntil,
            ) -> Result<Vec<tollgate_verifier::Uuid>, $crate::store::StoreError> {
                let only = match which {
                    $crate::store::Which::One(sid) => Some(sid),
                    $crate::store::Which::All => None,
                };
                let mut tx = self.begin_write().await?;
                let revoked = Self::revoke_in(&mut tx, user, only, now, until).await?;
                tx.commit().await?;
                Ok(revoked)
            }

            async fn deactivate_user(
                &self,
                user: tollgate_verifier::Uuid,
                now: i64,
                until: $crate::store::RevokeUntil,
            ) -> Result<Option<Vec<tollgate_verifier::Uuid>>, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let found = sqlx::query("UPDATE users SET active = $1 WHERE id = $2")
                    .bind(false)
                    .bind(user)
                    .execute(&mut **tx)
                    .await?;
                if found.rows_affected() == 0 {
                    return Ok(None);
                }
                let revoked = Self::revoke_in(&mut tx, user, None, now, until).await?;
                tx.commit().await?;
                Ok(Some(revoked))
            }

            async fn live_sessions(
                &self,
                user: tollgate_verifier::Uuid,
                now: i64,
            ) -> Result<Vec<$crate::store::Session>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::accounts::SessionRow> = sqlx::query_as(&format!(
                    "SELECT {} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
                     AND expires_at > $2 ORDER BY created_at, id",
                    $crate::store::accounts::SESSION_COLUMNS
                ))
                .bind(user)
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map($crate::store::accounts::session).collect())
            }

            async fn is_revoked(
                &self,
                sid: tollgate_verifier::Uuid,
                jti: tollgate_verifier::Uuid,
            ) -> Result<bool, $crate::store::StoreError> {
                let count: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM revocations WHERE target IN ($1, $2)")
                        .bind(sid)
                        .bind(jti)
                        .fetch_one(&self.pool)
                        .await?;
                Ok(count > 0)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::KeyStore for $store {
            async fn signing_keys(
                &self,
            ) -> Result<Vec<$crate::store::StoredKey>, $crate::store::StoreError> {
                let rows = sqlx::query_as(
                    "SELECT kid, alg, secret, created_at, retired_at, withdrawn_at FROM signing_keys \
                     ORDER BY created_at, kid",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut keys = $crate::store::stored_keys(rows);
                for key in &mut keys {
                    key.secret = self.sealer.open(&format!("signing_key:{}:{}", key.kid, key.alg), &key.secret)?;
                }
                Ok(keys)
            }

            async fn keys_version(&self) -> Result<String, $crate::store::StoreError> {
                let version: Option<String> =
                    sqlx::query_scalar("SELECT value FROM meta WHERE key = 'keys_serial'")
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(version.unwrap_or_else(|| "0".to_owned()))
            }

            async fn withdraw_signing_key(
                &self,
                kid: &str,
                now: i64,
                replacement: &$crate::store::StoredKey,
            ) -> Result<$crate::store::Withdrawal, $crate::store::StoreError> {
                use $crate::store::Withdrawal;
                let mut tx = self.begin_write().await?;
                let found: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT retired_at, withdrawn_at FROM signing_keys WHERE kid = $1",
                )
                .bind(kid)
                .fetch_optional(&mut **tx)
                .await?;
                let replaced = match found {
                    None => return Ok(Withdrawal::Unknown),
                    Some((_, Some(_))) => return Ok(Withdrawal::AlreadyWithdrawn),
                    Some((retired_at, None)) => retired_at.is_none(),
                };
                if replaced {
                    self.make_current(&mut tx, replacement).await?;
                }
                sqlx::query("UPDATE signing_keys SET withdrawn_at = $1 WHERE kid = $2")
                    .bind(now)
                    .bind(kid)
                    .execute(&mut **tx)
                    .await?;
                Self::bump_keys_version(&mut tx).await?;
                tx.commit().await?;
                Ok(Withdrawal::Withdrawn { replaced })
            }

            async fn secret(
                &self,
                name: &str,
                candidate: &str,
            ) -> Result<String, $crate::store::StoreError> {
                let label = format!("secret:{name}");
                sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                    .bind(name)
                    .bind(self.sealer.seal_text(&label, candidate)?)
                    .execute(&self.pool)
                    .await?;
                let stored: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(self.sealer.open_text(&label, &stored)?)
            }

            async fn insert_first_signing_key(
                &self,
                key: &$crate::store::StoredKey,
            ) -> Result<bool, $crate::store::StoreError> {
                // The partial unique index on the current key makes a lost race a no-op.
                let secret = self.sealer.seal(&format!("signing_key:{}:{}", key.kid, key.alg), &key.secret)?;
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, secret, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&secret)
                .bind(key.created_at)
                .execute(&mut **tx)
                .await?;
                let stored = done.rows_affected() == 1;
                if stored {
                    Self::bump_keys_version(&mut tx).await?;
                }
                tx.commit().await?;
                Ok(stored)
            }

            async fn rotate_signing_key(
                &self,
                key: &$crate::store::StoredKey,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                self.make_current(&mut tx, key).await?;
                Self::bump_keys_version(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use shared_store;
