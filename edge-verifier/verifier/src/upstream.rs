//! The rules for tokens of an upstream identity provider (Keycloak, Auth0,
//! Okta, `oidc-provider`...), which the tollgate issuer trusts and
//! publishes in its JWKS (member `upstreams`) beside the provider's keys.
//!
//! Providers differ in what their access tokens look like: the `typ` (RFC
//! 9068's `at+jwt`, or plain `JWT`), the claim that names a session (`sid`
//! in Keycloak's, none in many), where roles are (`realm_access.roles`,
//! `permissions`, `roles`, a space-separated `scope`). The issuer's
//! configuration says so per provider and every verifier reads it here, so
//! one file decides what an upstream token must be.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::algorithm::Algorithm;
use crate::error::KeyError;
use crate::media_type::is_type;

/// At most this many roles are taken from a token.
pub const MAX_ROLES: usize = 64;

/// At most this many bytes in a role; a longer one is left out.
pub const MAX_ROLE_LEN: usize = 128;

/// One upstream issuer's rules, as published (snake_case members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamRules {
    /// The provider's issuer identifier: a token's `iss` picks these rules.
    pub iss: String,
    /// The `aud` values its access tokens may carry for this API; one must match.
    pub audiences: Vec<String>,
    /// The JOSE algorithms accepted (default `["RS256"]`). Names this
    /// build does not know, and `HS256` (a public JWKS cannot hold a
    /// secret), are left out.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// The accepted `typ` header values (default `["at+jwt", "JWT"]`); a
    /// token without `typ` passes only if `JWT` is among them (RFC 7519
    /// §5.1 makes it optional).
    #[serde(default = "default_token_types")]
    pub token_types: Vec<String>,
    /// The claim that names the token's session (`sid`); none when the
    /// provider's access tokens carry no session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_claim: Option<String>,
    /// Where the roles are: a dotted path (`realm_access.roles`) to an
    /// array of strings or a space-separated string (`scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_claim: Option<String>,
    /// The longest an access token of it lives (`exp - iat`, default
    /// 3600). A revocation of its subject is kept this long past its
    /// cut-off, so a token that claims to live longer is refused: once the
    /// entry went, it would come back to life.
    #[serde(default = "default_lifetime")]
    pub max_token_lifetime_secs: u32,
}

/// The default of [`UpstreamRules::max_token_lifetime_secs`].
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECS: u32 = 3600;

fn default_lifetime() -> u32 {
    DEFAULT_MAX_TOKEN_LIFETIME_SECS
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".to_owned()]
}

fn default_token_types() -> Vec<String> {
    vec!["at+jwt".to_owned(), "JWT".to_owned()]
}

impl UpstreamRules {
    /// Rules for `iss` with one audience and the defaults.
    pub fn new(iss: impl Into<String>, audience: impl Into<String>) -> Self {
        UpstreamRules {
            iss: iss.into(),
            audiences: vec![audience.into()],
            algorithms: default_algorithms(),
            token_types: default_token_types(),
            session_claim: None,
            roles_claim: None,
            max_token_lifetime_secs: DEFAULT_MAX_TOKEN_LIFETIME_SECS,
        }
    }
}

/// The rules, resolved for use.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    rules: UpstreamRules,
    algorithms: Vec<Algorithm>,
}

/// What a token of an upstream names beyond the registered claims.
pub(crate) struct Named {
    pub(crate) sid: Option<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) email: Option<String>,
}

impl Upstream {
    pub(crate) fn new(rules: UpstreamRules) -> Result<Self, KeyError> {
        let invalid = |reason| KeyError::InvalidUpstream {
            iss: rules.iss.clone(),
            reason,
        };
        if rules.iss.is_empty() {
            return Err(invalid("`iss` is empty"));
        }
        if rules.audiences.is_empty() {
            return Err(invalid("no audience is accepted"));
        }
        if rules.token_types.is_empty() {
            return Err(invalid("no token type is accepted"));
        }
        let algorithms = rules
            .algorithms
            .iter()
            .filter_map(|name| Algorithm::from_name(name))
            .filter(|alg| !alg.is_symmetric())
            .collect();
        Ok(Upstream { rules, algorithms })
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.rules.iss
    }

    #[cfg(feature = "native")]
    pub(crate) fn rules(&self) -> &UpstreamRules {
        &self.rules
    }

    /// Whether a token issued at `iat` and expiring at `exp` lives no
    /// longer than the provider's tokens may.
    pub(crate) fn accepts_lifetime(&self, iat: i64, exp: i64) -> bool {
        exp.saturating_sub(iat) <= i64::from(self.rules.max_token_lifetime_secs)
    }

    /// Whether its access tokens name their session (a session claim is set).
    pub(crate) fn has_session_claim(&self) -> bool {
        self.rules
            .session_claim
            .as_deref()
            .is_some_and(|claim| !claim.is_empty())
    }

    /// Whether its tokens may be signed with `alg`.
    pub(crate) fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }

    /// Whether a token with this `typ` header (or none) is an access token of it.
    pub(crate) fn accepts_type(&self, typ: Option<&str>) -> bool {
        let types = &self.rules.token_types;
        match typ {
            Some(typ) => types.iter().any(|t| is_type(typ, t)),
            None => types.iter().any(|t| t.eq_ignore_ascii_case("JWT")),
        }
    }

    /// Whether `aud` is one of the accepted audiences.
    pub(crate) fn accepts_audience(&self, aud: &crate::audience::Audience) -> bool {
        self.rules.audiences.iter().any(|a| aud.contains(a))
    }

    /// The session, roles and e-mail a token's payload names under these rules.
    /// A claim of an unexpected JSON type counts as absent: a provider's
    /// other claims are its business.
    pub(crate) fn named(&self, payload: &Value) -> Named {
        let sid = self
            .rules
            .session_claim
            .as_deref()
            .filter(|name| !name.is_empty())
            .and_then(|name| payload.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let roles = self
            .rules
            .roles_claim
            .as_deref()
            .and_then(|path| lookup(payload, path))
            .map(roles_of)
            .unwrap_or_default();
        let email = payload
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Named { sid, roles, email }
    }
}

/// The value at a dotted path of objects.
fn lookup<'a>(payload: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(payload, |value, member| value.get(member))
}

/// Roles from an array of strings or a space-separated string, each safe
/// to pass on in a comma-separated header (visible ASCII, no comma).
fn roles_of(value: &Value) -> Vec<String> {
    let usable = |role: &&str| {
        !role.is_empty()
            && role.len() <= MAX_ROLE_LEN
            && role.bytes().all(|b| b.is_ascii_graphic() && b != b',')
    };
    let roles: Vec<&str> = match value {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        Value::String(text) => text.split_ascii_whitespace().collect(),
        _ => Vec::new(),
    };
    roles
        .into_iter()
        .filter(usable)
        .take(MAX_ROLES)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upstream(session: Option<&str>, roles: Option<&str>) -> Upstream {
        let mut rules = UpstreamRules::new("https://idp.example", "api");
        rules.session_claim = session.map(str::to_owned);
        rules.roles_claim = roles.map(str::to_owned);
        Upstream::new(rules).unwrap()
    }

    /// Keycloak's shape: `sid` and `realm_access.roles`.
    #[test]
    fn reads_a_nested_roles_path_and_the_session_claim() {
        let named = upstream(Some("sid"), Some("realm_access.roles")).named(&json!({
            "sid": "a1b2", "realm_access": {"roles": ["admin", "user", 7, "has,comma"]}
        }));
        assert_eq!(named.sid.as_deref(), Some("a1b2"));
        assert_eq!(named.roles, ["admin", "user"]);
    }

    /// `scope` is a space-separated string.
    #[test]
    fn reads_roles_from_a_space_separated_string() {
        let named = upstream(None, Some("scope")).named(&json!({
            "sid": "ignored without a session claim", "scope": "openid  read:todos"
        }));
        assert_eq!(named.sid, None);
        assert_eq!(named.roles, ["openid", "read:todos"]);
    }

    /// No `typ` is plain JWT; HS256 is never an upstream's algorithm.
    #[test]
    fn types_and_algorithms() {
        let mut rules = UpstreamRules::new("https://idp.example", "api");
        rules.algorithms = vec![
            "RS256".into(),
            "HS256".into(),
            "none".into(),
            "PS256".into(),
        ];
        rules.token_types = vec!["at+jwt".into()];
        let upstream = Upstream::new(rules).unwrap();
        assert!(upstream.allows(Algorithm::Rs256) && upstream.allows(Algorithm::Ps256));
        assert!(!upstream.allows(Algorithm::Hs256));
        assert!(upstream.accepts_type(Some("application/AT+JWT")));
        assert!(!upstream.accepts_type(Some("JWT")));
        assert!(!upstream.accepts_type(None));
        assert!(Upstream::new(UpstreamRules::new("", "api")).is_err());
    }
}
