//! DPoP at the issuer (RFC 9449): proofs at the token routes, server nonces,
//! and the URL a proof must name. The proof itself is judged by the verifier
//! crate, as everywhere else; this module only gathers what it needs from
//! the request.

use crate::secret::ServerKey;
use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderValue, header};
use base64ct::{Base64UrlUnpadded, Encoding};
use tollgate_verifier::VerifyError;
use tollgate_verifier::dpop::{self, Proof, ProofRequest, ReplayCache};

use crate::AppState;
use crate::error::ApiError;
use crate::store::{KeyStore, StoreError};

use crate::headers;

/// How long a server nonce is good for: it is accepted in the window it was
/// made in and the next one, so 60 to 120 s.
const NONCE_WINDOW_SECS: i64 = 60;

/// Server nonces without server state: a nonce is a time window and an
/// HMAC of it under a key every replica shares through the database, so
/// any replica accepts any replica's nonce and nothing is stored per client.
#[derive(Debug)]
pub struct NonceKey(ServerKey);

/// The name the nonce key is stored under.
pub const NONCE_KEY: &str = "dpop_nonce_key";

impl NonceKey {
    /// The key every replica shares, made by whichever starts first.
    pub async fn load(store: &dyn KeyStore) -> Result<Self, StoreError> {
        ServerKey::load(store, NONCE_KEY).await.map(NonceKey)
    }

    fn mac(&self, window: i64) -> [u8; 16] {
        let full = self.0.mac(&[b"tollgate dpop nonce", &window.to_be_bytes()]);
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&full[..16]);
        tag
    }

    /// A nonce for now.
    pub fn issue(&self, now: i64) -> String {
        let window = now.div_euclid(NONCE_WINDOW_SECS);
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&window.to_be_bytes());
        bytes[8..].copy_from_slice(&self.mac(window));
        Base64UrlUnpadded::encode_string(&bytes)
    }

    /// Whether `nonce` is one of ours from this window or the one before.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let mut bytes = [0u8; 24];
        let Ok(decoded) = Base64UrlUnpadded::decode(nonce, &mut bytes) else {
            return false;
        };
        if decoded.len() != 24 {
            return false;
        }
        let mut window = [0u8; 8];
        window.copy_from_slice(&bytes[..8]);
        let window = i64::from_be_bytes(window);
        let current = now.div_euclid(NONCE_WINDOW_SECS);
        if window != current && window != current - 1 {
            return false;
        }
        use subtle::ConstantTimeEq;
        bool::from(self.mac(window).ct_eq(&bytes[8..]))
    }
}

/// Proofs seen by this process, so each is used once here (per replica:
/// with several replicas, the nonce and the `iat` window bound a replay to
/// another replica; docs/dpop.md says so).
#[derive(Debug, Default)]
pub struct Replays(Mutex<ReplayCache>);

impl Replays {
    fn first_use(&self, proof: &Proof, now: i64) -> Result<(), VerifyError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .first_use(proof, now)
    }

    /// The cache itself, for a check that verifies token and proof together.
    pub fn with<T>(&self, f: impl FnOnce(&mut ReplayCache) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Every `DPoP` header value of a request; one that is not text counts as
/// a value, so it is refused rather than skipped.
pub fn proof_headers(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(headers::DPOP)
        .iter()
        .map(|value| value.to_str().unwrap_or(""))
        .collect()
}

/// The URL a proof for `path` must name: one of `--public-url` (or, without
/// any, the request's own host) plus the path. The proof's own `htu` picks
/// among them; the verifier crate then checks the proof against the one
/// picked, so a proof naming anything else fails.
pub fn expected_url(
    state: &AppState,
    authority: Option<&str>,
    headers: &HeaderMap,
    path: &str,
    proof: &str,
) -> String {
    if state.settings.public_url.is_empty() {
        let host = request_host(authority, headers);
        let origins = [format!("http://{host}"), format!("https://{host}")];
        dpop::choose_url(proof, &origins, path)
    } else {
        dpop::choose_url(proof, &state.settings.public_url, path)
    }
}

/// The host the request names (the URI's authority for HTTP/2, else the
/// `Host` header), if it is a plain `host[:port]`. Anything else (a `/`, an
/// `@`, a space) could make the URL a proof is checked against something
/// other than a URL of this server, so it becomes a host no proof names.
pub fn request_host(authority: Option<&str>, headers: &HeaderMap) -> String {
    let host = authority.or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()));
    match host {
        Some(host) if tollgate_verifier::is_host(host) => host.to_owned(),
        _ => "invalid.invalid".to_owned(),
    }
}

/// The proof at a token route (login, refresh), checked, or `None` if the
/// request has none. Nonces are asked for when `--dpop-nonce` is on. It is
/// not yet recorded as used: [`record`] does that once the credentials
/// passed, so proofs around garbage credentials cannot fill the cache.
pub fn token_route_proof(
    state: &AppState,
    authority: Option<&str>,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<Proof>, ApiError> {
    let proofs = proof_headers(headers);
    let proof = match proofs.as_slice() {
        [] => return Ok(None),
        [proof] => *proof,
        _ => return Err(ApiError::InvalidDpopProof("more than one DPoP proof")),
    };
    let now = state.clock.now();
    let url = expected_url(state, authority, headers, path, proof);
    let accepts = |nonce: &str| state.nonce_key.accepts(nonce, now);
    let request = ProofRequest {
        leeway_secs: u32::try_from(state.settings.leeway_secs).unwrap_or(0),
        nonce: state
            .settings
            .dpop_nonce
            .then_some(&accepts as &dyn Fn(&str) -> bool),
        ..ProofRequest::new("POST", &url)
    };
    let proof = dpop::verify_proof(proof, &request, now).map_err(|err| from_verify(state, err))?;
    Ok(Some(proof))
}

/// Records a token route's proof as used, once its credentials passed; a
/// replayed one is refused.
pub fn record(state: &AppState, proof: Option<&Proof>) -> Result<(), ApiError> {
    match proof {
        None => Ok(()),
        Some(proof) => state
            .dpop_replays
            .first_use(proof, state.clock.now())
            .map_err(|err| from_verify(state, err)),
    }
}

/// A verifier refusal of a proof at a token route, as the API answers it.
pub fn from_verify(state: &AppState, err: VerifyError) -> ApiError {
    match err {
        VerifyError::UseDpopNonce => ApiError::UseDpopNonce {
            nonce: state.nonce_key.issue(state.clock.now()),
        },
        VerifyError::InvalidDpopProof(what) => ApiError::InvalidDpopProof(what),
        other => ApiError::InvalidToken(other.code()),
    }
}

/// Adds a fresh `DPoP-Nonce` to a response's headers when nonces are on
/// (RFC 9449 §8.2: a server may hand out the next nonce on any answer).
pub fn add_nonce(state: &AppState, headers: &mut HeaderMap) {
    if state.settings.dpop_nonce {
        if let Ok(value) = HeaderValue::from_str(&state.nonce_key.issue(state.clock.now())) {
            headers.insert(headers::DPOP_NONCE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_last_one_to_two_windows_and_cannot_be_forged() {
        let key = NonceKey(ServerKey::from_bytes([7; 32]));
        let nonce = key.issue(1_000);
        assert!(key.accepts(&nonce, 1_000));
        assert!(key.accepts(&nonce, 1_000 + NONCE_WINDOW_SECS));
        assert!(!key.accepts(&nonce, 1_000 + 2 * NONCE_WINDOW_SECS));
        assert!(!NonceKey(ServerKey::from_bytes([8; 32])).accepts(&nonce, 1_000));
        assert!(!key.accepts("not a nonce", 1_000));
        let mut forged = nonce.into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert!(!key.accepts(std::str::from_utf8(&forged).unwrap_or(""), 1_000));
    }
}
