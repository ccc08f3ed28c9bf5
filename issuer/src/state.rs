//! What every handler shares ([`AppState`]: the store, the clock, the
//! settings, the keys, the limits, the metrics), how it is made at start,
//! and the upkeep it needs (key reloads, pruning).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tollgate_verifier::{Jwk, Jwks, KeySet, Verifier, VerifierOptions};

use crate::auth::{BadParams, Passwords};
use crate::config::{Settings, SettingsError};
use crate::error::ApiError;
use crate::feed::FeedCache;
use crate::keys::{KeyError, KeyRing};
use crate::metrics::Metrics;
use crate::ratelimit::{Limiter, RateLimiter, limiter_for};
use crate::secret::ServerKey;
use crate::store::{Store, StoreError};
use crate::upstream::{UpstreamConfigError, Upstreams};

pub use crate::slots::{SLOT_WAIT, UNAUTHENTICATED_SLOTS, UPSTREAM_SLOTS};

/// Tells the time in Unix seconds; tests substitute a fixed clock.
pub trait Clock: Send + Sync + 'static {
    /// Now, in Unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// The signing keys in force, and a verifier that trusts exactly them;
/// and the upstream providers' keys as last stored.
#[derive(Debug)]
pub struct Keys {
    /// The keys.
    pub ring: KeyRing,
    /// Checks this issuer's own tokens (Bearer auth, RFC 7009).
    pub verifier: Verifier,
    /// The upstreams' keys with their rules: what their logout tokens and
    /// security events are judged with.
    pub upstream: KeySet,
    /// The same keys as published, each bound to its issuer.
    upstream_jwks: Vec<Jwk>,
    upstream_rules: Vec<tollgate_verifier::UpstreamRules>,
    version_suffix: String,
}

impl Keys {
    /// The JWKS at `now`: this issuer's keys in `keys` (see
    /// [`KeyRing::jwks`]), every upstream's keys bound to its issuer in
    /// `upstream_keys`, the upstreams' rules, and the key-set version all of
    /// that is at (the feed names the same).
    pub fn jwks(&self, now: i64) -> Jwks {
        let mut jwks = self.ring.jwks(now);
        // Apart from `keys`: a verifier that knows nothing of upstreams
        // must never take one of theirs for a key of this issuer.
        jwks.upstream_keys = self.upstream_jwks.clone();
        jwks.upstreams = self.upstream_rules.clone();
        jwks.version = Some(format!("{}{}", self.ring.version(), self.version_suffix));
        jwks
    }
}

/// The issuer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting would fail open or makes no sense.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The signing keys could not be loaded or made.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The Argon2 settings are invalid.
    #[error(transparent)]
    Passwords(#[from] BadParams),
    /// A server secret could not be read or stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The upstreams file cannot be used.
    #[error(transparent)]
    Upstreams(#[from] UpstreamConfigError),
}

/// What every handler shares: cheap, cloneable handles.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The settings.
    pub settings: Arc<Settings>,
    /// Password hashing.
    pub passwords: Arc<Passwords>,
    /// Login attempts per account (email).
    pub account_limit: Arc<dyn Limiter>,
    /// Login and signup attempts per client address.
    pub address_limit: Arc<dyn Limiter>,
    /// Failed refreshes and RFC 7009 revocations per client address.
    pub token_limit: Arc<RateLimiter>,
    /// Counters and latencies for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Slots for the unauthenticated token routes ([`UNAUTHENTICATED_SLOTS`]).
    pub token_slots: Arc<tokio::sync::Semaphore>,
    /// What the feed serves from: one read of the log per head.
    pub feed: Arc<FeedCache>,
    /// The key refresh-token successors are derived under (an HMAC key,
    /// shared by every replica through the database).
    pub refresh_key: Arc<ServerKey>,
    /// The key DPoP server nonces are made under (shared like the refresh key).
    pub nonce_key: Arc<crate::dpop::NonceKey>,
    /// DPoP proofs this process has accepted, each usable once.
    pub dpop_replays: Arc<crate::dpop::Replays>,
    /// The trusted upstream identity providers.
    pub upstreams: Arc<Upstreams>,
    /// Slots for upstream announcements ([`UPSTREAM_SLOTS`]).
    pub upstream_slots: Arc<tokio::sync::Semaphore>,
    /// Refused upstream announcements per client address: past the limit
    /// an address is answered 429 before any signature is checked.
    pub upstream_limit: Arc<RateLimiter>,
    keys: Arc<RwLock<Arc<Keys>>>,
}

impl AppState {
    /// One of the few slots the unauthenticated token routes do their
    /// work in (see [`UNAUTHENTICATED_SLOTS`]); 429 if none frees up in time.
    pub async fn token_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(SLOT_WAIT, self.token_slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::RateLimited { retry_after: 1 }),
        }
    }

    /// One of the few slots upstream announcements are judged in (see
    /// [`UPSTREAM_SLOTS`]); `Err` if none frees up within [`SLOT_WAIT`].
    pub async fn upstream_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ()> {
        match tokio::time::timeout(SLOT_WAIT, self.upstream_slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(()),
        }
    }

    /// Loads the signing keys (making the first if there are none) and sets
    /// everything up from `settings`.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Result<Self, StartError> {
        settings.check()?;
        let upstreams = match &settings.upstreams {
            Some(path) => Upstreams::new(crate::upstream::config::load(path, &settings.issuer)?)?,
            None => Upstreams::none(),
        };
        let ring =
            KeyRing::load_or_create(store.as_ref(), clock.now(), &settings.key_policy()).await?;
        let stored = store.upstream_keys().await?;
        let keys = Arc::new(RwLock::new(Arc::new(Self::keys_for(
            &settings, ring, &upstreams, &stored,
        )?)));
        let refresh_key =
            Arc::new(ServerKey::load(store.as_ref(), crate::auth::REFRESH_KEY).await?);
        let nonce_key = Arc::new(crate::dpop::NonceKey::load(store.as_ref()).await?);
        Ok(AppState {
            refresh_key,
            nonce_key,
            dpop_replays: Arc::default(),
            feed: Arc::new(FeedCache::new(upstreams.version_suffix())),
            upstreams: Arc::new(upstreams),
            upstream_slots: Arc::new(tokio::sync::Semaphore::new(UPSTREAM_SLOTS)),
            upstream_limit: Arc::new(RateLimiter::new(
                settings.token_failures_per_address,
                settings.rate_window_secs,
            )),
            token_slots: Arc::new(tokio::sync::Semaphore::new(UNAUTHENTICATED_SLOTS)),
            passwords: Passwords::new(&settings)?,
            account_limit: limiter_for(
                &store,
                "account",
                settings.login_limit_per_account,
                settings.rate_window_secs,
            ),
            address_limit: limiter_for(
                &store,
                "address",
                settings.login_limit_per_address,
                settings.rate_window_secs,
            ),
            token_limit: Arc::new(RateLimiter::new(
                settings.token_failures_per_address,
                settings.rate_window_secs,
            )),
            metrics: Arc::default(),
            settings: Arc::new(settings),
            store,
            clock,
            keys,
        })
    }

    fn keys_for(
        settings: &Settings,
        ring: KeyRing,
        upstreams: &Upstreams,
        stored: &[(String, String)],
    ) -> Result<Keys, KeyError> {
        let mut options = VerifierOptions::new(&settings.issuer, &settings.audience);
        options.leeway_secs = u32::try_from(settings.leeway_secs).unwrap_or(u32::MAX);
        let verifier = ring.verifier(options)?;
        // Only configured providers' keys, and only under their issuer: a
        // provider removed from the configuration is trusted no more. A
        // stored set that no longer loads (a newer, stricter verifier crate)
        // leaves that provider without keys, never the issuer without its own.
        let upstream_rules = upstreams.rules();
        let mut upstream_jwks: Vec<Jwk> = Vec::new();
        for provider in upstreams.iter() {
            let Some((_, json)) = stored
                .iter()
                .find(|(name, _)| *name == provider.config.name)
            else {
                continue;
            };
            let keys: Vec<Jwk> = serde_json::from_str::<Vec<serde_json::Value>>(json)
                .unwrap_or_default()
                .iter()
                .filter_map(|key| Jwk::from_json(&key.to_string()).ok())
                .filter(|key| key.iss.as_deref() == Some(provider.config.issuer.as_str()))
                .collect();
            let alone = Jwks {
                upstream_keys: keys.clone(),
                upstreams: vec![provider.config.rules()],
                ..Jwks::default()
            };
            match KeySet::from_jwks(&alone) {
                Ok(_) => upstream_jwks.extend(keys),
                Err(err) => {
                    tracing::warn!(upstream = %provider.config.name, error = %err, "stored upstream keys do not load; trusting none of them")
                }
            }
        }
        let upstream = KeySet::from_jwks(&Jwks {
            upstream_keys: upstream_jwks.clone(),
            upstreams: upstream_rules.clone(),
            ..Jwks::default()
        })
        .map_err(|err| KeyError::Encode(format!("stored upstream keys: {err}")))?;
        Ok(Keys {
            ring,
            verifier,
            upstream,
            upstream_jwks,
            upstream_rules,
            version_suffix: upstreams.version_suffix(),
        })
    }

    /// The keys this replica loaded last. To sign or check a token, use
    /// [`Self::current_keys`], which also notices a withdrawal made elsewhere.
    pub fn keys(&self) -> Arc<Keys> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The keys in force now: reloaded first if the database's key-set
    /// version moved (a rotation or a withdrawal by another process), so no
    /// replica signs with or trusts a withdrawn key. One indexed read.
    ///
    /// It returns the ring it checked or loaded itself, never what another
    /// task (the periodic reload) stored meanwhile, which may be older.
    pub async fn current_keys(&self) -> Result<Arc<Keys>, ApiError> {
        let version = self.store.keys_version().await?;
        let keys = self.keys();
        if keys.ring.version() == version {
            return Ok(keys);
        }
        self.reload_keys()
            .await
            .map_err(|err| ApiError::Internal(format!("reloading signing keys: {err}")))
    }

    /// Reloads the signing keys from the store (another process may have
    /// rotated them), puts them in force and returns them.
    pub async fn reload_keys(&self) -> Result<Arc<Keys>, KeyError> {
        let ring = KeyRing::load(self.store.as_ref(), self.settings.key_policy().retention).await?;
        let stored = self.store.upstream_keys().await?;
        let keys = Arc::new(Self::keys_for(
            &self.settings,
            ring,
            &self.upstreams,
            &stored,
        )?);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&keys);
        Ok(keys)
    }

    /// One round of upkeep: reload the keys and prune revocations whose
    /// `until` passed more than the largest verifier leeway ago.
    pub async fn maintain(&self) {
        if let Err(err) = self.reload_keys().await {
            tracing::warn!(error = %err, "reloading signing keys failed; keeping the loaded ones");
        }
        // As in snapshots: kept for the most leeway a verifier may allow.
        let horizon = self
            .clock
            .now()
            .saturating_sub(i64::from(tollgate_verifier::MAX_LEEWAY_SECS));
        let window = self.settings.rate_window_secs;
        if let Err(err) = self
            .store
            .limit_sweep(self.clock.now().saturating_sub(window))
            .await
        {
            tracing::warn!(error = %err, "sweeping rate-limit windows failed");
        }
        if let Err(err) = self.store.prune_events(self.clock.now()).await {
            tracing::warn!(error = %err, "pruning upstream event ids failed");
        }
        match self.store.prune_revocations(horizon).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "pruned expired revocations"),
            Err(err) => tracing::warn!(error = %err, "pruning revocations failed"),
        }
    }
}
