//! The OpenAPI document: served at `/openapi.json`, OpenAPI 3.1, and
//! complete. The router's own route table (read from its `Debug` output,
//! the only view axum gives of it) is walked, and every method of every
//! path must be documented; every problem `code` the code can produce must
//! be listed.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::*;

/// Every `(method, path)` the app's router serves, from its route table.
fn router_routes(state: &tollgate_issuer::AppState) -> BTreeSet<(String, String)> {
    let router = tollgate_issuer::app(state.clone());
    let text = format!("{router:?}");
    let table = &text[..text
        .find("fallback_router")
        .expect("axum's Router Debug layout")];
    let id_of = |s: &str| s.split(')').next().map(str::to_owned);
    let mut methods = std::collections::HashMap::new();
    for part in table.split("RouteId(").skip(1) {
        let (Some(id), Some(allow)) = (id_of(part), part.split("allow_header: Bytes(b\"").nth(1))
        else {
            continue;
        };
        let allow = allow.split('"').next().unwrap_or_default();
        methods.insert(
            id,
            allow
                .split(',')
                .filter(|m| *m != "HEAD")
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
    }
    let paths = &table[table.find("paths: {").expect("route paths")..];
    let mut routes = BTreeSet::new();
    for part in paths.split("RouteId(").skip(1) {
        let id = id_of(part).unwrap();
        let path = part.split('"').nth(1).unwrap().to_owned();
        for method in &methods[&id] {
            routes.insert((method.to_lowercase(), path.clone()));
        }
    }
    routes
}

/// Every route the router serves is in `/openapi.json` with its method, and
/// every documented operation is served.
#[tokio::test]
async fn every_route_is_documented() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store).await;
    let reply = issuer.call("GET", "/openapi.json", None, None).await;
    assert_eq!(reply.status.as_u16(), 200);
    let doc = reply.body;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "delete", "patch"].contains(&k.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let served = router_routes(&issuer.state);
    assert!(served.len() >= 15, "the route table was read: {served:?}");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
    for (method, path) in &served {
        let op = &doc["paths"][path][method];
        assert!(
            !op["responses"].as_object().unwrap().is_empty(),
            "{method} {path} lists no responses"
        );
    }
    for path in ["/v1/auth/signup", "/v1/auth/login", "/v1/auth/refresh"] {
        assert!(
            doc["paths"][path]["post"]["requestBody"].is_object(),
            "{path} documents its body"
        );
    }
    assert!(
        doc["paths"]["/v1/sessions"]["get"]["security"].is_array(),
        "Bearer routes say so"
    );
}

/// Every problem `code` the API and the verifier can answer with is listed
/// in the Problem schema.
#[tokio::test]
async fn every_problem_code_is_listed() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store).await;
    let doc = issuer.call("GET", "/openapi.json", None, None).await.body;
    let listed: BTreeSet<String> =
        doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
    use tollgate_issuer::error::ApiError;
    let samples = [
        ApiError::ValidationFailed(Vec::new()),
        ApiError::InvalidCredentials,
        ApiError::AccountDisabled,
        ApiError::InvalidRefreshToken,
        ApiError::RefreshTokenReused,
        ApiError::EmailTaken,
        ApiError::RateLimited { retry_after: 1 },
        ApiError::Forbidden,
        ApiError::NotFound,
        ApiError::MissingToken { dpop: false },
        ApiError::Internal(String::new()),
    ];
    for error in &samples {
        assert!(
            listed.contains(error.code()),
            "{} is not listed",
            error.code()
        );
        assert!(ApiError::CODES.contains(&error.code()));
    }
    for code in tollgate_verifier::ErrorCode::ALL {
        assert!(listed.contains(code.as_str()), "{code} is not listed");
        let _: Value = Value::String(ApiError::InvalidToken(code).code().to_owned());
    }
}

/// A route that reads a problem+json body documents every way reading it
/// can fail (400, 413, 415, 422), and a signup's schema states the limits
/// the server enforces, from the constants its checks use.
#[tokio::test]
async fn body_refusals_and_field_limits_are_documented() {
    let (store, _dir) = sqlite().await;
    let issuer = Issuer::new(store).await;
    let doc = issuer.call("GET", "/openapi.json", None, None).await.body;
    for path in [
        "/v1/auth/signup",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/oauth/revoke",
    ] {
        let responses = doc["paths"][path]["post"]["responses"].as_object().unwrap();
        for status in ["400", "413", "415", "422"] {
            assert!(responses.contains_key(status), "{path} documents {status}");
        }
    }
    let signup = &doc["paths"]["/v1/auth/signup"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let signup = match signup["$ref"].as_str() {
        Some(reference) => &doc["components"]["schemas"][reference.rsplit('/').next().unwrap()],
        None => signup,
    };
    let fields = &signup["properties"];
    use tollgate_issuer::fields::*;
    assert_eq!(fields["email"]["maxLength"], MAX_EMAIL_CHARS);
    assert!(fields["email"]["pattern"].is_string());
    assert_eq!(fields["password"]["minLength"], MIN_PASSWORD_CHARS);
    assert_eq!(fields["password"]["maxLength"], MAX_PASSWORD_CHARS);
    assert!(fields["password"]["not"]["anyOf"].is_array());
    assert_eq!(fields["name"]["maxLength"], MAX_NAME_CHARS);
    let limit = doc["paths"]["/v1/revocations"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["maximum"], 1000);
}
