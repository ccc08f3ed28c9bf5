//! Forwarding to the upstream, and the answers the edge gives itself.

use tollgate_verifier::{
    AccessClaims, Refusal, RequestParts, identity_headers, is_identity_header, path, problem_json,
};
use worker::{Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response, Result};

/// Whether `value` equals `secret`, in time that depends only on the
/// length: the status token must not be guessable byte by byte.
fn same_secret(value: &str, secret: &str) -> bool {
    value.len() == secret.len()
        && value
            .bytes()
            .zip(secret.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// What the request presents to the verifier: the raw header values the
/// verifier crate reads, and the URL the client addressed (its proof names
/// it). `None` for the token when there is none; the flag says whether a
/// DPoP proof came anyway.
pub fn presented(req: &Request) -> (Option<tollgate_verifier::Request>, bool) {
    let headers = req.headers();
    let get = |name: &str| headers.get(name).ok().flatten();
    let (authorization, cookie, dpop) = (get("authorization"), get("cookie"), get("dpop"));
    let dpop: Vec<&str> = dpop.as_deref().into_iter().collect();
    let method = req.inner().method();
    let url = req.inner().url();
    let parts = RequestParts {
        authorization: authorization.as_deref(),
        cookie: cookie.as_deref(),
        dpop: &dpop,
        method: &method,
        url: &url,
    };
    (parts.request(), parts.has_proof())
}

/// Whether the request may see the syncer's details on the status page:
/// it carries `Authorization: Bearer <STATUS_TOKEN>`.
pub fn may_see_status(req: &Request, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return false;
    };
    req.headers()
        .get("authorization")
        .ok()
        .flatten()
        .and_then(|value| value.strip_prefix("Bearer ").map(str::to_owned))
        .is_some_and(|value| same_secret(value.trim(), token))
}

/// Where the client's address and the edge's proof go, for the issuer's
/// per-address rate limits.
pub struct ClientProof<'a> {
    /// The edge's shared secret with the issuer.
    pub secret: &'a str,
    /// The header the runtime puts the client's address in.
    pub header: &'a str,
}

/// Sends `req` on to `upstream` at `path` (normalized, with the request's
/// query), same method, headers and body, minus client-sent identity
/// headers, plus the verified identity. With `proof` (the upstream is the
/// issuer, `EDGE_SECRET` and `CLIENT_IP_HEADER` are set), adds
/// `x-tollgate-client-ip` from that header and the secret that makes the
/// issuer trust it.
pub async fn forward(
    mut req: Request,
    upstream: &str,
    path: &str,
    identity: Option<&AccessClaims>,
    proof: Option<ClientProof<'_>>,
) -> Result<Response> {
    // The query as the client sent it. Read from the raw URL rather than
    // through the `url` crate, whose IDNA tables would be a third of the
    // worker's size.
    let raw = req.inner().url();
    let mut target = format!("{upstream}{path}");
    if let Some(query) = path::query(&raw) {
        target.push('?');
        target.push_str(query);
    }
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        // The edge's own headers, and those that would make an origin serve
        // another path than the one judged here.
        if is_identity_header(&name) || path::rewrites_path(&name) || name == "host" {
            continue;
        }
        headers.append(&name, &value)?;
    }
    if let Some(claims) = identity {
        for (name, value) in identity_headers(claims) {
            headers.set(name, &value)?;
        }
    }
    if let Some((proof, ip)) =
        proof.and_then(|p| Some((p.secret, req.headers().get(p.header).ok()??)))
    {
        headers.set("x-tollgate-client-ip", &ip)?;
        headers.set("x-tollgate-edge-secret", proof)?;
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
        // The error names the upstream: logged, not shown to the client.
        Err(err) => {
            worker::console_error!("upstream fetch failed: {err}");
            problem(
                502,
                "upstream_unreachable",
                "The edge cannot serve this request.",
                "The upstream did not answer.",
            )
        }
    }
}

/// A problem+json answer (RFC 9457) of the edge's own (not a refusal of a
/// token: a bad path, a bad configuration, an upstream that is down).
pub fn problem(status: u16, code: &str, title: &str, detail: &str) -> Result<Response> {
    let body = problem_json(status, code, title, detail);
    let mut response = Response::ok(body)?.with_status(status);
    let headers = response.headers_mut();
    headers.set("content-type", "application/problem+json")?;
    headers.set("cache-control", "no-store")?;
    Ok(response)
}

/// A 200 with a JSON body.
pub fn json(body: &str) -> Result<Response> {
    let mut response = Response::ok(body)?;
    response
        .headers_mut()
        .set("content-type", "application/json")?;
    Ok(response)
}

/// The answer for a refused request, as the verifier crate renders it.
pub fn refuse(refusal: &Refusal) -> Result<Response> {
    let mut response = Response::ok(refusal.body())?.with_status(refusal.status());
    let headers = response.headers_mut();
    headers.set("content-type", Refusal::CONTENT_TYPE)?;
    headers.set("cache-control", Refusal::CACHE_CONTROL)?;
    if let Some(challenge) = refusal.challenge() {
        headers.set("www-authenticate", challenge)?;
    }
    Ok(response)
}
