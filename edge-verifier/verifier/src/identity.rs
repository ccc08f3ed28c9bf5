//! The identity headers an edge passes to the origin with a verified
//! request: `x-tollgate-iss`, `-sub`, `-sid` (when the token names a
//! session) and `-roles` (comma-separated). The edge drops every client
//! header of that family first ([`is_identity_header`]), so the origin can
//! trust them.
//!
//! An upstream's `sub` or `sid` may hold bytes a header cannot carry, so a
//! value's bytes outside visible ASCII, and `%` itself, are percent-encoded
//! (RFC 3986 §2.1); tollgate's own UUIDs and roles pass unchanged.

use crate::claims::AccessClaims;

/// The headers for `claims`, in order.
///
/// ```
/// use tollgate_verifier::{AccessClaims, Audience, identity_headers};
/// let claims = AccessClaims {
///     iss: "https://idp.example".into(), sub: "ada lovelace|1".into(),
///     aud: Audience::One("api".into()), iat: 0, exp: 1, nbf: None,
///     jti: None, sid: None, roles: vec!["a".into(), "b".into()], email: None, cnf: None,
/// };
/// let headers = identity_headers(&claims);
/// assert_eq!(headers[1], ("x-tollgate-sub", "ada%20lovelace|1".to_owned()));
/// assert_eq!(headers.len(), 3); // no session
/// assert_eq!(headers[2], ("x-tollgate-roles", "a,b".to_owned()));
/// ```
pub fn identity_headers(claims: &AccessClaims) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("x-tollgate-iss", encode(&claims.iss)),
        ("x-tollgate-sub", encode(&claims.sub)),
    ];
    if let Some(sid) = &claims.sid {
        headers.push(("x-tollgate-sid", encode(sid)));
    }
    let roles: Vec<String> = claims.roles.iter().map(|role| encode(role)).collect();
    headers.push(("x-tollgate-roles", roles.join(",")));
    headers
}

/// Whether a client's header is one of the edge's: its name, with `_` read
/// as `-` (CGI, WSGI, Rack and PHP read `x_tollgate_sub` as
/// `x-tollgate-sub`), starts with `x-tollgate-`, in any case.
pub fn is_identity_header(name: &str) -> bool {
    const PREFIX: &[u8] = b"x-tollgate-";
    name.len() >= PREFIX.len()
        && name.as_bytes()[..PREFIX.len()]
            .iter()
            .zip(PREFIX)
            .all(|(&byte, &want)| {
                let byte = if byte == b'_' {
                    b'-'
                } else {
                    byte.to_ascii_lowercase()
                };
                byte == want
            })
}

fn encode(value: &str) -> String {
    crate::percent::encode(value, |byte| {
        byte.is_ascii_graphic() && byte != b'%' && byte != b','
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_header_names_in_every_spelling() {
        for name in [
            "x-tollgate-sub",
            "X-Tollgate-Roles",
            "x_tollgate_sid",
            "X_TOLLGATE-ISS",
            "x-tollgate-",
        ] {
            assert!(is_identity_header(name), "{name}");
        }
        for name in [
            "x-tollgate",
            "x-tollgatesub",
            "tollgate-sub",
            "x-forwarded-for",
            "",
        ] {
            assert!(!is_identity_header(name), "{name}");
        }
    }

    #[test]
    fn values_are_encoded_only_where_they_must_be() {
        assert_eq!(
            encode("6c9a1b0e-3c0f-4d4e-9a57-0f7f8f2c1d11"),
            "6c9a1b0e-3c0f-4d4e-9a57-0f7f8f2c1d11"
        );
        assert_eq!(encode("auth0|5f7c"), "auth0|5f7c");
        assert_eq!(encode("a b%c,d\r\né"), "a%20b%25c%2Cd%0D%0A%C3%A9");
    }
}
