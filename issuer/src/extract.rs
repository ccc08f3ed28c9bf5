//! Extractors whose rejections are [`ApiError`]s: JSON and form bodies,
//! the Bearer-authenticated caller, and the client's address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use tollgate_verifier::{AccessClaims, ErrorCode, Replay, RevocationSet, Scheme};

use crate::AppState;
use crate::error::ApiError;

/// A JSON body; a bad one is a problem+json, never axum's plain text.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(bad_body(rejection.status(), json_message(&rejection))),
        }
    }
}

fn json_message(rejection: &JsonRejection) -> String {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "expected a body with content-type application/json".into()
        }
        // serde's message names the field and what was expected; it never
        // echoes the value, so no password reaches the response.
        JsonRejection::JsonDataError(err) => err.body_text(),
        JsonRejection::JsonSyntaxError(_) => "the body is not valid JSON".into(),
        other => other.body_text(),
    }
}

/// A form body (RFC 7009 uses `application/x-www-form-urlencoded`).
#[derive(Debug)]
pub struct ApiForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(ApiForm(value)),
            Err(rejection) => {
                let message = match &rejection {
                    FormRejection::InvalidFormContentType(_) => {
                        "expected a body with content-type application/x-www-form-urlencoded".into()
                    }
                    other => other.body_text(),
                };
                Err(bad_body(rejection.status(), message))
            }
        }
    }
}

fn bad_body(status: StatusCode, message: String) -> ApiError {
    ApiError::BadBody { status, message }
}

/// The caller, authenticated by an access token that this issuer signed and
/// that is not revoked: as Bearer, or as DPoP with a proof of its key.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's verified claims.
    pub claims: AccessClaims,
    /// The user id (`sub`).
    pub user: tollgate_verifier::Uuid,
    /// The device session (`sid`).
    pub session: tollgate_verifier::Uuid,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    #[tracing::instrument(name = "authenticate", skip_all)]
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, true).await
    }
}

/// The caller of a route that only revokes (logout, logout-all, deleting a
/// session): authenticated as [`Caller`] is, but a DPoP proof is not
/// recorded as used. Replaying such a request revokes what is revoked
/// already, and a replay cache filled by someone else must never stop a
/// logout.
#[derive(Debug, Clone)]
pub struct RevokingCaller(pub Caller);

impl FromRequestParts<AppState> for RevokingCaller {
    type Rejection = ApiError;

    #[tracing::instrument(name = "authenticate", skip_all)]
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, false).await.map(RevokingCaller)
    }
}

/// The token and its proof, checked by the verifier crate; the proof
/// recorded as used if `remember`.
async fn authenticate(parts: &Parts, state: &AppState, remember: bool) -> Result<Caller, ApiError> {
    let (scheme, token) = credentials(parts)?;
    let keys = state.current_keys().await?;
    let proofs = crate::dpop::proof_headers(&parts.headers);
    let authority = parts.uri.authority().map(|a| a.as_str());
    let url = proofs.first().map_or_else(String::new, |proof| {
        crate::dpop::expected_url(state, authority, &parts.headers, parts.uri.path(), proof)
    });
    let request = tollgate_verifier::Request {
        scheme,
        token: token.to_owned(),
        proofs: proofs.iter().map(|proof| (*proof).to_owned()).collect(),
        method: parts.method.as_str().to_owned(),
        url,
    };
    // The verifier crate decides validity here as at every edge; the
    // revocation log in the database is this issuer's revocation state.
    let now = state.clock.now();
    let none = RevocationSet::new();
    let verified = if remember {
        state.dpop_replays.with(|replays| {
            keys.verifier
                .verify_request(request, now, &none, Replay::Record(replays))
        })
    } else {
        keys.verifier
            .verify_request(request, now, &none, Replay::Skip)
    }
    .map_err(|err| ApiError::InvalidToken(err.code()))?;
    let claims = verified.claims().clone();
    // This verifier trusts only this issuer's keys, so its tokens' ids are
    // UUIDs; anything else is refused rather than trusted.
    let malformed = || ApiError::InvalidToken(ErrorCode::Malformed);
    let (session, jti) = claims
        .session_uuid()
        .zip(claims.token_uuid())
        .ok_or_else(malformed)?;
    if state.store.is_revoked(session, jti).await? {
        return Err(ApiError::InvalidToken(ErrorCode::Revoked));
    }
    let user = claims.sub.parse().map_err(|_| malformed())?;
    Ok(Caller {
        claims,
        user,
        session,
    })
}

/// The token and its scheme from `Authorization` (Bearer or DPoP).
fn credentials(parts: &Parts) -> Result<(Scheme, &str), ApiError> {
    let missing = || ApiError::MissingToken {
        dpop: parts.headers.contains_key(crate::headers::DPOP),
    };
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::InvalidToken(ErrorCode::Malformed))?;
    if !value.contains(' ') {
        return Err(ApiError::InvalidToken(ErrorCode::Malformed));
    }
    tollgate_verifier::credentials(Some(value), None).ok_or_else(missing)
}

/// The client's address, as the rate limits count it:
/// 1. `x-tollgate-client-ip`, if the request proves it came from the edge
///    (`x-tollgate-edge-secret` equals `TOLLGATE_EDGE_SECRET`, compared in
///    constant time); the edge sets it from `CF-Connecting-IP` and drops
///    whatever a client sent under `x-tollgate-*`;
/// 2. else the configured proxy header: for an `X-Forwarded-For`-style list,
///    the right-most address that is not one of `--trusted-proxies` (the
///    left end is whatever the client wrote);
/// 3. else the peer address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(ClientAddr(
            client_ip(&parts.headers, &state.settings, peer)
                .map_or_else(|| "unknown".to_owned(), limit_key),
        ))
    }
}

/// The client's address by the rules on [`ClientAddr`].
fn client_ip(
    headers: &axum::http::HeaderMap,
    settings: &crate::config::Settings,
    peer: Option<IpAddr>,
) -> Option<IpAddr> {
    if let Some(secret) = &settings.edge_secret {
        let proven = headers
            .get(crate::headers::EDGE_SECRET)
            .is_some_and(|proof| crate::config::edge_secret_matches(secret, proof.as_bytes()));
        let claimed = headers
            .get(crate::headers::CLIENT_IP)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_hop);
        if let (true, Some(ip)) = (proven, claimed) {
            return Some(ip);
        }
    }
    if let Some(name) = &settings.client_ip_header {
        let hops: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|hop| !hop.is_empty())
            .collect();
        let trusted = |ip: IpAddr| crate::config::in_blocks(&settings.trusted_proxies, ip);
        // From the right, skipping our own proxies. The first other hop is
        // the client as our proxy saw it; if it does not parse, nothing to
        // its left can be trusted either: use the peer address.
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if trusted(ip) => continue,
                Some(ip) => return Some(ip),
                None => return peer,
            }
        }
        if let Some(ip) = hops.first().and_then(|hop| parse_hop(hop)) {
            return Some(ip);
        }
    }
    peer
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
/// `[2001:db8::1]:443`; IPv4-mapped IPv6 addresses become IPv4.
pub fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(ip.to_canonical())
}

/// What the rate limits count an address under: an IPv4 address, or the
/// /64 of an IPv6 one (a single machine usually holds a whole /64, so
/// counting per /128 would let it pick a fresh address per request).
pub fn limit_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}
