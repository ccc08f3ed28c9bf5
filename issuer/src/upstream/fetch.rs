//! Fetching a provider's keys: its discovery document (OpenID Connect
//! Discovery 1.0: `issuer` must be the configured one, `jwks_uri` names the
//! keys), then its JWKS, each with one deadline over headers and body and a
//! size cap. What may be republished of the JWKS is [`publishable`]'s call.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tollgate_verifier::{Algorithm, Jwk, Jwks, KeySet};

use super::config::Upstream;

/// One request's deadline, headers and body together.
pub const FETCH_DEADLINE: Duration = Duration::from_secs(5);

/// The largest discovery document or JWKS read.
pub const MAX_DOCUMENT: usize = 256 * 1024;

/// Why a fetch failed; the text is safe to log (no credentials).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed, timed out, or was answered with an error status.
    #[error("{url}: {reason}")]
    Http {
        /// What was fetched.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The document is not what the standard says it is.
    #[error("{0}")]
    Invalid(String),
}

/// What a fetch found: the keys to publish, their digest, and how long the
/// provider says they may be cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The keys, each bound to the provider's issuer.
    pub keys: Vec<Jwk>,
    /// SHA-256 of their JSON, hex: a change moves the key-set version.
    pub digest: String,
    /// `Cache-Control: max-age` of the JWKS, if it said.
    pub max_age: Option<Duration>,
}

/// The HTTP client every fetch uses: no redirects, a deadline on each
/// request. `Err` if it cannot be made (no TLS roots): the issuer does not
/// start, rather than fetch without deadlines.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(FETCH_DEADLINE)
        .connect_timeout(FETCH_DEADLINE)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tollgate-issuer/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| format!("the HTTP client for upstreams cannot be made: {err}"))
}

/// GETs `url` as JSON, at most [`MAX_DOCUMENT`] bytes; the document and its
/// `max-age`.
async fn get_json(
    client: &reqwest::Client,
    url: &str,
) -> Result<(Value, Option<Duration>), FetchError> {
    let http = |reason: String| FetchError::Http {
        url: url.to_owned(),
        reason,
    };
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|err| http(without_url(&err)))?;
    if !response.status().is_success() {
        return Err(http(format!("answered {}", response.status())));
    }
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|value| value.to_str().ok())
        .and_then(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| http(without_url(&err)))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(http(format!("the document is over {MAX_DOCUMENT} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let json = serde_json::from_slice(&body).map_err(|_| http("not JSON".into()))?;
    Ok((json, max_age))
}

/// reqwest's error text without the URL (the caller names it once).
fn without_url(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "the body failed"
    } else {
        "the request failed"
    };
    kind.to_owned()
}

/// `max-age=N` of a `Cache-Control` value.
fn max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|directive| {
        let (name, seconds) = directive.trim().split_once('=')?;
        name.eq_ignore_ascii_case("max-age")
            .then(|| seconds.trim().parse().ok().map(Duration::from_secs))
            .flatten()
    })
}

/// Discovery (unless `jwks_uri` is configured), then the JWKS, within one
/// [`FETCH_DEADLINE`] for both.
pub async fn fetch_keys(
    client: &reqwest::Client,
    upstream: &Upstream,
) -> Result<Fetched, FetchError> {
    tokio::time::timeout(FETCH_DEADLINE, fetch_keys_inner(client, upstream))
        .await
        .unwrap_or_else(|_| {
            Err(FetchError::Http {
                url: upstream.discovery_url(),
                reason: "discovery and JWKS took longer than the deadline".into(),
            })
        })
}

async fn fetch_keys_inner(
    client: &reqwest::Client,
    upstream: &Upstream,
) -> Result<Fetched, FetchError> {
    let jwks_uri = match &upstream.jwks_uri {
        Some(uri) => uri.clone(),
        None => {
            let url = upstream.discovery_url();
            let (document, _) = get_json(client, &url).await?;
            if document.get("issuer").and_then(Value::as_str) != Some(upstream.issuer.as_str()) {
                return Err(FetchError::Invalid(format!(
                    "{url}: `issuer` is not {} (OpenID Connect Discovery 1.0 §4.3)",
                    upstream.issuer
                )));
            }
            let uri = document
                .get("jwks_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| FetchError::Invalid(format!("{url}: no `jwks_uri`")))?;
            super::config::check_url(uri, "jwks_uri").map_err(FetchError::Invalid)?;
            uri.to_owned()
        }
    };
    let (jwks, max_age) = get_json(client, &jwks_uri).await?;
    let keys = publishable(upstream, &jwks);
    Ok(Fetched {
        digest: digest(&keys),
        keys,
        max_age,
    })
}

/// The keys of a provider's JWKS that may be republished, bound to its
/// issuer: each with a `kid`, for signing, of a type and algorithm its
/// configuration allows, that parses. A shared secret (`oct`) never does:
/// its JWKS is public. An RSA key without `alg` gets the one RSA algorithm
/// configured, if only one is; otherwise it is taken as RS256.
pub fn publishable(upstream: &Upstream, jwks: &Value) -> Vec<Jwk> {
    let rules = upstream.rules();
    let rsa_algs: Vec<&str> = upstream
        .algorithms
        .iter()
        .map(String::as_str)
        .filter(|alg| {
            matches!(
                Algorithm::from_name(alg),
                Some(Algorithm::Rs256 | Algorithm::Ps256)
            )
        })
        .collect();
    let mut keys: Vec<Jwk> = Vec::new();
    for key in jwks
        .get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Ok(mut jwk) = Jwk::from_json(&key.to_string()) else {
            continue;
        };
        if jwk.kty == "oct" || jwk.kid.as_deref().is_none_or(str::is_empty) {
            continue;
        }
        if keys.iter().any(|k| k.kid == jwk.kid) {
            continue;
        }
        jwk.iss = Some(upstream.issuer.clone());
        if jwk.kty == "RSA" && jwk.alg.is_none() {
            if let [only] = rsa_algs.as_slice() {
                jwk.alg = Some((*only).to_owned());
            }
        }
        let alone = Jwks {
            upstream_keys: vec![jwk.clone()],
            upstreams: vec![rules.clone()],
            ..Jwks::default()
        };
        if KeySet::from_jwks(&alone).is_ok_and(|set| set.len() == 1) {
            keys.push(jwk);
        }
    }
    keys
}

fn digest(keys: &[Jwk]) -> String {
    let json = serde_json::to_vec(keys).unwrap_or_default();
    Sha256::digest(json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upstream(algorithms: &[&str]) -> Upstream {
        let text = format!(
            "[[upstream]]\nname = \"idp\"\nissuer = \"http://127.0.0.1:4000\"\naudiences = [\"api\"]\nclient_id = \"c\"\nalgorithms = {algorithms:?}\n"
        );
        super::super::config::parse(&text, "tollgate")
            .unwrap()
            .remove(0)
    }

    const N: &str = "sXchmZPTh8d_Cx6gEjVzz0V6pCpPVTeQ1WiWu8d8nE-jHXYA-7oYBrBEe5QPUJ6OERS8bFzW6wjYQVSVeFEwcmbsjk5dZrdDcCAYPDkVWJbORA-GZbVqI0jy9T_7E6CPe6_xHLWNSUJSF8WO6G7Z1x3uPsUUy4r0GWYYs3tPiRrKBGhWVTNo_hGzLxY4jGo1T-Cd3dXV8KItpDpAbo8VIiNu9A2a4BZJbAB1AMzD3m5XwW8fTKhDjsXJiM7grIchsD3TFbBafe6lZC9fxkLuvsaspvEJdw7jj2O8kRpYRR3VMjrIAkQXjBBS0jh8qTtDLRF_Pxj4ZUvGBQhpsnpWjw";

    /// Secrets, encryption keys, keys without `kid`, and algorithms not
    /// configured are left out; the rest is bound to the issuer.
    #[test]
    fn only_signing_keys_of_allowed_algorithms_are_published() {
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "r1", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "r1", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": N, "e": "AQAB"},
            {"kty": "RSA", "n": N, "e": "AQAB"},
            {"kty": "oct", "kid": "hs", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"},
            "not a key",
        ]});
        let keys = publishable(&upstream(&["PS256"]), &jwks);
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert_eq!(keys[0].kid.as_deref(), Some("r1"));
        assert_eq!(keys[0].iss.as_deref(), Some("http://127.0.0.1:4000"));
        assert_eq!(keys[0].alg.as_deref(), Some("PS256"));
        let both = publishable(&upstream(&["RS256", "EdDSA"]), &jwks);
        let kids: Vec<_> = both.iter().map(|k| k.kid.clone().unwrap()).collect();
        assert_eq!(kids, ["r1", "ed"]);
        assert_eq!(
            both[0].alg.as_deref(),
            Some("RS256"),
            "the one RSA algorithm"
        );
        let two_rsa = publishable(&upstream(&["RS256", "PS256"]), &jwks);
        assert_eq!(
            two_rsa[0].alg, None,
            "RS256 by default, as verifiers read it"
        );
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(max_age("public, max-age=30"), Some(Duration::from_secs(30)));
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=x"), None);
    }
}
