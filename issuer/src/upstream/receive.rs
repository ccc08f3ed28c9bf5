//! One announcement of a provider, however it arrived (Back-Channel
//! Logout, SSF push or poll): judged by the verifier crate with the
//! provider's published keys (fetched again once, rate-limited, for an
//! unknown `kid`), then its `jti` and revocations stored in one
//! transaction. Nothing is stored for a refusal.

use tollgate_verifier::KeySet;
use tollgate_verifier::event::{
    DEFAULT_EVENT_MAX_AGE_SECS, DEFAULT_LOGOUT_MAX_AGE_SECS, Event, EventCode, EventError,
    EventOptions, judge_logout_token, judge_security_event,
};

use super::{Provider, refetch_for_unknown_kid};
use crate::AppState;
use crate::error::ApiError;
use crate::metrics::{Channel, EventResult};

/// What an announcement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An OIDC Back-Channel Logout token.
    Logout,
    /// An SSF Security Event Token.
    SecurityEvent,
}

/// Why an announcement was not accepted.
#[derive(Debug)]
pub enum Refused {
    /// It is invalid (or a replay): the sender gets the standard's error.
    Event(EventError),
    /// It names a key of the provider this issuer does not have yet, and
    /// may not fetch again for a while: a key the provider added since its
    /// keys were last fetched, or a forgery. Try again later (the
    /// provider's keys will have been fetched by then); nothing stored.
    Later,
    /// Too many announcements are being judged: try again shortly.
    Busy,
    /// The issuer could not do its part (the store failed): try again.
    Unavailable(ApiError),
}

impl From<ApiError> for Refused {
    fn from(err: ApiError) -> Self {
        Refused::Unavailable(err)
    }
}

impl From<crate::store::StoreError> for Refused {
    fn from(err: crate::store::StoreError) -> Self {
        Refused::Unavailable(ApiError::Store(err))
    }
}

/// Judges `token` from `provider` and, if valid and new, puts its
/// revocations on the feed; returns how many.
pub async fn receive(
    state: &AppState,
    provider: &Provider,
    kind: Kind,
    channel: Channel,
    token: &str,
) -> Result<usize, Refused> {
    let result = accept(state, provider, kind, token).await;
    let counted = match &result {
        Ok(_) => Some(EventResult::Accepted),
        Err(Refused::Event(err)) if err.code == EventCode::Replayed => Some(EventResult::Replayed),
        Err(Refused::Event(_) | Refused::Later) => Some(EventResult::Refused),
        Err(Refused::Busy | Refused::Unavailable(_)) => None,
    };
    if let Some(result) = counted {
        state
            .metrics
            .upstream_event(&provider.config.name, channel, result);
    }
    if let Err(Refused::Event(err)) = &result {
        tracing::info!(upstream = %provider.config.name, code = err.code.as_str(), "upstream announcement refused");
    }
    result
}

async fn accept(
    state: &AppState,
    provider: &Provider,
    kind: Kind,
    token: &str,
) -> Result<usize, Refused> {
    let config = &provider.config;
    let now = state.clock.now();
    let options = EventOptions {
        issuer: config.issuer.clone(),
        audience: match kind {
            Kind::Logout => config.client_id.clone(),
            Kind::SecurityEvent => config.event_audience().to_owned(),
        },
        leeway_secs: u32::try_from(state.settings.leeway_secs).unwrap_or(0),
        max_age_secs: match kind {
            Kind::Logout => DEFAULT_LOGOUT_MAX_AGE_SECS,
            Kind::SecurityEvent => DEFAULT_EVENT_MAX_AGE_SECS,
        },
    };
    let judge = |keys: &KeySet| -> Result<Event, EventError> {
        match kind {
            Kind::Logout => judge_logout_token(token, keys, &options, now),
            Kind::SecurityEvent => judge_security_event(token, keys, &options, now),
        }
    };
    let unknown_kid = |verdict: &Result<Event, EventError>| matches!(verdict, Err(err) if err.code == EventCode::UnknownKid);
    // Judged in one of a few slots (the signature is the costly part), so
    // a flood of forgeries takes at most that much of the CPU; the refetch
    // and the write run outside them.
    let judged = || async {
        let keys = state.current_keys().await?;
        let _slot = state.upstream_slot().await.map_err(|()| Refused::Busy)?;
        Ok::<_, Refused>(judge(&keys.upstream))
    };
    let mut verdict = judged().await?;
    if unknown_kid(&verdict) && refetch_for_unknown_kid(state, provider).await {
        verdict = judged().await?;
    }
    if unknown_kid(&verdict) {
        // Refusing it for good would lose a logout signed by a key the
        // provider added since the last fetch (an anonymous caller can
        // spend the refetch with a made-up kid): it is asked again later.
        return Err(Refused::Later);
    }
    let event = verdict.map_err(Refused::Event)?;
    let fresh = state
        .store
        .accept_event(&config.name, &event.jti, event.keep_until, &event.revoked)
        .await?;
    if !fresh {
        return Err(Refused::Event(EventError::new(
            EventCode::Replayed,
            "this `jti` was accepted before",
        )));
    }
    state.metrics.revoked(event.revoked.len());
    Ok(event.revoked.len())
}
