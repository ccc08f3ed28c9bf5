//! Verification split in two (`begin` / `finish`), as the edge and the npm
//! package use it with WebCrypto: the caller's verdict on each signature is
//! the only thing it adds, and every other decision stays here.

use tollgate_verifier::dpop::ReplayCache;
use tollgate_verifier::{
    Begun, Finished, KeySet, Pending, Replay, Request, RevocationSet, Verdicts, Verified, Verifier,
    VerifyError,
};

use crate::support::{Keys, NOW, Sign, claims, ed_token, forge, header};

fn bearer(token: &str) -> Request {
    Request {
        method: "GET".into(),
        url: "https://api.test/x".into(),
        ..Request::bearer(token)
    }
}

fn begin(verifier: &Verifier, token: &str) -> Pending {
    match verifier.begin(bearer(token)) {
        Begun::Pending(pending) => pending,
        Begun::Refused(_, err) => panic!("refused before the signature: {err}"),
    }
}

/// Finishes with `ok` as the verdict on the token's signature; `None` if the
/// keys changed in between.
fn finish(
    verifier: &Verifier,
    pending: Pending,
    ok: bool,
) -> Option<Result<Verified, VerifyError>> {
    let verdicts = Verdicts {
        token: pending.token_check().map(|_| ok),
        proof: None,
    };
    match verifier.finish(
        pending,
        verdicts,
        NOW,
        &RevocationSet::new(),
        Replay::Record(&mut ReplayCache::default()),
    ) {
        Finished::Done(result) => Some(result),
        Finished::KeysChanged(_) => None,
    }
}

#[test]
fn the_callers_verdict_on_the_signature_is_final() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let pending = begin(&verifier, &token);
    let check = pending
        .token_check()
        .expect("a new token needs its signature checked");
    assert!(check.verify(), "the crate's own check agrees");
    let refused = finish(&verifier, pending, false).unwrap();
    assert_eq!(refused.unwrap_err().code().as_str(), "bad_signature");
    // Nothing was cached on a refusal: the next request checks again.
    let pending = begin(&verifier, &token);
    assert!(pending.token_check().is_some());
    assert!(finish(&verifier, pending, true).unwrap().is_ok());
    // Now it is cached, and needs no check.
    let pending = begin(&verifier, &token);
    assert!(pending.token_check().is_none());
}

/// A signature that was asked for and not checked (no verdict) counts as
/// not verified: a caller cannot pass a check it skipped.
#[test]
fn a_signature_left_unchecked_does_not_verify() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let pending = begin(&verifier, &token);
    let Finished::Done(result) = verifier.finish(
        pending,
        Verdicts::default(),
        NOW,
        &RevocationSet::new(),
        Replay::Skip,
    ) else {
        panic!("the keys did not change");
    };
    assert_eq!(result.unwrap_err().code().as_str(), "bad_signature");
}

#[test]
fn new_keys_between_begin_and_finish_mean_begin_again() {
    let keys = Keys::new();
    let mut verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let pending = begin(&verifier, &token);
    verifier.set_keys(KeySet::new()); // the key was withdrawn meanwhile
    assert!(finish(&verifier, pending, true).is_none());
    let Begun::Refused(_, again) = verifier.begin(bearer(&token)) else {
        panic!("a withdrawn key's token began");
    };
    assert_eq!(again.code().as_str(), "unknown_kid");

    // A pending request cannot be finished by another verifier either.
    let one = keys.verifier();
    let other = keys.verifier();
    let pending = begin(&one, &token);
    assert!(finish(&other, pending, true).is_none());
}

/// Each pending request carries its own token, so finishing one caches
/// only that token's claims: a forged token begun beside a good one is not
/// cached under the good one's claims.
#[test]
fn finishing_one_request_teaches_the_cache_only_its_own_token() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let good = ed_token(&keys, &claims());
    let attacker = Keys::attacker();
    let forged = forge(&header("EdDSA", "ed"), &claims(), Sign::Ed(&attacker));
    let good_pending = begin(&verifier, &good);
    let forged_pending = begin(&verifier, &forged);
    assert_eq!(forged_pending.request().token, forged);
    assert!(finish(&verifier, good_pending, true).unwrap().is_ok());
    let pending = begin(&verifier, &forged);
    assert!(
        pending.token_check().is_some(),
        "the forged token was not cached under the good one's claims"
    );
    let refused = finish(&verifier, forged_pending, false).unwrap();
    assert_eq!(refused.unwrap_err().code().as_str(), "bad_signature");
}
