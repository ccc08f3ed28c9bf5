//! The session routes: logout, logout-all, listing the caller's device
//! sessions and logging one of them out.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use tollgate_verifier::Uuid;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Caller, RevokingCaller};
use crate::openapi::{Problem401, Problem404};
use crate::store::Which;

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
#[utoipa::path(post, path = "/v1/auth/logout", tag = "sessions", security(("bearer" = [])),
    responses((status = 204, description = "The caller's session is revoked"), Problem401, Problem404))]
pub async fn logout(
    State(state): State<AppState>,
    RevokingCaller(caller): RevokingCaller,
) -> Result<StatusCode, ApiError> {
    revoke(&state, caller.user, Which::One(caller.session)).await
}

/// `POST /v1/auth/logout-all`: ends every session of the caller.
#[utoipa::path(post, path = "/v1/auth/logout-all", tag = "sessions", security(("bearer" = [])),
    responses((status = 204, description = "Every session of the caller is revoked"), Problem401))]
pub async fn logout_all(
    State(state): State<AppState>,
    RevokingCaller(caller): RevokingCaller,
) -> Result<StatusCode, ApiError> {
    revoke(&state, caller.user, Which::All).await
}

/// A device session as the API shows one.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    id: Uuid,
    device_id: String,
    device_type: String,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    refresh_count: i64,
    current: bool,
    /// Bound to a device key with DPoP: its tokens are useless without it.
    dpop_bound: bool,
}

/// `GET /v1/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sessions {
    sessions: Vec<SessionView>,
}

/// Lists the caller's live sessions, marking the one the token belongs to.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, description = "The caller's live sessions", body = Sessions), Problem401))]
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
            current: s.id == caller.session,
            id: s.id,
            device_id: s.device_id,
            device_type: s.device_type,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            refresh_count: s.refresh_count,
            dpop_bound: s.dpop_jkt.is_some(),
        })
        .collect();
    Ok(Json(Sessions { sessions }))
}

/// `DELETE /v1/sessions/{id}`: logs out one of the caller's devices. Another
/// user's session is `not_found`, as if it did not exist.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "The session id")),
    responses((status = 204, description = "That session is revoked"), Problem401, Problem404))]
pub async fn delete_session(
    State(state): State<AppState>,
    RevokingCaller(caller): RevokingCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sid = id.parse().map_err(|_| ApiError::NotFound)?;
    revoke(&state, caller.user, Which::One(sid)).await
}
