//! The verified-token cache: it skips the signature, never the time or revocation checks.

use tollgate_verifier::{KeySet, RevocationSet, Revoked};

use crate::support::*;

/// A cached token still expires on time.
#[test]
fn cache_hit_still_checks_expiry() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let none = RevocationSet::new();
    assert!(verifier.verify(&token, NOW, &none).is_ok());
    assert!(verifier.verify(&token, NOW + 1, &none).is_ok());
    assert_eq!(refusal(&verifier, &token, NOW + 330, &none), "expired");
}

/// A cached token is refused as soon as its session is revoked.
#[test]
fn cache_hit_still_checks_revocation() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let mut set = RevocationSet::new();
    assert!(verifier.verify(&token, NOW, &set).is_ok());
    set.insert(Revoked::Sid(SID), NOW + 330);
    assert_eq!(refusal(&verifier, &token, NOW, &set), "revoked");
}

/// A token that is not yet valid becomes valid later, from the cache.
#[test]
fn cache_hit_still_checks_not_before() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(
        &keys,
        &claims_with(|c| {
            c.insert("nbf".into(), (NOW + 100).into());
        }),
    );
    let none = RevocationSet::new();
    assert_eq!(refusal(&verifier, &token, NOW, &none), "not_yet_valid");
    assert!(verifier.verify(&token, NOW + 80, &none).is_ok());
}

/// Replacing the keys empties the cache, so a withdrawn key's tokens stop verifying.
#[test]
fn replacing_keys_empties_the_cache() {
    let keys = Keys::new();
    let mut verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    let none = RevocationSet::new();
    assert!(verifier.verify(&token, NOW, &none).is_ok());
    verifier.set_keys(KeySet::new());
    assert_eq!(refusal(&verifier, &token, NOW, &none), "unknown_kid");
}

/// A tampered copy of a cached token does not ride on the cache entry.
#[test]
fn cache_matches_the_exact_token() {
    let keys = Keys::new();
    let verifier = keys.verifier();
    let token = ed_token(&keys, &claims());
    assert!(verify(&verifier, &token).is_ok());
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(code_of(&verifier, &tampered), "bad_signature");
}

/// Capacity 0 turns the cache off instead of panicking (an LRU of size 0 cannot exist),
/// and every rule still applies on a repeat.
#[test]
fn zero_cache_capacity_turns_the_cache_off() {
    let keys = Keys::new();
    let verifier = keys.verifier_with(|o| o.cache_capacity = 0);
    let token = ed_token(&keys, &claims());
    let mut set = RevocationSet::new();
    assert!(verifier.verify(&token, NOW, &set).is_ok());
    set.insert(Revoked::Jti(JTI), NOW + 330);
    assert_eq!(refusal(&verifier, &token, NOW, &set), "revoked");
    assert_eq!(
        refusal(&verifier, &token, NOW + 330, &RevocationSet::new()),
        "expired"
    );
}
