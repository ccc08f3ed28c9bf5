//! The fuzz targets' bodies: every parser that reads network input, each
//! fed arbitrary bytes, must answer with a value or a coded error and never
//! panic. `fuzz_targets/*.rs` hand them to libFuzzer (`make fuzz`); the
//! verifier crate's `tests/fuzz_corpus.rs` includes this file and runs each
//! body over its checked-in corpus on every `make test`, so a crash once
//! found stays fixed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_verifier::event::{EventOptions, judge_logout_token, judge_security_event};
use tollgate_verifier::{
    ErrorCode, Follower, Jwks, KeySet, RevocationEntry, RevocationFeed, RevocationSet, Verifier,
    VerifierOptions, dpop, path,
};

/// The clock every target stands at.
pub const NOW: i64 = 1_763_820_000;

const UPSTREAM: &str = "https://idp.fuzz";

/// A target's body.
pub type Body = fn(&[u8]);

/// The targets, by name (the corpus directories are named the same).
pub const TARGETS: &[(&str, Body)] = &[
    ("verify", verify),
    ("jwks", jwks),
    ("feed", feed),
    ("dpop", dpop_proof),
    ("logout", logout),
    ("set", security_event),
    ("path", request_path),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A key set with an HS256 secret of tollgate's and an ES256 key of an
/// upstream, with its rules: enough for every branch of the parsers.
fn keys() -> KeySet {
    let jwks = Jwks::from_json(
        &serde_json::json!({
        "keys": [{"kty": "oct", "kid": "hs", "k": "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI"}],
        "upstream_keys": [{"kty": "EC", "crv": "P-256", "kid": "up", "iss": UPSTREAM,
            "x": "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
            "y": "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}],
        "upstreams": [{"iss": UPSTREAM, "audiences": ["api"], "algorithms": ["ES256", "RS256"],
            "session_claim": "sid", "roles_claim": "realm_access.roles"}],
        })
        .to_string(),
    )
    .unwrap();
    KeySet::from_jwks(&jwks).unwrap()
}

/// An access token: tollgate's or the upstream's.
pub fn verify(data: &[u8]) {
    let Some(token) = text(data) else { return };
    let verifier = Verifier::new(VerifierOptions::new("https://issuer.fuzz", "api"), keys());
    if let Err(err) = verifier.verify(token, NOW, &RevocationSet::new()) {
        assert!(ErrorCode::ALL.contains(&err.code()));
    }
    let _ = Verifier::peek_kid(token);
}

/// A JWKS document.
pub fn jwks(data: &[u8]) {
    let Some(json) = text(data) else { return };
    if let Ok(keys) = KeySet::from_json(json) {
        assert!(keys.len() + keys.skipped() <= json.len());
    }
}

/// A feed page: parsed, applied (through a follower), and written back
/// (by serde, as the issuer writes it) as the same page.
pub fn feed(data: &[u8]) {
    let Some(Ok(page)) = text(data).map(RevocationFeed::from_json) else {
        return;
    };
    let mut follower = Follower::new();
    follower.apply(&page);
    let held = follower.live().len();
    assert!(page.more || held <= page.revoked.len() || !page.reset);
    follower.prune(NOW);
    let again = RevocationFeed::from_json(&serde_json::to_string(&page).unwrap()).unwrap();
    assert_eq!(again, page);
    for entry in &page.revoked {
        let one = RevocationEntry::from_json(&serde_json::to_string(entry).unwrap()).unwrap();
        assert_eq!(&one, entry);
    }
}

/// A DPoP proof, with the request it came with: the first line of the
/// input is the method and URL, the rest the proof.
pub fn dpop_proof(data: &[u8]) {
    let Some(input) = text(data) else { return };
    let (request, proof) = input
        .split_once('\n')
        .unwrap_or(("GET https://api.fuzz/x", input));
    let (method, url) = request.split_once(' ').unwrap_or(("GET", request));
    let _ = dpop::peek_htu(proof);
    let request = dpop::ProofRequest::new(method, url);
    if let Err(err) = dpop::verify_proof(proof, &request, NOW) {
        assert!(ErrorCode::ALL.contains(&err.code()));
    }
}

fn event_options() -> EventOptions {
    EventOptions {
        issuer: UPSTREAM.into(),
        audience: "tollgate".into(),
        leeway_secs: 30,
        max_age_secs: 300,
    }
}

/// A Back-Channel Logout token.
pub fn logout(data: &[u8]) {
    let Some(token) = text(data) else { return };
    let _ = judge_logout_token(token, &keys(), &event_options(), NOW);
}

/// A Security Event Token.
pub fn security_event(data: &[u8]) {
    let Some(token) = text(data) else { return };
    let _ = judge_security_event(token, &keys(), &event_options(), NOW);
}

/// A request path as the edge judges it: normalized twice is normalized once.
pub fn request_path(data: &[u8]) {
    let Some(raw) = text(data) else { return };
    if let Ok(normalized) = path::normalize(raw) {
        assert_eq!(
            path::normalize(&normalized).as_deref(),
            Ok(normalized.as_str())
        );
        let prefixes = path::Prefixes::parse("/public/,/v1/auth/").unwrap();
        let _ = prefixes.matches(&normalized);
    }
}
