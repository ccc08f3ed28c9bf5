//! The account routes: signup, login, refresh (the unauthenticated token
//! routes, each in one of the few token slots), the profile, and an
//! admin's deactivation of an account.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tollgate_verifier::{AccessClaims, Audience, Confirmation, Uuid};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{self, token_hash};
use crate::dpop;
use crate::error::ApiError;
use crate::extract::{ApiJson, Caller, ClientAddr};
use crate::fields::{self, check_email, check_length, check_line, check_password, normalize_email};
use crate::metrics::{LoginResult, RefreshResult};
use crate::openapi::{
    Problem400, Problem401, Problem403, Problem404, Problem409, Problem413, Problem415, Problem422,
    Problem429,
};
use crate::store::{NewSession, RefreshOutcome, RefreshRequest, Session, StoreError, User};

/// A rotated refresh token presented this soon after its rotation, while
/// its successor is still the session's live token, is a concurrent refresh
/// (two tabs, a retry): it gets that same successor, so the session never
/// forks. Any other presentation of a rotated token is reuse, and revokes
/// the session.
pub const REUSE_GRACE_SECS: i64 = 2;

/// A user as the API shows one.
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Deserialize, ToSchema)]
pub struct Signup {
    #[schema(schema_with = fields::email_schema)]
    email: String,
    #[schema(schema_with = fields::password_schema)]
    password: String,
    #[schema(schema_with = fields::name_schema)]
    name: String,
}

#[utoipa::path(post, path = "/v1/auth/signup", tag = "accounts",
    request_body = Signup,
    responses((status = 201, description = "The user", body = UserView),
        Problem400, Problem409, Problem413, Problem415, Problem422, Problem429))]
/// Creates a user (role USER): `201` with the user.
pub async fn signup(
    State(state): State<AppState>,
    address: ClientAddr,
    ApiJson(body): ApiJson<Signup>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    state
        .address_limit
        .attempt(&address.0, state.clock.now())
        .await?
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
    let mut errors = Vec::new();
    check_email(email, &mut errors);
    let email = normalize_email(email);
    check_password(&password, &email, &mut errors);
    check_line("name", name, fields::MAX_NAME_CHARS, &mut errors);
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
#[derive(Deserialize, ToSchema)]
pub struct Device {
    #[schema(schema_with = fields::device_id_schema)]
    id: String,
    #[serde(rename = "type")]
    #[schema(schema_with = fields::device_type_schema)]
    kind: String,
}

/// `POST /v1/auth/login`.
#[derive(Deserialize, ToSchema)]
pub struct Login {
    #[schema(schema_with = fields::login_email_schema)]
    email: String,
    #[schema(schema_with = fields::login_password_schema)]
    password: String,
    device: Device,
}

/// A token response (login and refresh).
#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
    session_id: Uuid,
    /// A fresh DPoP nonce for the client's next proof, sent as the
    /// `DPoP-Nonce` header when nonces are on.
    #[serde(skip)]
    nonce: Option<String>,
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
        let mut response = ([(header::CACHE_CONTROL, "no-store")], Json(&self)).into_response();
        if let Some(nonce) = self.nonce.as_deref().and_then(|n| n.parse().ok()) {
            response
                .headers_mut()
                .insert(crate::headers::DPOP_NONCE, nonce);
        }
        response
    }
}

/// Logs a device in: a new device session (replacing this device's old
/// one) and its first token pair. With a `DPoP` proof the session is bound
/// to the proof's key (RFC 9449): its access tokens carry `cnf.jkt` and
/// `token_type` is `DPoP`, and a refresh needs a proof from the same key.
#[utoipa::path(post, path = "/v1/auth/login", tag = "accounts",
    request_body = Login,
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449) for POST on this URL; binds the session to its key")),
    responses((status = 200, description = "A new device session's tokens", body = TokenPair),
        Problem400, Problem401, Problem403, Problem413, Problem415, Problem422, Problem429))]
pub async fn login(
    State(state): State<AppState>,
    address: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Login>,
) -> Result<TokenPair, ApiError> {
    let authority = uri.authority().map(|a| a.as_str());
    let result = login_inner(&state, &address, authority, &headers, body).await;
    state.metrics.login(match &result {
        Ok(_) => LoginResult::Success,
        Err(ApiError::InvalidCredentials) => LoginResult::InvalidCredentials,
        Err(ApiError::AccountDisabled) => LoginResult::AccountDisabled,
        Err(ApiError::RateLimited { .. }) => LoginResult::RateLimited,
        Err(ApiError::InvalidDpopProof(_) | ApiError::UseDpopNonce { .. }) => {
            LoginResult::InvalidDpopProof
        }
        Err(_) => LoginResult::InvalidRequest,
    });
    result
}

async fn login_inner(
    state: &AppState,
    address: &ClientAddr,
    authority: Option<&str>,
    headers: &HeaderMap,
    body: Login,
) -> Result<TokenPair, ApiError> {
    let mut errors = Vec::new();
    check_line(
        "device.id",
        &body.device.id,
        fields::MAX_DEVICE_ID_CHARS,
        &mut errors,
    );
    check_line(
        "device.type",
        &body.device.kind,
        fields::MAX_DEVICE_TYPE_CHARS,
        &mut errors,
    );
    check_length(
        "password",
        &body.password,
        fields::MAX_PASSWORD_CHARS,
        &mut errors,
    );
    // Bounded before it becomes a rate-limit key.
    check_length("email", &body.email, fields::MAX_EMAIL_CHARS, &mut errors);
    ApiError::check(errors)?;

    let now = state.clock.now();
    let email = normalize_email(&body.email);
    let limited = |retry_after| ApiError::RateLimited { retry_after };
    state
        .address_limit
        .attempt(&address.0, now)
        .await?
        .map_err(limited)?;
    let account = crate::ratelimit::account_key(&email);
    state
        .account_limit
        .attempt(&account, now)
        .await?
        .map_err(limited)?;

    // Before the password: a bad proof, or one without the nonce the
    // client must first fetch, costs no Argon2 run.
    let proof = dpop::token_route_proof(state, authority, headers, "/v1/auth/login")?;
    if proof.is_none() && state.settings.require_dpop {
        return Err(ApiError::InvalidDpopProof(
            "this issuer requires a DPoP proof at login",
        ));
    }

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
    dpop::record(state, proof.as_ref())?;
    state.account_limit.forgive(&account).await?;

    let refresh_token = auth::random_token();
    let access_exp = now.saturating_add(state.settings.access_ttl_secs);
    let session = Session {
        id: Uuid::new_v4(),
        user_id: user.id,
        device_id: body.device.id.trim().to_owned(),
        device_type: body.device.kind.trim().to_owned(),
        created_at: now,
        last_used_at: now,
        expires_at: now.saturating_add(state.settings.refresh_ttl_secs),
        refresh_count: 0,
        dpop_jkt: proof.map(|proof| proof.jkt),
    };
    let replaced = state
        .store
        .start_session(&NewSession {
            session: session.clone(),
            refresh_hash: token_hash(&refresh_token),
            access_exp,
            revoke: state.settings.revoke_until(now),
        })
        .await?
        // Deactivated while the password was being checked.
        .ok_or(ApiError::AccountDisabled)?;
    state.metrics.revoked(replaced.len());
    if !replaced.is_empty() {
        tracing::info!(user = %user.id, sid = %session.id, replaced = replaced.len(), "device logged in again; old session revoked");
    }
    token_pair(state, &user, &session, refresh_token, now, access_exp).await
}

/// Signs an access token expiring at `exp` (the store recorded it as the
/// session's latest) and pairs it with `refresh_token`.
async fn token_pair(
    state: &AppState,
    user: &User,
    session: &Session,
    refresh_token: String,
    now: i64,
    exp: i64,
) -> Result<TokenPair, ApiError> {
    let sid = session.id;
    let cnf = session.dpop_jkt.clone().map(|jkt| Confirmation { jkt });
    let claims = AccessClaims {
        iss: state.settings.issuer.clone(),
        sub: user.id.to_string(),
        aud: Audience::One(state.settings.audience.clone()),
        iat: now,
        exp,
        nbf: None,
        jti: Some(Uuid::new_v4().to_string()),
        sid: Some(sid.to_string()),
        roles: roles(user).into_iter().map(str::to_owned).collect(),
        email: Some(user.email.clone()),
        cnf,
    };
    let access_token = state
        .current_keys()
        .await?
        .ring
        .sign(&claims)
        .map_err(|err| ApiError::Internal(err.to_string()))?;
    Ok(TokenPair {
        access_token,
        token_type: if session.dpop_jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        },
        expires_in: exp.saturating_sub(now),
        refresh_token,
        session_id: sid,
        nonce: state
            .settings
            .dpop_nonce
            .then(|| state.nonce_key.issue(now)),
    })
}

/// `POST /v1/auth/refresh`.
#[derive(Deserialize, ToSchema)]
pub struct Refresh {
    refresh_token: String,
}

/// Rotates a refresh token: a new pair for the same session. The successor
/// is derived from the presented token, so a concurrent refresh within the
/// grace window gets the same one; any other use of a rotated token revokes
/// the session (reuse detection).
/// A session bound to a DPoP key refreshes only with a proof from that key;
/// without one, or with another key's, nothing rotates.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "accounts",
    request_body = Refresh,
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449) for POST on this URL; required for a bound session, from its key")),
    responses((status = 200, description = "New tokens for the same session", body = TokenPair),
        Problem400, Problem401, Problem413, Problem415, Problem422, Problem429))]
pub async fn refresh(
    State(state): State<AppState>,
    address: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Refresh>,
) -> Result<TokenPair, ApiError> {
    let now = state.clock.now();
    state
        .token_limit
        .check(&address.0, now)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let _slot = state.token_slot().await?;
    let authority = uri.authority().map(|a| a.as_str());
    let proof = dpop::token_route_proof(&state, authority, &headers, "/v1/auth/refresh")?;
    let next = auth::successor(&state.refresh_key, &body.refresh_token);
    let access_exp = now.saturating_add(state.settings.access_ttl_secs);
    let outcome = state
        .store
        .refresh_session(&RefreshRequest {
            presented: token_hash(&body.refresh_token),
            successor: token_hash(&next),
            now,
            expires_at: now.saturating_add(state.settings.refresh_ttl_secs),
            access_exp,
            reuse_grace_secs: REUSE_GRACE_SECS,
            revoke: state.settings.revoke_until(now),
            proof_jkt: proof.as_ref().map(|proof| proof.jkt.clone()),
            require_bound: state.settings.require_dpop,
        })
        .await?;
    let result = match &outcome {
        RefreshOutcome::Rotated(_) => RefreshResult::Rotated,
        RefreshOutcome::Repeated(_) => RefreshResult::Repeated,
        RefreshOutcome::Reused => RefreshResult::Reused,
        RefreshOutcome::Invalid => RefreshResult::Invalid,
        RefreshOutcome::WrongKey => RefreshResult::WrongKey,
    };
    state.metrics.refresh(result);
    if matches!(
        outcome,
        RefreshOutcome::Reused | RefreshOutcome::Invalid | RefreshOutcome::WrongKey
    ) {
        state.token_limit.record(&address.0, now);
    }
    match outcome {
        RefreshOutcome::Rotated(session) | RefreshOutcome::Repeated(session) => {
            // Only now: a proof around a refresh token that was no good
            // takes no room in the replay cache.
            dpop::record(&state, proof.as_ref())?;
            let user = state
                .store
                .user_by_id(session.user_id)
                .await?
                .ok_or(ApiError::InvalidRefreshToken)?;
            token_pair(&state, &user, &session, next, now, access_exp).await
        }
        RefreshOutcome::Reused => {
            state.metrics.revoked(1);
            tracing::warn!("rotated refresh token presented again; its session is revoked");
            Err(ApiError::RefreshTokenReused)
        }
        RefreshOutcome::Invalid => Err(ApiError::InvalidRefreshToken),
        RefreshOutcome::WrongKey => Err(ApiError::InvalidDpopProof(
            "refresh with a DPoP proof from the session's key (or, where DPoP is required, log in again with one)",
        )),
    }
}

/// `GET /v1/users/me`.
#[utoipa::path(get, path = "/v1/users/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = UserView), Problem401, Problem404))]
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
#[utoipa::path(post, path = "/v1/admin/users/{id}/deactivate", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user id")),
    responses((status = 204, description = "Deactivated; every session revoked"), Problem401, Problem403, Problem404))]
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
