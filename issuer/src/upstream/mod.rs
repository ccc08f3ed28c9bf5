//! Upstream identity providers: the issuer as a revocation hub for tokens
//! it never issued (docs/upstream.md).
//!
//! - `config`: the trusted providers (`--upstreams FILE`).
//! - `fetch`: their discovery documents and JWKS, and what of a JWKS may
//!   be republished.
//! - `receive`: a logout token or security event, judged by the verifier
//!   crate and persisted with its revocations (push and poll share it).
//! - `poll`: the RFC 8936 poll client.
//!
//! Every replica fetches every provider's keys (at least once a minute)
//! and stores them; a change moves the key-set version, so verifiers
//! refetch the JWKS, which republishes each key bound to its issuer.

pub mod config;
pub mod fetch;
pub mod poll;
pub mod receive;

use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use tollgate_verifier::UpstreamRules;

use crate::AppState;
pub use config::{Upstream, UpstreamConfigError};
use fetch::FetchError;

/// The least time between two fetches of a provider's keys that an unknown
/// `kid` may cause: an anonymous flood of made-up kids costs one fetch per
/// this long.
pub const UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(10);

/// The configured providers and what fetching them needs.
pub struct Upstreams {
    providers: Vec<Provider>,
    client: reqwest::Client,
    rules_digest: String,
}

/// One provider, and when an unknown `kid` last made its keys be fetched.
pub struct Provider {
    /// Its configuration.
    pub config: Upstream,
    last_unknown_kid: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.providers.iter().map(|p| &p.config.name))
            .finish()
    }
}

impl Upstreams {
    /// These providers; `Err` if the HTTP client cannot be made.
    pub fn new(list: Vec<Upstream>) -> Result<Self, UpstreamConfigError> {
        let rules: Vec<UpstreamRules> = list.iter().map(Upstream::rules).collect();
        let rules_digest = if rules.is_empty() {
            String::new()
        } else {
            let json = serde_json::to_vec(&rules).unwrap_or_default();
            Sha256::digest(json)[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        Ok(Upstreams {
            providers: list
                .into_iter()
                .map(|config| Provider {
                    config,
                    last_unknown_kid: tokio::sync::Mutex::new(None),
                })
                .collect(),
            client: fetch::client().map_err(UpstreamConfigError)?,
            rules_digest,
        })
    }

    /// None at all.
    pub fn none() -> Self {
        Upstreams {
            providers: Vec::new(),
            client: reqwest::Client::new(),
            rules_digest: String::new(),
        }
    }

    /// The provider named `name`.
    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.config.name == name)
    }

    /// Every provider.
    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.providers.iter()
    }

    /// Their rules, as the JWKS publishes them.
    pub fn rules(&self) -> Vec<UpstreamRules> {
        self.providers.iter().map(|p| p.config.rules()).collect()
    }

    /// What the published key-set version carries beside the database's:
    /// the rules live in configuration, and a verifier must refetch when
    /// they change. Empty without upstreams, so nothing changes for them.
    pub fn version_suffix(&self) -> String {
        if self.rules_digest.is_empty() {
            String::new()
        } else {
            format!(".{}", self.rules_digest)
        }
    }
}

/// Fetches `provider`'s keys and stores them; if they changed, this
/// replica reloads its keys at once (the others notice the new version).
/// Returns how long until the next fetch.
pub async fn refresh(state: &AppState, provider: &Provider) -> Result<Duration, FetchError> {
    fetch_and_store(state, provider).await
}

async fn fetch_and_store(state: &AppState, provider: &Provider) -> Result<Duration, FetchError> {
    let config = &provider.config;
    let fetched = fetch::fetch_keys(&state.upstreams.client, config).await?;
    let json = serde_json::to_string(&fetched.keys).unwrap_or_else(|_| "[]".into());
    let changed = state
        .store
        .put_upstream_keys(&config.name, &json, &fetched.digest, state.clock.now())
        .await
        .map_err(|err| FetchError::Invalid(format!("storing the keys: {err}")))?;
    if changed {
        tracing::info!(upstream = %config.name, keys = fetched.keys.len(), "upstream keys changed");
        if let Err(err) = state.reload_keys().await {
            tracing::warn!(error = %err, "reloading keys after an upstream change failed");
        }
    }
    let period = Duration::from_secs(u64::from(config.refresh_secs));
    Ok(fetched
        .max_age
        .map_or(period, |age| age.clamp(Duration::from_secs(1), period)))
}

/// A token of `provider` named a `kid` none of its keys has (the provider
/// may have added a key since the last periodic fetch): fetch its keys
/// now, unless an unknown `kid` did so less than [`UNKNOWN_KID_COOLDOWN`]
/// ago or such a fetch is running. Nobody waits for another's fetch, so a
/// stalled provider holds one caller for one [`fetch::FETCH_DEADLINE`] at
/// the most. Returns whether this call fetched them.
pub async fn refetch_for_unknown_kid(state: &AppState, provider: &Provider) -> bool {
    let Ok(mut last) = provider.last_unknown_kid.try_lock() else {
        return false; // another caller is fetching them
    };
    if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_COOLDOWN) {
        return false;
    }
    *last = Some(Instant::now());
    match fetch_and_store(state, provider).await {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!(upstream = %provider.config.name, error = %err, "fetching upstream keys failed");
            false
        }
    }
}

/// Keeps every provider's keys fresh and polls those with an SSF poll
/// endpoint, until dropped.
pub async fn run(state: AppState) {
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..state.upstreams.providers.len() {
        let keys_state = state.clone();
        tasks.spawn(async move {
            let provider = &keys_state.upstreams.providers[index];
            loop {
                let wait = match refresh(&keys_state, provider).await {
                    Ok(next) => next,
                    Err(err) => {
                        tracing::warn!(upstream = %provider.config.name, error = %err, "fetching upstream keys failed; keeping the stored ones");
                        Duration::from_secs(5).min(Duration::from_secs(u64::from(
                            provider.config.refresh_secs,
                        )))
                    }
                };
                tokio::time::sleep(wait).await;
            }
        });
        let has_poll = state.upstreams.providers[index]
            .config
            .ssf
            .as_ref()
            .is_some_and(|ssf| ssf.poll_url.is_some());
        if has_poll {
            tasks.spawn(poll::run(state.clone(), index));
        }
    }
    while tasks.join_next().await.is_some() {}
}
