//! A scripted issuer on a real socket: a JWKS and the revocation feed as
//! the real issuer serves them, plus the faults a real one shows under
//! failure (a 500, no answer at all, headers then a stalled body), switched
//! on by the test. The same shape as `tests/harness/stub-issuer.js`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_compact::{AlgorithmExt as _, Claims, Header, alg::Ed25519};
use serde::Deserialize;
use serde_json::json;
use tollgate_verifier::Uuid;

/// How a matching request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 with a problem body.
    Error,
    /// Accept the request and never answer.
    Silent,
    /// Send the headers and a few bytes, then nothing.
    Stall,
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Every request.
    All,
    /// Feed requests that continue a snapshot of the current epoch.
    LaterPages,
}

pub struct Script {
    pub entries: Vec<Uuid>,
    pub epoch: String,
    pub page_size: usize,
    pub fault: Option<(Fault, Which)>,
    pub keys: Vec<(String, ed25519_dalek::SigningKey)>,
    pub withdrawn: Vec<(String, ed25519_dalek::SigningKey)>,
    pub keys_version: u32,
    pub feed_requests: usize,
    pub jwks_requests: usize,
    /// How long a healthy answer takes (a far or busy issuer).
    pub feed_delay: std::time::Duration,
    pub jwks_delay: std::time::Duration,
}

#[derive(Clone)]
pub struct Stub {
    pub url: String,
    pub script: Arc<Mutex<Script>>,
}

#[derive(Deserialize)]
struct FeedQuery {
    since: Option<String>,
}

impl Stub {
    pub async fn start() -> Stub {
        let script = Arc::new(Mutex::new(Script {
            entries: Vec::new(),
            epoch: "a".into(),
            page_size: 1000,
            fault: None,
            keys: vec![("k1".into(), ed25519_dalek::SigningKey::from_bytes(&[1; 32]))],
            withdrawn: Vec::new(),
            keys_version: 1,
            feed_requests: 0,
            jwks_requests: 0,
            feed_delay: std::time::Duration::ZERO,
            jwks_delay: std::time::Duration::ZERO,
        }));
        let app = Router::new()
            .route("/v1/revocations", get(feed))
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Stub { url, script }
    }

    pub fn with<T>(&self, edit: impl FnOnce(&mut Script) -> T) -> T {
        edit(&mut self.script.lock().unwrap())
    }

    /// A token for `sid`, signed by key `kid`.
    pub fn mint(&self, sid: Uuid, kid: &str) -> String {
        let key = self.with(|s| {
            s.keys
                .iter()
                .chain(&s.withdrawn)
                .find(|(k, _)| k == kid)
                .map(|(_, key)| key.clone())
                .unwrap()
        });
        let claims = crate::layer::claims(sid, None);
        let header = Header::empty().with_key_id(kid).with_token_type("at+jwt");
        Ed25519.token(&header, &Claims::new(claims), &key).unwrap()
    }

    /// Adds a key and bumps the key-set version; returns its kid.
    pub fn add_key(&self) -> String {
        self.with(|s| {
            let n = s.keys.len() + s.withdrawn.len() + 1;
            let kid = format!("k{n}");
            let seed = [u8::try_from(n).unwrap(); 32];
            s.keys
                .push((kid.clone(), ed25519_dalek::SigningKey::from_bytes(&seed)));
            s.keys_version += 1;
            kid
        })
    }

    /// Drops a key from the JWKS and bumps the key-set version.
    pub fn withdraw(&self, kid: &str) {
        self.with(|s| {
            let (gone, kept) = s.keys.drain(..).partition(|(k, _)| k == kid);
            s.keys = kept;
            s.withdrawn.extend::<Vec<_>>(gone);
            s.keys_version += 1;
        });
    }
}

/// `count` random sessions with `sid` at position `at`.
pub fn log_with(sid: Uuid, at: usize, count: usize) -> Vec<Uuid> {
    let mut entries: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    entries[at] = sid;
    entries
}

async fn faulty(fault: Fault, body: String) -> Response {
    match fault {
        Fault::Error => {
            (StatusCode::INTERNAL_SERVER_ERROR, "{\"code\":\"internal\"}").into_response()
        }
        Fault::Silent => std::future::pending().await,
        Fault::Stall => {
            let head = body.as_bytes()[..10].to_vec();
            let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(head)])
                .chain(futures_util::stream::pending());
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, body.len())
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

use futures_util::StreamExt as _;

async fn feed(State(script): State<Arc<Mutex<Script>>>, Query(q): Query<FeedQuery>) -> Response {
    let (body, fault, delay) = {
        let mut s = script.lock().unwrap();
        s.feed_requests += 1;
        let after = q.since.as_deref().and_then(|since| {
            let (epoch, seq) = since.split_once(':')?;
            let seq: usize = seq.parse().ok()?;
            (epoch == s.epoch && seq <= s.entries.len()).then_some(seq)
        });
        let later_page = after.is_some_and(|seq| seq > 0 && seq < s.entries.len());
        let from = after.unwrap_or(0);
        let to = (from + s.page_size).min(s.entries.len());
        let until = 4_000_000_000i64;
        let revoked: Vec<_> = s.entries[from..to]
            .iter()
            .map(|sid| json!({"sid": sid, "until": until}))
            .collect();
        let body = json!({
            "cursor": format!("{}:{to}", s.epoch),
            "reset": after.is_none(),
            "more": to < s.entries.len(),
            "keys": s.keys_version.to_string(),
            "revoked": revoked,
        })
        .to_string();
        let fault = match s.fault {
            Some((fault, Which::All)) => Some(fault),
            Some((fault, Which::LaterPages)) if later_page => Some(fault),
            _ => None,
        };
        (body, fault, s.feed_delay)
    };
    tokio::time::sleep(delay).await;
    match fault {
        Some(fault) => faulty(fault, body).await,
        None => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
    }
}

async fn jwks(State(script): State<Arc<Mutex<Script>>>) -> Response {
    let (body, fault, delay) = {
        let mut s = script.lock().unwrap();
        s.jwks_requests += 1;
        let keys: Vec<_> = s
            .keys
            .iter()
            .map(|(kid, key)| {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig",
                       "x": Base64UrlUnpadded::encode_string(key.verifying_key().as_bytes())})
            })
            .collect();
        let fault = match s.fault {
            Some((fault, Which::All)) => Some(fault),
            _ => None,
        };
        (json!({"keys": keys}).to_string(), fault, s.jwks_delay)
    };
    tokio::time::sleep(delay).await;
    match fault {
        Some(fault) => faulty(fault, body).await,
        None => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
    }
}
