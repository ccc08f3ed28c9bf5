//! The account handlers: signup, login, refresh, logout, sessions, the
//! profile, admin deactivation and RFC 7009 revocation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tollgate_verifier::{AccessClaims, Audience, RevocationEntry, RevocationSet, Revoked, Uuid};

use crate::AppState;
use crate::auth::{self, check_email, check_password, check_text, normalize_email, token_hash};
use crate::error::{ApiError, FieldError};
use crate::extract::{ApiForm, ApiJson, Caller, ClientAddr};
use crate::store::{NewSession, RefreshOutcome, RefreshRequest, Session, StoreError, User, Which};

/// Longest name accepted.
const MAX_NAME_CHARS: usize = 100;
/// Longest device id accepted (fingerprints are 32 hex characters).
const MAX_DEVICE_ID_CHARS: usize = 256;
/// Longest device type accepted.
const MAX_DEVICE_TYPE_CHARS: usize = 32;
/// A rotated refresh token presented this soon after its rotation is the
/// loser of a concurrent refresh (two tabs, a retry), not a thief: it is
/// refused without revoking the session. Later, it is reuse.
pub const REUSE_GRACE_SECS: i64 = 2;

/// A user as the API shows one.
#[derive(Debug, Serialize)]
pub struct UserView {
    id: Uuid,
    email: String,
    name: String,
    roles: Vec<&'static str>,
    active: bool,
    created_at: i64,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView {
            id: user.id,
            roles: roles(&user),
            email: user.email,
            name: user.name,
            active: user.active,
            created_at: user.created_at,
        }
    }
}

fn roles(user: &User) -> Vec<&'static str> {
    if user.is_admin {
        vec!["USER", "ADMIN"]
    } else {
        vec!["USER"]
    }
}

/// `POST /v1/auth/signup`.
#[derive(Deserialize)]
pub struct Signup {
    email: String,
    password: String,
    name: String,
}

/// Creates a user (role USER): `201` with the user.
pub async fn signup(
    State(state): State<AppState>,
    address: ClientAddr,
    ApiJson(body): ApiJson<Signup>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    state
        .address_limit
        .attempt(&address.0, state.clock.now())
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let user = create_user(&state, &body.email, body.password, &body.name, false).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Validates and stores a new user; also used by `user add`.
pub async fn create_user(
    state: &AppState,
    email: &str,
    password: String,
    name: &str,
    is_admin: bool,
) -> Result<User, ApiError> {
    let email = normalize_email(email);
    let mut errors = Vec::new();
    check_email(&email, &mut errors);
    check_password(&password, &email, &mut errors);
    check_text("name", name, MAX_NAME_CHARS, &mut errors);
    ApiError::check(errors)?;
    let user = User {
        id: Uuid::new_v4(),
        email,
        name: name.trim().to_owned(),
        password_hash: state.passwords.hash(password).await?,
        is_admin,
        active: true,
        created_at: state.clock.now(),
    };
    match state.store.create_user(&user).await {
        Err(StoreError::Conflict(_)) => Err(ApiError::EmailTaken),
        other => other.map(|()| user).map_err(ApiError::from),
    }
}

/// The device a login comes from.
#[derive(Deserialize)]
pub struct Device {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

/// `POST /v1/auth/login`.
#[derive(Deserialize)]
pub struct Login {
    email: String,
    password: String,
    device: Device,
}

/// A token response (login and refresh).
#[derive(Serialize)]
pub struct TokenPair {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
    session_id: Uuid,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl IntoResponse for TokenPair {
    fn into_response(self) -> Response {
        // RFC 6749 §5.1: token responses are never cached.
        ([(header::CACHE_CONTROL, "no-store")], Json(self)).into_response()
    }
}

/// Logs a device in: a new device session (replacing this device's old
/// one) and its first token pair.
pub async fn login(
    State(state): State<AppState>,
    address: ClientAddr,
    ApiJson(body): ApiJson<Login>,
) -> Result<TokenPair, ApiError> {
    let result = login_inner(&state, &address, body).await;
    state.metrics.login(match &result {
        Ok(_) => "success",
        Err(ApiError::InvalidCredentials) => "invalid_credentials",
        Err(ApiError::AccountDisabled) => "account_disabled",
        Err(ApiError::RateLimited { .. }) => "rate_limited",
        Err(_) => "invalid_request",
    });
    result
}

async fn login_inner(
    state: &AppState,
    address: &ClientAddr,
    body: Login,
) -> Result<TokenPair, ApiError> {
    let mut errors = Vec::new();
    check_text(
        "device.id",
        &body.device.id,
        MAX_DEVICE_ID_CHARS,
        &mut errors,
    );
    check_text(
        "device.type",
        &body.device.kind,
        MAX_DEVICE_TYPE_CHARS,
        &mut errors,
    );
    if body.password.chars().count() > auth::MAX_PASSWORD_CHARS {
        errors.push(FieldError::new("password", "is too long"));
    }
    ApiError::check(errors)?;

    let now = state.clock.now();
    let email = normalize_email(&body.email);
    let limited = |retry_after| ApiError::RateLimited { retry_after };
    state
        .address_limit
        .attempt(&address.0, now)
        .map_err(limited)?;
    state.account_limit.attempt(&email, now).map_err(limited)?;

    // Unknown email and wrong password take the same path and time: the
    // password is always checked, against a dummy hash if need be.
    let user = state.store.user_by_email(&email).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    if !state.passwords.verify(hash, body.password).await? {
        return Err(ApiError::InvalidCredentials);
    }
    let user = user.ok_or(ApiError::InvalidCredentials)?;
    if !user.active {
        return Err(ApiError::AccountDisabled);
    }
    state.account_limit.forgive(&email);

    let refresh_token = auth::random_token();
    let session = Session {
        id: Uuid::new_v4(),
        user_id: user.id,
        device_id: body.device.id.trim().to_owned(),
        device_type: body.device.kind.trim().to_owned(),
        created_at: now,
        last_used_at: now,
        expires_at: now.saturating_add(state.settings.refresh_ttl_secs),
        refresh_count: 0,
    };
    let replaced = state
        .store
        .start_session(&NewSession {
            session: session.clone(),
            refresh_hash: token_hash(&refresh_token),
            revoke_until: state.settings.revoke_until(now),
        })
        .await?;
    state.metrics.revoked(replaced.len());
    if !replaced.is_empty() {
        tracing::info!(user = %user.id, sid = %session.id, replaced = replaced.len(), "device logged in again; old session revoked");
    }
    token_pair(state, &user, session.id, refresh_token, now)
}

fn token_pair(
    state: &AppState,
    user: &User,
    sid: Uuid,
    refresh_token: String,
    now: i64,
) -> Result<TokenPair, ApiError> {
    let ttl = state.settings.access_ttl_secs;
    let claims = AccessClaims {
        iss: state.settings.issuer.clone(),
        sub: user.id.to_string(),
        aud: Audience::One(state.settings.audience.clone()),
        iat: now,
        exp: now.saturating_add(ttl),
        nbf: None,
        jti: Uuid::new_v4(),
        sid,
        roles: roles(user).into_iter().map(str::to_owned).collect(),
        email: Some(user.email.clone()),
    };
    let access_token = state
        .keys()
        .ring
        .sign(&claims)
        .map_err(|err| ApiError::Internal(err.to_string()))?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token,
        session_id: sid,
    })
}

/// `POST /v1/auth/refresh`.
#[derive(Deserialize)]
pub struct Refresh {
    refresh_token: String,
}

/// Rotates a refresh token: a new pair for the same session. A token that
/// was already rotated revokes the session (reuse detection).
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Refresh>,
) -> Result<TokenPair, ApiError> {
    let now = state.clock.now();
    let next = auth::random_token();
    let outcome = state
        .store
        .refresh_session(&RefreshRequest {
            presented: token_hash(&body.refresh_token),
            next: token_hash(&next),
            now,
            expires_at: now.saturating_add(state.settings.refresh_ttl_secs),
            reuse_grace_secs: REUSE_GRACE_SECS,
            revoke_until: state.settings.revoke_until(now),
        })
        .await?;
    match outcome {
        RefreshOutcome::Rotated(session) => {
            state.metrics.refresh("rotated");
            let user = state
                .store
                .user_by_id(session.user_id)
                .await?
                .ok_or(ApiError::InvalidRefreshToken)?;
            token_pair(&state, &user, session.id, next, now)
        }
        RefreshOutcome::Reused => {
            state.metrics.refresh("reused");
            state.metrics.revoked(1);
            tracing::warn!("rotated refresh token presented again; its session is revoked");
            Err(ApiError::RefreshTokenReused)
        }
        RefreshOutcome::Invalid => {
            state.metrics.refresh("invalid");
            Err(ApiError::InvalidRefreshToken)
        }
    }
}

/// Revokes `which` of the caller's sessions; `NotFound` if none was live.
async fn revoke(state: &AppState, user: Uuid, which: Which) -> Result<StatusCode, ApiError> {
    let now = state.clock.now();
    let revoked = state
        .store
        .revoke_sessions(user, which, now, state.settings.revoke_until(now))
        .await?;
    state.metrics.revoked(revoked.len());
    if revoked.is_empty() && matches!(which, Which::One(_)) {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/logout`: ends the caller's device session.
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    revoke(&state, caller.user, Which::One(caller.claims.sid)).await
}

/// `POST /v1/auth/logout-all`: ends every session of the caller.
pub async fn logout_all(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    revoke(&state, caller.user, Which::All).await
}

/// A device session as the API shows one.
#[derive(Debug, Serialize)]
pub struct SessionView {
    id: Uuid,
    device_id: String,
    device_type: String,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    refresh_count: i64,
    current: bool,
}

/// `GET /v1/sessions`.
#[derive(Debug, Serialize)]
pub struct Sessions {
    sessions: Vec<SessionView>,
}

/// Lists the caller's live sessions, marking the one the token belongs to.
pub async fn sessions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Sessions>, ApiError> {
    let live = state
        .store
        .live_sessions(caller.user, state.clock.now())
        .await?;
    let sessions = live
        .into_iter()
        .map(|s| SessionView {
            current: s.id == caller.claims.sid,
            id: s.id,
            device_id: s.device_id,
            device_type: s.device_type,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            refresh_count: s.refresh_count,
        })
        .collect();
    Ok(Json(Sessions { sessions }))
}

/// `DELETE /v1/sessions/{id}`: logs out one of the caller's devices. Another
/// user's session is `not_found`, as if it did not exist.
pub async fn delete_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sid = id.parse().map_err(|_| ApiError::NotFound)?;
    revoke(&state, caller.user, Which::One(sid)).await
}

/// `GET /v1/users/me`.
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<UserView>, ApiError> {
    let user = state
        .store
        .user_by_id(caller.user)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(user.into()))
}

/// `POST /v1/admin/users/{id}/deactivate`: an admin disables an account and
/// revokes all its sessions.
pub async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // The role is checked in the database too: a token outlives a demotion.
    let is_admin = caller.claims.has_role("ADMIN")
        && state
            .store
            .user_by_id(caller.user)
            .await?
            .is_some_and(|u| u.is_admin && u.active);
    if !is_admin {
        return Err(ApiError::Forbidden);
    }
    let user: Uuid = id.parse().map_err(|_| ApiError::NotFound)?;
    let now = state.clock.now();
    let revoked = state
        .store
        .deactivate_user(user, now, state.settings.revoke_until(now))
        .await?
        .ok_or(ApiError::NotFound)?;
    state.metrics.revoked(revoked.len());
    tracing::info!(admin = %caller.user, %user, "user deactivated");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /oauth/revoke` (RFC 7009), form-encoded.
#[derive(Deserialize)]
pub struct RevokeForm {
    token: String,
    #[serde(default)]
    #[allow(dead_code)] // Accepted as RFC 7009 allows; the token's shape tells.
    token_type_hint: Option<String>,
}

/// Revokes a refresh token (its whole session) or an access token (its
/// `jti`). Answers 200 whether or not the token was known, as RFC 7009 asks.
pub async fn oauth_revoke(
    State(state): State<AppState>,
    ApiForm(form): ApiForm<RevokeForm>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.now();
    if form.token.contains('.') {
        // An access token: only one this issuer signed and that has not
        // expired is worth a revocation entry.
        let verified = state
            .keys()
            .verifier
            .verify(&form.token, now, &RevocationSet::new());
        if let Ok(verified) = verified {
            let entry = RevocationEntry {
                target: Revoked::Jti(verified.jti),
                until: verified.exp.saturating_add(state.settings.leeway_secs),
            };
            state.store.append_revocations(&[entry]).await?;
            state.metrics.revoked(1);
        }
    } else {
        let until = state.settings.revoke_until(now);
        let revoked = state
            .store
            .revoke_by_refresh(&token_hash(&form.token), now, until)
            .await?;
        state.metrics.revoked(revoked.len());
    }
    Ok(StatusCode::OK)
}
