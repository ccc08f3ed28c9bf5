//! What an HTTP request presents to a verifier, read the same way by every
//! adapter: the token and its scheme from `Authorization` (or the
//! `access_token` cookie), the `DPoP` header values, and the URL the client
//! addressed (for the proof's `htu`). Adapters hand over raw header values;
//! nothing else splits `Authorization` or a joined `DPoP` header.

/// The authorization scheme a token came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750), or the `access_token` cookie.
    Bearer,
    /// `Authorization: DPoP` (RFC 9449): a proof must come with it.
    Dpop,
}

/// The raw parts of a request that a verifier reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestParts<'a> {
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The `Cookie` header, if any.
    pub cookie: Option<&'a str>,
    /// Every `DPoP` header value: one entry per header, or one entry with
    /// the values joined by `,` as the Fetch API joins them (a compact JWS
    /// holds no comma, so each part is one header).
    pub dpop: &'a [&'a str],
    /// The request method.
    pub method: &'a str,
    /// The URL the client addressed, as it saw it (the public one).
    pub url: &'a str,
}

impl RequestParts<'_> {
    /// The request a verifier checks, or `None` when it carries no token
    /// at all (answer [`Refusal::missing_token`](crate::Refusal::missing_token)).
    pub fn request(&self) -> Option<Request> {
        let (scheme, token) = credentials(self.authorization, self.cookie)?;
        Some(Request {
            scheme,
            token: token.to_owned(),
            proofs: proof_values(self.dpop),
            method: self.method.to_owned(),
            url: self.url.to_owned(),
        })
    }

    /// Whether the request carries a `DPoP` header: a client that speaks
    /// DPoP, which a refusal's challenge should answer in kind.
    pub fn has_proof(&self) -> bool {
        self.dpop.iter().any(|value| !value.trim().is_empty())
    }
}

/// What a request presents, owned, for a verification that may wait (on a
/// sync, on the platform's crypto): the token, how it came, its DPoP proofs,
/// and the method and URL they must name. `Debug` shows neither the token
/// nor the proofs.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// How the token came.
    pub scheme: Scheme,
    /// The access token.
    pub token: String,
    /// Every `DPoP` header value (exactly one is required with the DPoP scheme).
    pub proofs: Vec<String>,
    /// The request method.
    pub method: String,
    /// The URL the client addressed, as it saw it (the public one).
    pub url: String,
}

impl Request {
    /// A token presented as Bearer, with no proof and no request around it.
    pub fn bearer(token: impl Into<String>) -> Self {
        Request {
            scheme: Scheme::Bearer,
            token: token.into(),
            proofs: Vec::new(),
            method: String::new(),
            url: String::new(),
        }
    }
}

impl core::fmt::Debug for Request {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Request")
            .field("scheme", &self.scheme)
            .field("proofs", &self.proofs.len())
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Where a token travels in a request, and with which scheme:
/// `Authorization: Bearer <token>` or `Authorization: DPoP <token>`, else
/// the `access_token` cookie (as Bearer, for pages that cannot set
/// headers). An `Authorization` header with another scheme means no token.
///
/// ```
/// use tollgate_verifier::{Scheme, credentials};
/// assert_eq!(credentials(Some("DPoP abc"), None), Some((Scheme::Dpop, "abc")));
/// assert_eq!(credentials(None, Some("a=1; access_token=xyz")), Some((Scheme::Bearer, "xyz")));
/// assert_eq!(credentials(Some("Basic dXNlcg=="), Some("access_token=xyz")), None);
/// ```
pub fn credentials<'a>(
    authorization: Option<&'a str>,
    cookie: Option<&'a str>,
) -> Option<(Scheme, &'a str)> {
    if let Some(value) = authorization {
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some((Scheme::Bearer, token));
        }
        return scheme
            .eq_ignore_ascii_case("dpop")
            .then_some((Scheme::Dpop, token));
    }
    cookie?.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == "access_token").then_some((Scheme::Bearer, value))
    })
}

/// The proofs in `DPoP` header values, one per header; values joined with
/// `,` (the Fetch API's way with a repeated header) are split, so two
/// headers are seen as two and refused. A value that is not text still
/// counts (pass it as an empty string).
pub fn proof_values(values: &[&str]) -> Vec<String> {
    values
        .iter()
        .flat_map(|value| value.split(','))
        .map(|proof| proof.trim().to_owned())
        .collect()
}

/// Whether a `Host` header (or URI authority) is safe to build a URL from:
/// a name or address and an optional port, nothing that could add a path,
/// a query or user info to the URL a proof is checked against.
pub fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// The URL to check a request's DPoP proof against, for a service clients
/// reach at one or more public origins (`https://api.example.com`, the
/// edge's, ...): the origin plus `path` that the proof's `htu` names if it
/// names one of them, else the first. The proof is then checked against it,
/// so a proof naming any other URL still fails. With no proof, or no
/// origin, the URL is empty (and a proof is refused).
pub fn proof_url<S: AsRef<str>>(proofs: &[String], origins: &[S], path: &str) -> String {
    let Some(proof) = proofs.first() else {
        return String::new();
    };
    crate::dpop::choose_url(proof, origins, path)
}

/// The origins a service without configured public URLs is reached at:
/// `http://` and `https://` with the request's `Host`, if it is a plain
/// host ([`is_host`]); none otherwise.
pub fn host_origins(host: Option<&str>) -> Vec<String> {
    host.filter(|host| is_host(host))
        .map(|host| vec![format!("http://{host}"), format!("https://{host}")])
        .unwrap_or_default()
}
