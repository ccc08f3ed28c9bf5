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
}

/// What a login stores.
#[derive(Clone)]
pub struct NewSession {
    /// The session as it starts.
    pub session: Session,
    /// SHA-256 of its first refresh token.
    pub refresh_hash: [u8; 32],
    /// `until` for the revocation of a session this one replaces.
    pub revoke_until: i64,
}

/// What a refresh asks for.
#[derive(Clone)]
pub struct RefreshRequest {
    /// SHA-256 of the refresh token presented.
    pub presented: [u8; 32],
    /// SHA-256 of the token that replaces it.
    pub next: [u8; 32],
    /// Unix seconds.
    pub now: i64,
    /// The session's new `expires_at` if the refresh succeeds.
    pub expires_at: i64,
    /// A token rotated at most this many seconds ago is the loser of a
    /// concurrent refresh, not a thief: refused, but the session lives.
    pub reuse_grace_secs: i64,
    /// `until` for the session's revocation if this is a reuse.
    pub revoke_until: i64,
}

/// How a refresh ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: it is now rotated, and this is the session.
    Rotated(Session),
    /// The token had already been rotated: the session is now revoked.
    Reused,
    /// Unknown token, a session that is over, a deactivated user, or a lost
    /// race with a concurrent refresh of the same token.
    Invalid,
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
    /// device; returns the ids it revoked.
    async fn start_session(&self, new: &NewSession) -> Result<Vec<Uuid>, StoreError>;

    /// Rotates a refresh token. Of two concurrent calls with the same token,
    /// exactly one gets [`RefreshOutcome::Rotated`].
    async fn refresh_session(&self, request: &RefreshRequest)
    -> Result<RefreshOutcome, StoreError>;

    /// Revokes the session a refresh token (current or rotated) belongs to;
    /// returns the ids revoked (none if the token is unknown or its session
    /// was already over).
    async fn revoke_by_refresh(
        &self,
        hash: &[u8; 32],
        now: i64,
        until: i64,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Revokes `which` of `user`'s live sessions; returns the ids revoked.
    async fn revoke_sessions(
        &self,
        user: Uuid,
        which: Which,
        now: i64,
        until: i64,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Deactivates a user and revokes all their sessions; returns the ids
    /// revoked, or `None` if there is no such user.
    async fn deactivate_user(
        &self,
        user: Uuid,
        now: i64,
        until: i64,
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
pub(super) type SessionRow = (Uuid, Uuid, String, String, i64, i64, i64, i64);

pub(super) const SESSION_COLUMNS: &str =
    "id, user_id, device_id, device_type, created_at, last_used_at, expires_at, refresh_count";

pub(super) fn session(row: SessionRow) -> Session {
    let (id, user_id, device_id, device_type, created_at, last_used_at, expires_at, refresh_count) =
        row;
    Session {
        id,
        user_id,
        device_id,
        device_type,
        created_at,
        last_used_at,
        expires_at,
        refresh_count,
    }
}

/// Revocation entries for sessions revoked together.
pub(super) fn sid_entries(sids: &[Uuid], until: i64) -> Vec<tollgate_verifier::RevocationEntry> {
    sids.iter()
        .map(|sid| tollgate_verifier::RevocationEntry {
            target: tollgate_verifier::Revoked::Sid(*sid),
            until,
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
/// and `$lock_user` is a statement that locks a user's row (`$1`) until
/// commit, so two logins from one device take turns (SQLite's write lock
/// already does that).
macro_rules! shared_store {
    ($store:ty, $db:ty, lock_user: $lock_user:literal) => {
        impl $store {
            /// Revokes `user`'s live sessions (only `only`, if given) inside
            /// `tx` and logs each revocation; returns the ids revoked.
            async fn revoke_in(
                tx: &mut $crate::store::WriteTx<$db>,
                user: tollgate_verifier::Uuid,
                only: Option<tollgate_verifier::Uuid>,
                now: i64,
                until: i64,
            ) -> Result<Vec<tollgate_verifier::Uuid>, sqlx::Error> {
                let sql = if only.is_some() {
                    "UPDATE sessions SET revoked_at = $1 \
                     WHERE revoked_at IS NULL AND user_id = $2 AND id = $3 RETURNING id"
                } else {
                    "UPDATE sessions SET revoked_at = $1 \
                     WHERE revoked_at IS NULL AND user_id = $2 RETURNING id"
                };
                let mut query = sqlx::query_scalar(sql).bind(now).bind(user);
                if let Some(sid) = only {
                    query = query.bind(sid);
                }
                let revoked: Vec<tollgate_verifier::Uuid> = query.fetch_all(&mut ***tx).await?;
                let entries = $crate::store::accounts::sid_entries(&revoked, until);
                Self::append_in(tx, &entries).await?;
                Ok(revoked)
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
            ) -> Result<Vec<tollgate_verifier::Uuid>, $crate::store::StoreError> {
                let s = &new.session;
                let mut tx = self.begin_write().await?;
                sqlx::query($lock_user).bind(s.user_id).execute(&mut **tx).await?;
                let replaced: Vec<tollgate_verifier::Uuid> = sqlx::query_scalar(
                    "UPDATE sessions SET revoked_at = $1 \
                     WHERE revoked_at IS NULL AND user_id = $2 AND device_id = $3 RETURNING id",
                )
                .bind(s.created_at)
                .bind(s.user_id)
                .bind(&s.device_id)
                .fetch_all(&mut **tx)
                .await?;
                let entries = $crate::store::accounts::sid_entries(&replaced, new.revoke_until);
                Self::append_in(&mut tx, &entries).await?;
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, device_id, device_type, created_at, \
                     last_used_at, expires_at, refresh_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(s.id)
                .bind(s.user_id)
                .bind(&s.device_id)
                .bind(&s.device_type)
                .bind(s.created_at)
                .bind(s.last_used_at)
                .bind(s.expires_at)
                .bind(s.refresh_count)
                .execute(&mut **tx)
                .await?;
                sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)")
                    .bind(&new.refresh_hash[..])
                    .bind(s.id)
                    .bind(s.created_at)
                    .execute(&mut **tx)
                    .await?;
                tx.commit().await?;
                Ok(replaced)
            }

            async fn refresh_session(
                &self,
                r: &$crate::store::RefreshRequest,
            ) -> Result<$crate::store::RefreshOutcome, $crate::store::StoreError> {
                use $crate::store::RefreshOutcome;
                let mut tx = self.begin_write().await?;
                type Found = (tollgate_verifier::Uuid, tollgate_verifier::Uuid, Option<i64>, Option<i64>, i64, bool);
                let found: Option<Found> =
                    sqlx::query_as(
                        "SELECT s.id, s.user_id, r.rotated_at, s.revoked_at, s.expires_at, u.active \
                         FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
                         JOIN users u ON u.id = s.user_id WHERE r.hash = $1",
                    )
                    .bind(&r.presented[..])
                    .fetch_optional(&mut **tx)
                    .await?;
                let Some((sid, user, rotated_at, revoked_at, expires_at, active)) = found else {
                    return Ok(RefreshOutcome::Invalid);
                };
                if let Some(rotated_at) = rotated_at {
                    if revoked_at.is_none() && r.now - rotated_at <= r.reuse_grace_secs {
                        return Ok(RefreshOutcome::Invalid);
                    }
                    Self::revoke_in(&mut tx, user, Some(sid), r.now, r.revoke_until).await?;
                    tx.commit().await?;
                    return Ok(RefreshOutcome::Reused);
                }
                if revoked_at.is_some() || expires_at <= r.now || !active {
                    return Ok(RefreshOutcome::Invalid);
                }
                // On Postgres a concurrent refresh that got here first holds
                // this row; when it commits, ours matches nothing and loses.
                let claimed = sqlx::query(
                    "UPDATE refresh_tokens SET rotated_at = $1 WHERE hash = $2 AND rotated_at IS NULL",
                )
                .bind(r.now)
                .bind(&r.presented[..])
                .execute(&mut **tx)
                .await?;
                if claimed.rows_affected() != 1 {
                    return Ok(RefreshOutcome::Invalid);
                }
                sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)")
                    .bind(&r.next[..])
                    .bind(sid)
                    .bind(r.now)
                    .execute(&mut **tx)
                    .await?;
                let row: $crate::store::accounts::SessionRow = sqlx::query_as(&format!(
                    "UPDATE sessions SET refresh_count = refresh_count + 1, last_used_at = $1, \
                     expires_at = $2 WHERE id = $3 RETURNING {}",
                    $crate::store::accounts::SESSION_COLUMNS
                ))
                .bind(r.now)
                .bind(r.expires_at)
                .bind(sid)
                .fetch_one(&mut **tx)
                .await?;
                tx.commit().await?;
                Ok(RefreshOutcome::Rotated($crate::store::accounts::session(row)))
            }

            async fn revoke_by_refresh(
                &self,
                hash: &[u8; 32],
                now: i64,
                until: i64,
            ) -> Result<Vec<tollgate_verifier::Uuid>, $crate::store::StoreError> {
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
                until: i64,
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
                until: i64,
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
                    "SELECT kid, alg, secret, created_at, retired_at FROM signing_keys \
                     ORDER BY created_at, kid",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok($crate::store::stored_keys(rows))
            }

            async fn insert_first_signing_key(
                &self,
                key: &$crate::store::StoredKey,
            ) -> Result<bool, $crate::store::StoreError> {
                // The partial unique index on the current key makes a lost race a no-op.
                let done = sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, secret, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&key.secret)
                .bind(key.created_at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn rotate_signing_key(
                &self,
                key: &$crate::store::StoredKey,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                    .bind(key.created_at)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, secret, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&key.secret)
                .bind(key.created_at)
                .execute(&mut **tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use shared_store;
