//! DPoP through the extractor, against a real issuer on a socket: a bound
//! token passes with a fresh proof of its key for the URL the client used,
//! also under `Router::nest`; as Bearer, replayed, or with a `Host` that
//! would bend the URL the proof is checked against, it is refused.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64ct::{Base64UrlUnpadded, Encoding};
use ed25519_dalek::Signer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tollgate_axum::{Tollgate, TollgateConfig};
use tollgate_verifier::{Confirmation, Jwk, Uuid};
use tower::ServiceExt;

use crate::layer::{Issuer, app, claims, issuer, ms, now};

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// A device's Ed25519 key.
struct Device(ed25519_dalek::SigningKey);

impl Device {
    fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(self.0.verifying_key().as_bytes())})
    }

    fn jkt(&self) -> String {
        tollgate_verifier::dpop::thumbprint(&Jwk::from_json(&self.jwk().to_string()).unwrap())
    }

    fn proof(&self, htu: &str, token: &str) -> String {
        let header = json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": self.jwk()});
        let claims = json!({
            "jti": Uuid::new_v4().to_string(),
            "htm": "GET",
            "htu": htu,
            "iat": now(),
            "ath": b64(&Sha256::digest(token.as_bytes())),
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        format!("{input}.{}", b64(&self.0.sign(input.as_bytes()).to_bytes()))
    }
}

fn bound_token(issuer: &Issuer, jkt: String) -> String {
    let claims = claims(Uuid::new_v4(), Some(Confirmation { jkt }));
    issuer.state.keys().ring.sign(&claims).unwrap()
}

/// `GET /api/me` on `host`, with `authorization` and a `DPoP` header.
async fn call(
    app: &Router,
    host: &str,
    authorization: String,
    proof: &str,
) -> (StatusCode, String) {
    let request = Request::get("/api/me")
        .header("host", host)
        .header("authorization", authorization)
        .header("dpop", proof)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn a_bound_token_needs_a_fresh_proof_for_the_url_the_client_used() {
    let issuer = issuer().await;
    let mut config = TollgateConfig::new(&issuer.url, "tollgate", "tollgate-api");
    config.sync.max_age_ms = ms(Duration::from_secs(5));
    // Nested: the handler sees `/me`, the client asked for `/api/me`.
    let app = Router::new().nest("/api", app(Tollgate::connect(config).await.unwrap()));
    let device = Device(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
    let token = bound_token(&issuer, device.jkt());
    let dpop = format!("DPoP {token}");

    let proof = device.proof("http://api.example/api/me", &token);
    let (status, body) = call(&app, "api.example", dpop.clone(), &proof).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = call(&app, "api.example", dpop.clone(), &proof).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a replayed proof passed");
    assert!(body.contains("invalid_dpop_proof"), "{body}");

    let fresh = device.proof("http://api.example/api/me", &token);
    let (status, body) = call(&app, "api.example", format!("Bearer {token}"), &fresh).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a bound token passed as Bearer"
    );
    assert!(body.contains("invalid_dpop_proof"), "{body}");

    // A proof made for /other, and a Host that makes the expected URL
    // `http://api.example/other?/api/me`, whose query is ignored.
    let other = device.proof("http://api.example/other", &token);
    let (status, body) = call(&app, "api.example/other?", dpop.clone(), &other).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a Host bent the URL: {body}"
    );
    assert!(body.contains("invalid_dpop_proof"), "{body}");

    let another = Device(ed25519_dalek::SigningKey::from_bytes(&[8; 32]));
    let stolen = another.proof("http://api.example/api/me", &token);
    let (status, body) = call(&app, "api.example", dpop, &stolen).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "another key's proof passed"
    );
    assert!(body.contains("invalid_dpop_proof"), "{body}");
}
