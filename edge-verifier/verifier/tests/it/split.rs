//! Verification split in two (`begin_request` / `finish_request`), as the
//! edge and the npm package use it with WebCrypto: the caller's verdict on
//! each signature is the only thing it adds, and every other decision stays
//! here.

use tollgate_verifier::dpop::ReplayCache;
use tollgate_verifier::{KeySet, Presented, RevocationSet, Scheme, VerifyError};

use crate::support::{Keys, NOW, Sign, claims, ed_token, forge, header};

fn bearer(token: &str) -> Presented<'_> {
    Presented {
        scheme: Scheme::Bearer,
        token,
        proofs: &[],
        method: "GET",
        url: "https://api.test/x",
    }
}

fn finish(
    verifier: &tollgate_verifier::Verifier,
    presented: &Presented<'_>,
    pending: tollgate_verifier::PendingRequest,
    ok: bool,
) -> Option<Result<tollgate_verifier::Verified, VerifyError>> {
    let mut replays = ReplayCache::default();
    verifier.finish_request(
        presented,
        pending,
        ok,
        true,
        NOW,
        &RevocationSet::new(),
        &mut replays,
    )
}

#[test]
fn the_callers_verdict_on_the_signature_is_final() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let pending = verifier.begin_request(&bearer(&token)).unwrap();
    let check = pending
        .token_check()
        .expect("a new token needs its signature checked");
    assert!(check.verify(), "the crate's own check agrees");
    let refused = finish(&verifier, &bearer(&token), pending, false).unwrap();
    assert_eq!(refused.unwrap_err().code().as_str(), "bad_signature");
    // Nothing was cached on a refusal: the next request checks again.
    let pending = verifier.begin_request(&bearer(&token)).unwrap();
    assert!(pending.token_check().is_some());
    assert!(
        finish(&verifier, &bearer(&token), pending, true)
            .unwrap()
            .is_ok()
    );
    // Now it is cached, and needs no check.
    let pending = verifier.begin_request(&bearer(&token)).unwrap();
    assert!(pending.token_check().is_none());
}

#[test]
fn new_keys_between_begin_and_finish_mean_begin_again() {
    let keys = Keys::new();
    let mut verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let pending = verifier.begin_request(&bearer(&token)).unwrap();
    verifier.set_keys(KeySet::new()); // the key was withdrawn meanwhile
    assert!(finish(&verifier, &bearer(&token), pending, true).is_none());
    let again = verifier.begin_request(&bearer(&token)).unwrap_err();
    assert_eq!(again.code().as_str(), "unknown_kid");

    // A pending request cannot be finished by another verifier either.
    let one = keys.verifier();
    let other = keys.verifier();
    let pending = one.begin_request(&bearer(&token)).unwrap();
    assert!(finish(&other, &bearer(&token), pending, true).is_none());
}

#[test]
fn finishing_with_another_token_is_refused_and_teaches_the_cache_nothing() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let good = ed_token(&keys, &claims());
    let attacker = Keys::attacker();
    let forged = forge(&header("EdDSA", "ed"), &claims(), Sign::Ed(&attacker));
    let pending = verifier.begin_request(&bearer(&good)).unwrap();
    let refused = finish(&verifier, &bearer(&forged), pending, true).unwrap();
    assert_eq!(refused.unwrap_err().code().as_str(), "malformed");
    let pending = verifier.begin_request(&bearer(&forged)).unwrap();
    assert!(
        pending.token_check().is_some(),
        "the forged token was not cached under the good one's claims"
    );
}
