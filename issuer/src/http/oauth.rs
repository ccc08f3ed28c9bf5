//! RFC 7009 token revocation (`POST /oauth/revoke`).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tollgate_verifier::{RevocationEntry, RevocationSet, Revoked};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::token_hash;
use crate::error::ApiError;
use crate::extract::{ApiForm, ClientAddr};
use crate::openapi::{Problem400, Problem413, Problem415, Problem422, Problem429};

/// `POST /oauth/revoke` (RFC 7009), form-encoded.
#[derive(Deserialize, ToSchema)]
pub struct RevokeForm {
    token: String,
    #[serde(default)]
    #[allow(dead_code)] // Accepted as RFC 7009 allows; the token's shape tells.
    token_type_hint: Option<String>,
}

/// Revokes a refresh token (its whole session) or an access token (its
/// `jti`). Answers 200 whether or not the token was known, as RFC 7009 asks.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked if known (RFC 7009 answers 200 either way)"),
        Problem400, Problem413, Problem415, Problem422, Problem429))]
pub async fn oauth_revoke(
    State(state): State<AppState>,
    address: ClientAddr,
    ApiForm(form): ApiForm<RevokeForm>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.now();
    // Every revocation counts against the address, found or not: the
    // unauthenticated path must not be a free write.
    state
        .token_limit
        .attempt(&address.0, now)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let _slot = state.token_slot().await?;
    if form.token.contains('.') {
        // An access token: only one this issuer signed and that has not
        // expired is worth a revocation entry.
        let verified =
            state
                .current_keys()
                .await?
                .verifier
                .inspect(&form.token, now, &RevocationSet::new());
        let ids = verified
            .ok()
            .and_then(|v| Some((v.session_uuid()?, v.token_uuid()?, v.exp)));
        if let Some((sid, jti, exp)) = ids {
            // Once is enough: a valid token presented again and again must
            // not grow the log (and every verifier's snapshot).
            if !state.store.is_revoked(sid, jti).await? {
                let entry = RevocationEntry {
                    target: Revoked::Jti(jti),
                    until: exp.saturating_add(state.settings.leeway_secs),
                };
                state.store.append_revocations(&[entry]).await?;
                state.metrics.revoked(1);
            }
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
