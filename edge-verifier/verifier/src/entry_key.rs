//! The 16-byte key an upstream provider's revocation is held and published
//! under: the first 16 bytes of a SHA-256 over what it names (a session, a
//! token, a subject, an e-mail address), the issuer's length and bytes,
//! and the id. The feed carries only this key, so the anonymous feed never
//! shows who logged out; a verifier computes the same key from a token's
//! claims. A guess can still be checked against it (the inputs are not
//! secret): it hides the list, not a known name.
//!
//! Two different ids sharing a key would make one token refused that should
//! not be (2^-64 odds at four billion entries); never the reverse.

use sha2::{Digest, Sha256};

/// What a key names.
#[derive(Clone, Copy)]
#[repr(u8)]
pub(crate) enum Kind {
    Sid = 1,
    Jti = 2,
    Sub = 3,
    Email = 4,
}

/// The key of an id of `kind` of issuer `iss` (`""` for tollgate's own).
/// The issuer's length keeps `("ab", "c")` and `("a", "bc")` apart.
/// E-mail addresses are compared without regard to ASCII case, as
/// providers spell the same address differently in tokens and events.
pub(crate) fn entry_key(kind: Kind, iss: &str, id: &str) -> [u8; 16] {
    let mut hash = Sha256::new();
    hash.update([kind as u8]);
    hash.update((iss.len() as u64).to_be_bytes());
    hash.update(iss.as_bytes());
    match kind {
        Kind::Email => hash.update(id.to_ascii_lowercase().as_bytes()),
        _ => hash.update(id.as_bytes()),
    }
    let digest = hash.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}
