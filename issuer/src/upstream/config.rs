//! The trusted upstream identity providers, from `--upstreams FILE`
//! (`TOLLGATE_UPSTREAMS`): TOML, one `[[upstream]]` table each. Every field
//! is documented in docs/upstream.md.
//!
//! ```toml
//! [[upstream]]
//! name = "keycloak"
//! issuer = "https://sso.example.com/realms/main"
//! audiences = ["tollgate-api"]
//! client_id = "tollgate"
//! roles_claim = "realm_access.roles"
//! ```

use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;
use tollgate_verifier::{Algorithm, UpstreamRules};

/// The upstreams file could not be used; the text says why and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--upstreams: {0}")]
pub struct UpstreamConfigError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "upstream")]
    upstreams: Vec<Upstream>,
}

/// One trusted provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// URL-safe name: `/v1/upstreams/{name}/...`.
    pub name: String,
    /// Its issuer identifier: the `iss` of its tokens, and what its
    /// discovery document must say.
    pub issuer: String,
    /// Default `{issuer}/.well-known/openid-configuration`.
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// Its JWKS, for a provider without discovery (then discovery is skipped).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Accepted `aud` values of its access tokens.
    pub audiences: Vec<String>,
    /// The client id tollgate has at the provider: the `aud` of its logout
    /// tokens and security events.
    pub client_id: String,
    /// Default `["RS256"]`; RS256, PS256, ES256, EdDSA.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Default `["at+jwt", "JWT"]`.
    #[serde(default = "default_token_types")]
    pub token_types: Vec<String>,
    /// Default `"sid"`; empty when its access tokens name no session.
    #[serde(default = "default_session_claim")]
    pub session_claim: String,
    /// A dotted path to its roles (`realm_access.roles`, `permissions`, `scope`).
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// The longest access-token lifetime it issues, seconds (default 3600).
    #[serde(default = "default_lifetime")]
    pub max_token_lifetime_secs: u32,
    /// How often its keys are fetched again, seconds: at most 60, and
    /// sooner when its `Cache-Control: max-age` says so (default 60).
    #[serde(default = "default_refresh")]
    pub refresh_secs: u32,
    /// Shared Signals Framework settings.
    #[serde(default)]
    pub ssf: Option<Ssf>,
}

/// SSF (RFC 8935 push, RFC 8936 poll) settings of one provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ssf {
    /// The provider's poll endpoint (RFC 8936); none: push only.
    #[serde(default)]
    pub poll_url: Option<String>,
    /// The bearer credential the transmitter requires of the poller.
    #[serde(default)]
    pub bearer: Option<SecretString>,
    /// The `aud` of its SETs (default the `client_id`).
    #[serde(default)]
    pub audience: Option<String>,
    /// The pause between polls that found nothing, milliseconds (default 1000).
    #[serde(default = "default_poll_interval")]
    pub poll_interval_ms: u64,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into()]
}
fn default_token_types() -> Vec<String> {
    vec!["at+jwt".into(), "JWT".into()]
}
fn default_session_claim() -> String {
    "sid".into()
}
fn default_lifetime() -> u32 {
    tollgate_verifier::DEFAULT_MAX_TOKEN_LIFETIME_SECS
}
fn default_refresh() -> u32 {
    60
}
fn default_poll_interval() -> u64 {
    1000
}

impl Upstream {
    /// The discovery document's URL.
    pub fn discovery_url(&self) -> String {
        self.discovery_url.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/openid-configuration",
                self.issuer.trim_end_matches('/')
            )
        })
    }

    /// The rules verifiers judge its tokens by, as the JWKS publishes them.
    pub fn rules(&self) -> UpstreamRules {
        UpstreamRules {
            iss: self.issuer.clone(),
            audiences: self.audiences.clone(),
            algorithms: self.algorithms.clone(),
            token_types: self.token_types.clone(),
            session_claim: Some(self.session_claim.clone()).filter(|c| !c.is_empty()),
            roles_claim: self.roles_claim.clone(),
            max_token_lifetime_secs: self.max_token_lifetime_secs,
        }
    }

    /// The `aud` its security events must carry.
    pub fn event_audience(&self) -> &str {
        self.ssf
            .as_ref()
            .and_then(|ssf| ssf.audience.as_deref())
            .unwrap_or(&self.client_id)
    }

    fn check(&self, own_issuer: &str) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err("`name` must be 1 to 64 of a-z, 0-9, - and _".into());
        }
        if self.issuer == own_issuer {
            return Err("`issuer` is tollgate's own".into());
        }
        check_url(&self.issuer, "issuer")?;
        check_url(&self.discovery_url(), "discovery_url")?;
        if let Some(jwks) = &self.jwks_uri {
            check_url(jwks, "jwks_uri")?;
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err("`audiences` must name at least one audience".into());
        }
        if self.client_id.is_empty() {
            return Err("`client_id` is empty".into());
        }
        if self.audiences.contains(&self.client_id) {
            return Err(
                "`audiences` names the `client_id`: that is the `aud` of the provider's ID tokens, \
                 which must not pass as access tokens; give your API its own audience at the provider"
                    .into(),
            );
        }
        if self.algorithms.is_empty() {
            return Err("`algorithms` is empty".into());
        }
        for alg in &self.algorithms {
            match Algorithm::from_name(alg) {
                Some(alg) if !alg.is_symmetric() => {}
                _ => {
                    return Err(format!(
                        "`algorithms`: `{alg}` is not one of RS256, PS256, ES256, EdDSA"
                    ));
                }
            }
        }
        if self.token_types.is_empty() {
            return Err("`token_types` is empty".into());
        }
        if !(60..=86_400).contains(&self.max_token_lifetime_secs) {
            return Err("`max_token_lifetime_secs` must be between 60 and 86400".into());
        }
        if !(1..=60).contains(&self.refresh_secs) {
            return Err("`refresh_secs` must be between 1 and 60".into());
        }
        if let Some(ssf) = &self.ssf {
            if let Some(url) = &ssf.poll_url {
                check_url(url, "ssf.poll_url")?;
            }
            if !(100..=60_000).contains(&ssf.poll_interval_ms) {
                return Err("`ssf.poll_interval_ms` must be between 100 and 60000".into());
            }
        }
        Ok(())
    }
}

/// `https://`, or `http://` to a loopback host (a provider on this
/// machine); never with credentials in it (`http://localhost:1@evil/`).
pub(crate) fn check_url(url: &str, field: &str) -> Result<(), String> {
    let refuse = || {
        Err(format!(
            "`{field}` must be an https:// URL (http:// only to a loopback host), without credentials"
        ))
    };
    let Ok(parsed) = url::Url::parse(url) else {
        return refuse();
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return refuse();
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => refuse(),
    }
}

/// Reads and checks the upstreams file. `own_issuer` is tollgate's `iss`,
/// which no upstream may share.
pub fn load(path: &Path, own_issuer: &str) -> Result<Vec<Upstream>, UpstreamConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| UpstreamConfigError(format!("reading {}: {err}", path.display())))?;
    parse(&text, own_issuer)
}

/// Parses and checks an upstreams file's text.
pub fn parse(text: &str, own_issuer: &str) -> Result<Vec<Upstream>, UpstreamConfigError> {
    let file: File =
        toml::from_str(text).map_err(|err| UpstreamConfigError(err.message().to_owned()))?;
    for (i, upstream) in file.upstreams.iter().enumerate() {
        upstream
            .check(own_issuer)
            .map_err(|why| UpstreamConfigError(format!("upstream `{}`: {why}", upstream.name)))?;
        let earlier = &file.upstreams[..i];
        if earlier.iter().any(|u| u.name == upstream.name) {
            return Err(UpstreamConfigError(format!(
                "two upstreams are named `{}`",
                upstream.name
            )));
        }
        if earlier.iter().any(|u| u.issuer == upstream.issuer) {
            return Err(UpstreamConfigError(format!(
                "two upstreams have issuer `{}`",
                upstream.issuer
            )));
        }
    }
    Ok(file.upstreams)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
        [[upstream]]
        name = "idp"
        issuer = "http://127.0.0.1:4000"
        audiences = ["tollgate-api"]
        client_id = "tollgate"
    "#;

    #[test]
    fn a_minimal_upstream_takes_the_defaults() {
        let upstreams = parse(ONE, "tollgate").unwrap();
        let idp = &upstreams[0];
        assert_eq!(
            idp.discovery_url(),
            "http://127.0.0.1:4000/.well-known/openid-configuration"
        );
        let rules = idp.rules();
        assert_eq!(rules.algorithms, ["RS256"]);
        assert_eq!(rules.token_types, ["at+jwt", "JWT"]);
        assert_eq!(rules.session_claim.as_deref(), Some("sid"));
        assert_eq!(rules.max_token_lifetime_secs, 3600);
        assert_eq!(idp.event_audience(), "tollgate");
    }

    #[test]
    fn mistakes_are_refused_with_what_is_wrong() {
        let cases = [
            (ONE.replace("\"idp\"", "\"Idp/x\""), "name"),
            (
                ONE.replace("http://127.0.0.1:4000", "http://idp.example.com"),
                "https",
            ),
            (ONE.replace("http://127.0.0.1:4000", "tollgate"), "own"),
            (format!("{ONE}\nalgorithms = [\"HS256\"]"), "HS256"),
            (format!("{ONE}\nalgorithms = [\"none\"]"), "none"),
            (ONE.replace("[\"tollgate-api\"]", "[]"), "audiences"),
            (format!("{ONE}\nrefresh_secs = 3600"), "refresh_secs"),
            (format!("{ONE}\nspelling_mistake = 1"), "spelling_mistake"),
            (format!("{ONE}{ONE}"), "two upstreams"),
            (
                ONE.replace("[\"tollgate-api\"]", "[\"tollgate\"]"),
                "client_id",
            ),
            (
                format!("{ONE}\njwks_uri = \"http://127.0.0.1:80@evil.example/jwks\""),
                "jwks_uri",
            ),
            (
                format!("{ONE}\njwks_uri = \"http://localhost.evil.example/jwks\""),
                "jwks_uri",
            ),
            (
                format!("{ONE}\njwks_uri = \"https://user:pw@idp.example/jwks\""),
                "jwks_uri",
            ),
        ];
        for (text, says) in cases {
            let err = parse(&text, "tollgate").unwrap_err();
            assert!(err.0.contains(says), "{err} should say {says}");
        }
    }
}
