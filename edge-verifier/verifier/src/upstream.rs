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

use serde::Serialize;

use crate::algorithm::Algorithm;
use crate::error::KeyError;
use crate::json::{self, Kind, Reader};
use crate::media_type::is_type;

/// At most this many roles are taken from a token.
pub const MAX_ROLES: usize = 64;

/// At most this many bytes in a role; a longer one is left out.
pub const MAX_ROLE_LEN: usize = 128;

/// One upstream issuer's rules, as published (snake_case members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamRules {
    /// The provider's issuer identifier: a token's `iss` picks these rules.
    pub iss: String,
    /// The `aud` values its access tokens may carry for this API; one must match.
    pub audiences: Vec<String>,
    /// The JOSE algorithms accepted (default `["RS256"]`). Names this
    /// build does not know, and `HS256` (a public JWKS cannot hold a
    /// secret), are left out.
    pub algorithms: Vec<String>,
    /// The accepted `typ` header values (default `["at+jwt", "JWT"]`); a
    /// token without `typ` passes only if `JWT` is among them (RFC 7519
    /// §5.1 makes it optional).
    pub token_types: Vec<String>,
    /// The claim that names the token's session (`sid`); none when the
    /// provider's access tokens carry no session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_claim: Option<String>,
    /// Where the roles are: a dotted path (`realm_access.roles`) to an
    /// array of strings or a space-separated string (`scope`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles_claim: Option<String>,
    /// The longest an access token of it lives (`exp - iat`, default
    /// 3600). A revocation of its subject is kept this long past its
    /// cut-off, so a token that claims to live longer is refused: once the
    /// entry went, it would come back to life.
    pub max_token_lifetime_secs: u32,
}

/// The default of [`UpstreamRules::max_token_lifetime_secs`].
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECS: u32 = 3600;

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

    /// Reads one entry of a JWKS's `upstreams`: `iss` and `audiences`
    /// required, every other member its default when absent.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, json::Error> {
        const NAMES: [&str; 7] = [
            "iss",
            "audiences",
            "algorithms",
            "token_types",
            "session_claim",
            "roles_claim",
            "max_token_lifetime_secs",
        ];
        let mut iss = None;
        let mut audiences = None;
        let mut rules = UpstreamRules::new("", "");
        r.members(&NAMES, &mut |r, member| {
            match member {
                0 => iss = Some(r.string()?),
                1 => audiences = Some(r.strings()?),
                2 => rules.algorithms = r.strings()?,
                3 => rules.token_types = r.strings()?,
                4 => rules.session_claim = r.opt_string()?,
                5 => rules.roles_claim = r.opt_string()?,
                _ => {
                    let at = r.fail("`max_token_lifetime_secs` is not a u32");
                    rules.max_token_lifetime_secs = u32::try_from(r.uint()?).map_err(|_| at)?;
                }
            }
            Ok(())
        })?;
        rules.iss = iss.ok_or_else(|| r.fail("an upstream has no `iss`"))?;
        rules.audiences = audiences.ok_or_else(|| r.fail("an upstream has no `audiences`"))?;
        Ok(rules)
    }
}

/// The rules, resolved for use.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    rules: UpstreamRules,
    algorithms: Vec<Algorithm>,
}

/// What a token of an upstream names beyond the registered claims.
#[derive(Default)]
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

    /// Takes what the payload's member `name` (its JSON text `value`)
    /// names under these rules: the session, roles and e-mail. A claim of
    /// an unexpected JSON type counts as absent (a provider's other claims
    /// are its business); of a name given twice, the last counts.
    pub(crate) fn take(&self, name: &str, value: &[u8], named: &mut Named) {
        if self.has_session_claim() && self.rules.session_claim.as_deref() == Some(name) {
            named.sid = string(value);
        }
        if name == "email" {
            named.email = string(value);
        }
        if let Some(path) = self.rules.roles_claim.as_deref() {
            let (first, rest) = match path.split_once('.') {
                Some((first, rest)) => (first, Some(rest)),
                None => (path, None),
            };
            if first == name {
                named.roles = match rest {
                    Some(rest) => lookup(value, rest),
                    None => Some(value),
                }
                .map(roles_of)
                .unwrap_or_default();
            }
        }
    }
}

/// A JSON text that is a string, as one.
fn string(value: &[u8]) -> Option<String> {
    Reader::document(value, Reader::string).ok()
}

/// The JSON text at a dotted path of objects inside `value`; of a member
/// given twice, the last.
fn lookup<'a>(value: &'a [u8], path: &str) -> Option<&'a [u8]> {
    path.split('.').try_fold(value, |value, member| {
        let mut found = None;
        Reader::document(value, |r| {
            if r.kind()? != Kind::Object {
                return Err(r.fail("not an object"));
            }
            r.object(&mut |r, name| {
                let inner = r.skip()?;
                if name == member {
                    found = Some(inner);
                }
                Ok(())
            })
        })
        .ok()?;
        found
    })
}

/// Roles from an array of strings (other elements left out) or a
/// space-separated string, each safe to pass on in a comma-separated
/// header (visible ASCII, no comma).
fn roles_of(value: &[u8]) -> Vec<String> {
    let usable = |role: &&str| {
        !role.is_empty()
            && role.len() <= MAX_ROLE_LEN
            && role.bytes().all(|b| b.is_ascii_graphic() && b != b',')
    };
    let mut roles = Vec::new();
    let _ = Reader::document(value, |r| match r.kind()? {
        Kind::Array => r.array(&mut |r| {
            if r.kind()? == Kind::String {
                let role = r.str()?;
                if usable(&role.as_ref()) && roles.len() < MAX_ROLES {
                    roles.push(role.into_owned());
                }
            } else {
                r.skip()?;
            }
            Ok(())
        }),
        Kind::String => {
            let text = r.str()?;
            roles.extend(
                text.split_ascii_whitespace()
                    .filter(usable)
                    .take(MAX_ROLES)
                    .map(str::to_owned),
            );
            Ok(())
        }
        _ => r.skip().map(drop),
    });
    roles
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

    impl Upstream {
        /// What a whole payload names, member by member.
        fn named(&self, payload: &[u8]) -> Named {
            let mut named = Named::default();
            Reader::document(payload, |r| {
                r.object(&mut |r, name| {
                    let value = r.skip()?;
                    self.take(name, value, &mut named);
                    Ok(())
                })
            })
            .unwrap();
            named
        }
    }

    /// Keycloak's shape: `sid` and `realm_access.roles`.
    #[test]
    fn reads_a_nested_roles_path_and_the_session_claim() {
        let named = upstream(Some("sid"), Some("realm_access.roles")).named(
            json!({
                "sid": "a1b2", "realm_access": {"roles": ["admin", "user", 7, "has,comma"]}
            })
            .to_string()
            .as_bytes(),
        );
        assert_eq!(named.sid.as_deref(), Some("a1b2"));
        assert_eq!(named.roles, ["admin", "user"]);
    }

    /// Of a provider's claim given twice, the last counts, at every level
    /// of the path; a claim of another type counts as absent.
    #[test]
    fn the_last_of_a_repeated_claim_counts() {
        let upstream = upstream(Some("sid"), Some("realm_access.roles"));
        let payload = br#"{"sid":"first","sid":"second","email":7,
            "realm_access":{"roles":["a"]},"realm_access":{"roles":["b"],"roles":["c"]}}"#;
        let named = upstream.named(payload);
        assert_eq!(named.sid.as_deref(), Some("second"));
        assert_eq!(named.email, None);
        assert_eq!(named.roles, ["c"]);
    }

    /// `scope` is a space-separated string.
    #[test]
    fn reads_roles_from_a_space_separated_string() {
        let named = upstream(None, Some("scope")).named(
            json!({
                "sid": "ignored without a session claim", "scope": "openid  read:todos"
            })
            .to_string()
            .as_bytes(),
        );
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
