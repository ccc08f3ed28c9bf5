//! Forwarding to the upstream, and the answers the edge gives itself.

use tollgate_verifier::{AccessClaims, Scheme, Verifier, VerifyError};
use worker::{Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response, Result};

/// Headers the edge sets; anything a client sends under this prefix is dropped.
const IDENTITY_PREFIX: &str = "x-tollgate-";

/// The access token and its scheme, where [`Verifier::credentials`] finds them.
pub fn credentials(req: &Request) -> Option<(Scheme, String)> {
    let headers = req.headers();
    let authorization = headers.get("authorization").ok().flatten();
    let cookie = headers.get("cookie").ok().flatten();
    Verifier::credentials(authorization.as_deref(), cookie.as_deref())
        .map(|(scheme, token)| (scheme, token.to_owned()))
}

/// The request's `DPoP` header values. The Fetch API joins repeated headers
/// with ", ", and a compact JWS holds no comma, so each comma-separated
/// part is one header: two headers are seen as two and refused.
pub fn proofs(req: &Request) -> Vec<String> {
    match req.headers().get("dpop").ok().flatten() {
        None => Vec::new(),
        Some(joined) => joined.split(',').map(|p| p.trim().to_owned()).collect(),
    }
}

/// Where the client's address and the edge's proof go, for the issuer's
/// per-address rate limits.
pub struct ClientProof<'a> {
    /// The edge's shared secret with the issuer.
    pub secret: &'a str,
}

/// Sends `req` on to `upstream` (same path, query, method, headers and
/// body), minus client-sent identity headers, plus the verified identity.
/// With `proof` (the upstream is the issuer and `EDGE_SECRET` is set), adds
/// `x-tollgate-client-ip` from `CF-Connecting-IP`, which Cloudflare sets and
/// a client cannot, and the secret that makes the issuer trust it.
pub async fn forward(
    mut req: Request,
    upstream: &str,
    identity: Option<&AccessClaims>,
    proof: Option<ClientProof<'_>>,
) -> Result<Response> {
    // The path and query as the client sent them. Read from the raw URL
    // rather than through the `url` crate, whose IDNA tables would be a
    // third of the worker's size.
    let raw = req.inner().url();
    let mut target = format!("{upstream}{}", req.path());
    if let Some((_, query)) = raw.split_once('?') {
        let query = query.split_once('#').map_or(query, |(query, _)| query);
        target.push('?');
        target.push_str(query);
    }
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if name.starts_with(IDENTITY_PREFIX) || name == "host" {
            continue;
        }
        headers.append(&name, &value)?;
    }
    if let Some(claims) = identity {
        headers.set("x-tollgate-sub", &claims.sub)?;
        headers.set("x-tollgate-sid", &claims.sid.to_string())?;
        headers.set("x-tollgate-roles", &claims.roles.join(","))?;
    }
    if let (Some(proof), Some(ip)) = (proof, req.headers().get("cf-connecting-ip")?) {
        headers.set("x-tollgate-client-ip", &ip)?;
        headers.set("x-tollgate-edge-secret", proof.secret)?;
    }
    let method = req.method();
    let mut init = RequestInit::new();
    init.with_method(method.clone())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        let body = req.bytes().await?;
        if !body.is_empty() {
            init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
        }
    }
    match Fetch::Request(Request::new_with_init(&target, &init)?)
        .send()
        .await
    {
        Ok(response) => Ok(response),
        Err(err) => problem(
            502,
            "upstream_unreachable",
            &format!("The upstream did not answer: {err}"),
            None,
        ),
    }
}

/// A problem+json answer (RFC 9457), with an optional `WWW-Authenticate`.
pub fn problem(status: u16, code: &str, detail: &str, challenge: Option<&str>) -> Result<Response> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": if status == 401 { "The token is not valid." } else { "The edge cannot serve this request." },
        "status": status,
        "code": code,
        "detail": detail,
    });
    let mut response = Response::from_json(&body)?.with_status(status);
    let headers = response.headers_mut();
    headers.set("content-type", "application/problem+json")?;
    headers.set("cache-control", "no-store")?;
    if let Some(challenge) = challenge {
        headers.set("www-authenticate", challenge)?;
    }
    Ok(response)
}

/// The answer for a refused token: 401 with its code, or 503 when the edge
/// cannot vouch for its revocation state.
pub fn reject(err: &VerifyError, detail: &str) -> Result<Response> {
    let code = err.code().as_str();
    if matches!(err, VerifyError::RevocationStateStale) {
        return problem(503, code, detail, None);
    }
    problem(401, code, detail, Some(&err.code().challenge()))
}
