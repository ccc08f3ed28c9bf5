//! The SQL that is the same text on SQLite and Postgres (`$n` placeholders
//! work on both), written once over [`Backend`]: what differs per database
//! is only how a write transaction starts, how a user's row is locked, how
//! the revocation log is appended to, and the name of the two-argument
//! maximum. [`AccountStore`], [`KeyStore`] and [`LimitStore`] are then
//! implemented for every backend here.
//!
//! Every operation that logs a device out appends its `sid` to the
//! revocation log in the same transaction, so a logout that returned is on
//! the feed, and one that failed left nothing behind.

use std::future::Future;

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};
use tollgate_verifier::{RevocationEntry, Revoked, Uuid};

use super::refresh::{Decision, TokenState, decide};
use super::{
    AccountStore, KeyStore, LimitStore, NewSession, RefreshOutcome, RefreshRequest, RevokeUntil,
    Session, StoreError, StoredKey, User, Which, Withdrawal, WriteTx,
};
use crate::seal::Sealer;

/// What a database must provide for the shared SQL.
pub(crate) trait Backend: Send + Sync + 'static {
    /// The sqlx database.
    type Db: Database;

    /// Reads a user's `active` flag (`$1` is the id) and locks the row until
    /// commit, so two logins from one device take turns and a deactivation
    /// cannot slip between the check and the insert (SQLite's write lock
    /// already does that).
    const LOCK_USER: &'static str;

    /// The two-argument maximum (`MAX` on SQLite, `GREATEST` on Postgres).
    const GREATEST: &'static str;

    /// Whether replicas share this database, so rate limits must be counted
    /// in it (see [`LimitStore::shares_rate_limits`]).
    const SHARES_LIMITS: bool;

    /// Connections for reads and one-statement writes.
    fn pool(&self) -> &Pool<Self::Db>;

    /// How secrets are sealed at rest.
    fn sealer(&self) -> &Sealer;

    /// A transaction that will write: on SQLite it waits its turn and says
    /// `BEGIN IMMEDIATE`, so it never fails halfway because another writer
    /// got in first.
    fn begin_write(&self) -> impl Future<Output = Result<WriteTx<Self::Db>, sqlx::Error>> + Send;

    /// Appends to the revocation log inside `tx`, in commit order.
    fn append_in<'a>(
        tx: &'a mut WriteTx<Self::Db>,
        entries: &'a [RevocationEntry],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;
}

/// A `users` row.
type UserRow = (Uuid, String, String, String, bool, bool, i64);

fn user(row: UserRow) -> User {
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
type SessionRow = (
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

const SESSION_COLUMNS: &str = "id, user_id, device_id, device_type, created_at, \
     last_used_at, expires_at, refresh_count, dpop_jkt";

fn session(row: SessionRow) -> Session {
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

/// A `signing_keys` row: `(kid, alg, secret, created_at, retired_at, withdrawn_at)`.
type KeyRow = (String, String, Vec<u8>, i64, Option<i64>, Option<i64>);

/// The row a refresh reads: `(session, user, rotated_at, revoked_at,
/// expires_at, active, dpop_jkt)`.
type TokenRow = (
    Uuid,
    Uuid,
    Option<i64>,
    Option<i64>,
    i64,
    bool,
    Option<String>,
);

/// Revocation entries for sessions revoked together, each lasting past the
/// latest access token it was given: rows of `(sid, access_exp)`.
fn sid_entries(revoked: &[(Uuid, i64)], until: RevokeUntil) -> Vec<RevocationEntry> {
    revoked
        .iter()
        .map(|(sid, access_exp)| RevocationEntry {
            target: Revoked::Sid(*sid),
            until: until.for_exp(*access_exp),
        })
        .collect()
}

/// The associated data a signing key's seed is sealed under.
fn key_label(key: &StoredKey) -> String {
    format!("signing_key:{}:{}", key.kid, key.alg)
}

/// The helpers the three trait implementations share.
pub(super) struct Sql<B>(std::marker::PhantomData<B>);

impl<B: Backend> Sql<B>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> Uuid: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q [u8]: Encode<'q, B::Db> + Type<B::Db>,
    for<'r> Uuid: Decode<'r, B::Db>,
    for<'r> i64: Decode<'r, B::Db>,
    for<'r> bool: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> Vec<u8>: Decode<'r, B::Db> + Type<B::Db>,
    usize: ColumnIndex<<B::Db as Database>::Row>,
{
    /// Retires the current signing key at `key.created_at` and inserts
    /// `key` as the current one, inside `tx`.
    async fn make_current(
        store: &B,
        tx: &mut WriteTx<B::Db>,
        key: &StoredKey,
    ) -> Result<(), StoreError> {
        let secret = store.sealer().seal(&key_label(key), &key.secret)?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(key.created_at)
            .execute(&mut ***tx)
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, secret, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(key.kid.as_str())
        .bind(key.alg.as_str())
        .bind(secret.as_slice())
        .bind(key.created_at)
        .execute(&mut ***tx)
        .await?;
        Ok(())
    }

    /// Whether a refresh token with this hash was ever issued: a read on
    /// the pool, taking no write turn.
    async fn refresh_token_known(store: &B, hash: &[u8; 32]) -> Result<bool, sqlx::Error> {
        let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE hash = $1")
            .bind(&hash[..])
            .fetch_one(store.pool())
            .await?;
        Ok(found > 0)
    }

    /// Gives the key set a new version, inside the transaction that changes it.
    pub(super) async fn bump_keys_version(tx: &mut WriteTx<B::Db>) -> Result<(), sqlx::Error> {
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

    /// Revokes `user`'s live sessions (only `only`, if given) inside `tx`
    /// and logs each revocation; returns the ids revoked.
    async fn revoke_in(
        tx: &mut WriteTx<B::Db>,
        user: Uuid,
        only: Option<Uuid>,
        now: i64,
        until: RevokeUntil,
    ) -> Result<Vec<Uuid>, sqlx::Error> {
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
        let revoked: Vec<(Uuid, i64)> = query.fetch_all(&mut ***tx).await?;
        B::append_in(tx, &sid_entries(&revoked, until)).await?;
        Ok(revoked.into_iter().map(|(sid, _)| sid).collect())
    }

    /// What a refresh needs to know of the presented token, inside `tx`.
    async fn token_state(
        tx: &mut WriteTx<B::Db>,
        hash: &[u8; 32],
    ) -> Result<Option<(Uuid, Uuid, TokenState)>, sqlx::Error> {
        let found: Option<TokenRow> = sqlx::query_as(
            "SELECT s.id, s.user_id, r.rotated_at, s.revoked_at, s.expires_at, u.active, s.dpop_jkt \
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
             JOIN users u ON u.id = s.user_id WHERE r.hash = $1",
        )
        .bind(&hash[..])
        .fetch_optional(&mut ***tx)
        .await?;
        let Some((sid, user, rotated_at, revoked_at, expires_at, user_active, dpop_jkt)) = found
        else {
            return Ok(None);
        };
        let live_hash: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT hash FROM refresh_tokens WHERE session_id = $1 AND rotated_at IS NULL",
        )
        .bind(sid)
        .fetch_optional(&mut ***tx)
        .await?;
        Ok(Some((
            sid,
            user,
            TokenState {
                rotated_at,
                session_revoked: revoked_at.is_some(),
                expires_at,
                user_active,
                dpop_jkt,
                live_hash,
            },
        )))
    }

    /// Marks `hash` rotated at `now`, unless a concurrent refresh did
    /// first; whether this one did. On Postgres a concurrent refresh that
    /// got here first holds the row; when it commits, this matches nothing.
    async fn claim(
        tx: &mut WriteTx<B::Db>,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let claimed: Option<i64> = sqlx::query_scalar(
            "UPDATE refresh_tokens SET rotated_at = $1 WHERE hash = $2 AND rotated_at IS NULL \
             RETURNING rotated_at",
        )
        .bind(now)
        .bind(&hash[..])
        .fetch_optional(&mut ***tx)
        .await?;
        Ok(claimed.is_some())
    }

    /// Rotates the session to `successor` after a claim: the successor
    /// stored, the session's use recorded. `None` if a logout committed
    /// while this transaction waited (`revoked_at IS NULL` must win, or a
    /// token would be issued past its revocation's `until`).
    async fn rotate(
        tx: &mut WriteTx<B::Db>,
        sid: Uuid,
        r: &RefreshRequest,
    ) -> Result<Option<Session>, sqlx::Error> {
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&r.successor[..])
        .bind(sid)
        .bind(r.now)
        .execute(&mut ***tx)
        .await?;
        let row: Option<SessionRow> = sqlx::query_as(&format!(
            "UPDATE sessions SET refresh_count = refresh_count + 1, last_used_at = $1, \
             expires_at = $4, access_exp = {}(access_exp, $2) \
             WHERE id = $3 AND revoked_at IS NULL RETURNING {SESSION_COLUMNS}",
            B::GREATEST,
        ))
        .bind(r.now)
        .bind(r.access_exp)
        .bind(sid)
        .bind(r.expires_at)
        .fetch_optional(&mut ***tx)
        .await?;
        Ok(row.map(session))
    }

    /// Records a repeated refresh's use of the session; `None` if it was
    /// revoked meanwhile.
    async fn touch(
        tx: &mut WriteTx<B::Db>,
        sid: Uuid,
        r: &RefreshRequest,
    ) -> Result<Option<Session>, sqlx::Error> {
        let row: Option<SessionRow> = sqlx::query_as(&format!(
            "UPDATE sessions SET last_used_at = $1, access_exp = {}(access_exp, $2) \
             WHERE id = $3 AND revoked_at IS NULL RETURNING {SESSION_COLUMNS}",
            B::GREATEST,
        ))
        .bind(r.now)
        .bind(r.access_exp)
        .bind(sid)
        .fetch_optional(&mut ***tx)
        .await?;
        Ok(row.map(session))
    }
}

#[async_trait]
impl<B: Backend> AccountStore for B
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'c> &'c Pool<B::Db>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> Uuid: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> bool: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q [u8]: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db> + Type<B::Db>,
    for<'r> Uuid: Decode<'r, B::Db>,
    for<'r> i64: Decode<'r, B::Db>,
    for<'r> bool: Decode<'r, B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> Vec<u8>: Decode<'r, B::Db> + Type<B::Db>,
    usize: ColumnIndex<<B::Db as Database>::Row>,
{
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let created: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO users (id, email, name, password_hash, is_admin, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(user.id)
        .bind(user.email.as_str())
        .bind(user.name.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.is_admin)
        .bind(user.active)
        .bind(user.created_at)
        .fetch_optional(self.pool())
        .await?;
        created.map(|_| ()).ok_or(StoreError::Conflict("email"))
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, name, password_hash, is_admin, active, created_at \
             FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(user))
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, name, password_hash, is_admin, active, created_at \
             FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(user))
    }

    async fn start_session(&self, new: &NewSession) -> Result<Option<Vec<Uuid>>, StoreError> {
        let s = &new.session;
        let mut tx = self.begin_write().await?;
        let active: Option<bool> = sqlx::query_scalar(B::LOCK_USER)
            .bind(s.user_id)
            .fetch_optional(&mut **tx)
            .await?;
        if active != Some(true) {
            return Ok(None);
        }
        let replaced: Vec<(Uuid, i64)> = sqlx::query_as(
            "UPDATE sessions SET revoked_at = $1 \
             WHERE revoked_at IS NULL AND user_id = $2 AND device_id = $3 RETURNING id, access_exp",
        )
        .bind(s.created_at)
        .bind(s.user_id)
        .bind(s.device_id.as_str())
        .fetch_all(&mut **tx)
        .await?;
        B::append_in(&mut tx, &sid_entries(&replaced, new.revoke)).await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, device_id, device_type, created_at, \
             last_used_at, expires_at, refresh_count, access_exp, dpop_jkt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(s.id)
        .bind(s.user_id)
        .bind(s.device_id.as_str())
        .bind(s.device_type.as_str())
        .bind(s.created_at)
        .bind(s.last_used_at)
        .bind(s.expires_at)
        .bind(s.refresh_count)
        .bind(new.access_exp)
        .bind(s.dpop_jkt.as_deref())
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&new.refresh_hash[..])
        .bind(s.id)
        .bind(s.created_at)
        .execute(&mut **tx)
        .await?;
        tx.commit().await?;
        Ok(Some(replaced.into_iter().map(|(sid, _)| sid).collect()))
    }

    async fn refresh_session(&self, r: &RefreshRequest) -> Result<RefreshOutcome, StoreError> {
        // Look first, outside the write turn: an unknown token (a guess,
        // garbage) must not queue behind logouts for it.
        if !Sql::<B>::refresh_token_known(self, &r.presented).await? {
            return Ok(RefreshOutcome::Invalid);
        }
        let mut tx = self.begin_write().await?;
        // At most twice: a concurrent refresh may claim the token between
        // the read and the claim, and the second read then sees it rotated.
        for _ in 0..2 {
            let found = Sql::<B>::token_state(&mut tx, &r.presented).await?;
            let decision = decide(found.as_ref().map(|(_, _, state)| state), r);
            let Some((sid, user, _)) = found else {
                return Ok(RefreshOutcome::Invalid);
            };
            match decision {
                Decision::Invalid => return Ok(RefreshOutcome::Invalid),
                Decision::WrongKey => return Ok(RefreshOutcome::WrongKey),
                Decision::Rotate => {
                    if !Sql::<B>::claim(&mut tx, &r.presented, r.now).await? {
                        continue;
                    }
                    let Some(session) = Sql::<B>::rotate(&mut tx, sid, r).await? else {
                        return Ok(RefreshOutcome::Invalid);
                    };
                    tx.commit().await?;
                    return Ok(RefreshOutcome::Rotated(session));
                }
                Decision::Repeat => {
                    let Some(session) = Sql::<B>::touch(&mut tx, sid, r).await? else {
                        return Ok(RefreshOutcome::Invalid);
                    };
                    tx.commit().await?;
                    return Ok(RefreshOutcome::Repeated(session));
                }
                Decision::Reuse => {
                    Sql::<B>::revoke_in(&mut tx, user, Some(sid), r.now, r.revoke).await?;
                    tx.commit().await?;
                    return Ok(RefreshOutcome::Reused);
                }
            }
        }
        // Claimed by another refresh twice over: no longer the same token.
        Ok(RefreshOutcome::Invalid)
    }

    async fn revoke_by_refresh(
        &self,
        hash: &[u8; 32],
        now: i64,
        until: RevokeUntil,
    ) -> Result<Vec<Uuid>, StoreError> {
        if !Sql::<B>::refresh_token_known(self, hash).await? {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let found: Option<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT s.id, s.user_id FROM refresh_tokens r \
             JOIN sessions s ON s.id = r.session_id WHERE r.hash = $1",
        )
        .bind(&hash[..])
        .fetch_optional(&mut **tx)
        .await?;
        let Some((sid, user)) = found else {
            return Ok(Vec::new());
        };
        let revoked = Sql::<B>::revoke_in(&mut tx, user, Some(sid), now, until).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn revoke_sessions(
        &self,
        user: Uuid,
        which: Which,
        now: i64,
        until: RevokeUntil,
    ) -> Result<Vec<Uuid>, StoreError> {
        let only = match which {
            Which::One(sid) => Some(sid),
            Which::All => None,
        };
        let mut tx = self.begin_write().await?;
        let revoked = Sql::<B>::revoke_in(&mut tx, user, only, now, until).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn deactivate_user(
        &self,
        user: Uuid,
        now: i64,
        until: RevokeUntil,
    ) -> Result<Option<Vec<Uuid>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let found: Option<Uuid> =
            sqlx::query_scalar("UPDATE users SET active = $1 WHERE id = $2 RETURNING id")
                .bind(false)
                .bind(user)
                .fetch_optional(&mut **tx)
                .await?;
        if found.is_none() {
            return Ok(None);
        }
        let revoked = Sql::<B>::revoke_in(&mut tx, user, None, now, until).await?;
        tx.commit().await?;
        Ok(Some(revoked))
    }

    async fn live_sessions(&self, user: Uuid, now: i64) -> Result<Vec<Session>, StoreError> {
        let rows: Vec<SessionRow> = sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
             AND expires_at > $2 ORDER BY created_at, id"
        ))
        .bind(user)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(session).collect())
    }

    async fn is_revoked(&self, sid: Uuid, jti: Uuid) -> Result<bool, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM revocations WHERE target IN ($1, $2)")
                .bind(sid)
                .bind(jti)
                .fetch_one(self.pool())
                .await?;
        Ok(count > 0)
    }
}

#[async_trait]
impl<B: Backend> KeyStore for B
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'c> &'c Pool<B::Db>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> Uuid: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q [u8]: Encode<'q, B::Db> + Type<B::Db>,
    for<'r> Uuid: Decode<'r, B::Db>,
    for<'r> i64: Decode<'r, B::Db>,
    for<'r> bool: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    for<'r> Vec<u8>: Decode<'r, B::Db> + Type<B::Db>,
    usize: ColumnIndex<<B::Db as Database>::Row>,
{
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, alg, secret, created_at, retired_at, withdrawn_at FROM signing_keys \
             ORDER BY created_at, kid",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(kid, alg, secret, created_at, retired_at, withdrawn_at)| {
                let mut key = StoredKey {
                    kid,
                    alg,
                    secret,
                    created_at,
                    retired_at,
                    withdrawn_at,
                };
                key.secret = self.sealer().open(&key_label(&key), &key.secret)?;
                Ok(key)
            })
            .collect()
    }

    async fn keys_version(&self) -> Result<String, StoreError> {
        let version: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'keys_serial'")
                .fetch_optional(self.pool())
                .await?;
        Ok(version.unwrap_or_else(|| "0".to_owned()))
    }

    async fn withdraw_signing_key(
        &self,
        kid: &str,
        now: i64,
        replacement: &StoredKey,
    ) -> Result<Withdrawal, StoreError> {
        let mut tx = self.begin_write().await?;
        let found: Option<(Option<i64>, Option<i64>)> =
            sqlx::query_as("SELECT retired_at, withdrawn_at FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .fetch_optional(&mut **tx)
                .await?;
        let replaced = match found {
            None => return Ok(Withdrawal::Unknown),
            Some((_, Some(_))) => return Ok(Withdrawal::AlreadyWithdrawn),
            Some((retired_at, None)) => retired_at.is_none(),
        };
        if replaced {
            Sql::<B>::make_current(self, &mut tx, replacement).await?;
        }
        sqlx::query("UPDATE signing_keys SET withdrawn_at = $1 WHERE kid = $2")
            .bind(now)
            .bind(kid)
            .execute(&mut **tx)
            .await?;
        Sql::<B>::bump_keys_version(&mut tx).await?;
        tx.commit().await?;
        Ok(Withdrawal::Withdrawn { replaced })
    }

    async fn secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        let label = format!("secret:{name}");
        let sealed = self.sealer().seal_text(&label, candidate)?;
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(name)
            .bind(sealed.as_str())
            .execute(self.pool())
            .await?;
        let stored: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(name)
            .fetch_one(self.pool())
            .await?;
        Ok(self.sealer().open_text(&label, &stored)?)
    }

    async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        // The partial unique index on the current key makes a lost race a no-op.
        let secret = self.sealer().seal(&key_label(key), &key.secret)?;
        let mut tx = self.begin_write().await?;
        let stored: Option<String> = sqlx::query_scalar(
            "INSERT INTO signing_keys (kid, alg, secret, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING RETURNING kid",
        )
        .bind(key.kid.as_str())
        .bind(key.alg.as_str())
        .bind(secret.as_slice())
        .bind(key.created_at)
        .fetch_optional(&mut **tx)
        .await?;
        if stored.is_some() {
            Sql::<B>::bump_keys_version(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(stored.is_some())
    }

    async fn rotate_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        Sql::<B>::make_current(self, &mut tx, key).await?;
        Sql::<B>::bump_keys_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl<B: Backend> LimitStore for B
where
    for<'c> &'c Pool<B::Db>: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'r> i64: Decode<'r, B::Db>,
    for<'r> String: Decode<'r, B::Db> + Type<B::Db>,
    usize: ColumnIndex<<B::Db as Database>::Row>,
{
    fn shares_rate_limits(&self) -> bool {
        B::SHARES_LIMITS
    }

    async fn limit_attempt(
        &self,
        key: &str,
        max: u32,
        window: i64,
        now: i64,
    ) -> Result<Result<(), u64>, StoreError> {
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
        .fetch_one(self.pool())
        .await?;
        if count > i64::from(max) {
            let wait = start.saturating_add(window).saturating_sub(now).max(1);
            return Ok(Err(u64::try_from(wait).unwrap_or(1)));
        }
        Ok(Ok(()))
    }

    async fn limit_forgive(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM rate_limits WHERE key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn limit_sweep(&self, before: i64) -> Result<u64, StoreError> {
        let swept: Vec<String> =
            sqlx::query_scalar("DELETE FROM rate_limits WHERE window_start < $1 RETURNING key")
                .bind(before)
                .fetch_all(self.pool())
                .await?;
        Ok(u64::try_from(swept.len()).unwrap_or(u64::MAX))
    }
}
