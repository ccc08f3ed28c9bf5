//! The RFC 8936 poll client: asks the provider's poll endpoint for
//! Security Event Tokens, acknowledges each one it accepted (or had
//! accepted before), reports each one it refused in `setErrs`, and leaves
//! unacknowledged those it could not store, so the transmitter delivers
//! them again. It asks again at once while `moreAvailable`, else after
//! the configured pause.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::json;
use tollgate_verifier::event::EventCode;

use super::receive::{Kind, Refused, receive};
use crate::AppState;
use crate::metrics::Channel;

/// At most this many SETs per poll.
pub const MAX_EVENTS: u32 = 100;

/// The largest poll response read.
const MAX_RESPONSE: usize = 1024 * 1024;

/// A poll response (RFC 8936 §2.5).
#[derive(Debug, Deserialize)]
struct Response {
    #[serde(default)]
    sets: BTreeMap<String, String>,
    #[serde(default, rename = "moreAvailable")]
    more_available: bool,
}

/// What the next request tells the transmitter.
#[derive(Debug, Default)]
struct Answers {
    ack: Vec<String>,
    errors: BTreeMap<String, serde_json::Value>,
}

/// Polls provider `index` until dropped.
pub async fn run(state: AppState, index: usize) {
    let provider = &state.upstreams.providers[index];
    let Some(ssf) = provider.config.ssf.as_ref() else {
        return;
    };
    let Some(url) = ssf.poll_url.as_deref() else {
        return;
    };
    let pause = Duration::from_millis(ssf.poll_interval_ms);
    let mut answers = Answers::default();
    loop {
        let body = json!({
            "ack": answers.ack,
            "setErrs": answers.errors,
            "maxEvents": MAX_EVENTS,
            "returnImmediately": true,
        });
        let mut request = state.upstreams.client.post(url).json(&body);
        if let Some(bearer) = &ssf.bearer {
            request = request.bearer_auth(bearer.expose_secret());
        }
        let response = match poll_once(request).await {
            Ok(response) => response,
            Err(reason) => {
                // The answers go out again with the next attempt.
                tracing::warn!(upstream = %provider.config.name, %reason, "SSF poll failed");
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        answers = Answers::default();
        let mut held_back = false;
        for (jti, set) in &response.sets {
            match receive(&state, provider, Kind::SecurityEvent, Channel::SsfPoll, set).await {
                Ok(_) => answers.ack.push(jti.clone()),
                // Stored before: acknowledge it, so it stops coming.
                Err(Refused::Event(err)) if err.code == EventCode::Replayed => {
                    answers.ack.push(jti.clone());
                }
                Err(Refused::Event(err)) => {
                    answers.errors.insert(
                        jti.clone(),
                        json!({"err": err.code.set_error(), "description": err.to_string()}),
                    );
                }
                // Not stored: neither acknowledged nor refused, so it is
                // delivered again.
                Err(Refused::Later | Refused::Busy | Refused::Unavailable(_)) => held_back = true,
            }
        }
        // At once again only for more of what was taken; a transmitter that
        // says "more" with nothing, or SETs held back, waits the pause.
        if !response.more_available || response.sets.is_empty() || held_back {
            tokio::time::sleep(pause).await;
        }
    }
}

async fn poll_once(request: reqwest::RequestBuilder) -> Result<Response, String> {
    let mut response = request.send().await.map_err(|err| {
        if err.is_timeout() {
            "timed out".to_owned()
        } else {
            "the request failed".to_owned()
        }
    })?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| "the body failed".to_owned())?
    {
        if body.len() + chunk.len() > MAX_RESPONSE {
            return Err("the response is over 1 MiB".into());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|_| "the response is not a poll response".into())
}
