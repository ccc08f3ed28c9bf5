//! The verified-token cache: what a token was judged to be, by its exact
//! text, least recently used out first.
//!
//! A token is looked up on every call and stored once judged, so its text
//! is hashed at least twice per first-seen token, and a third time when it
//! evicts the oldest. hashbrown's default hash over a 300-byte token was
//! the largest single cost of a first-seen token in wasm (its folded
//! 128-bit multiply is emulated there), so the table hashes only a token's
//! length and last [`TAIL`] bytes: the end of its signature, which differs
//! between any two tokens an issuer signed. Keys are still compared whole,
//! so two tokens that share a tail are two entries, never one.
//!
//! Only judged tokens are stored (their signatures verified), so a caller
//! cannot choose what the table holds; a lookup of a crafted text costs one
//! probe like any other.

use core::hash::{BuildHasher, Hasher};
use core::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use lru::LruCache;

/// How many bytes at the end of a token its hash covers: 96 bits of a
/// signature's base64url.
const TAIL: usize = 16;

/// Tokens by exact text, each with what it was judged to be.
#[derive(Debug)]
pub(crate) struct TokenCache<V> {
    entries: Mutex<LruCache<Box<str>, V, TailHash>>,
}

impl<V: Clone> TokenCache<V> {
    /// A cache of at most `capacity` tokens.
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        TokenCache {
            entries: Mutex::new(LruCache::with_hasher(capacity, TailHash::default())),
        }
    }

    /// What `token` was judged to be, if it is held (and now the most recent).
    pub(crate) fn get(&self, token: &str) -> Option<V> {
        self.lock().get(token).cloned()
    }

    /// Holds `value` for `token`, evicting the least recently used if full.
    pub(crate) fn put(&self, token: &str, value: V) {
        self.lock().put(token.into(), value);
    }

    /// Forgets every token.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Box<str>, V, TailHash>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Builds [`Tail`] hashers over hashbrown's seeded default.
#[derive(Clone, Default)]
struct TailHash(lru::DefaultHasher);

impl core::fmt::Debug for TailHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TailHash")
    }
}

impl BuildHasher for TailHash {
    type Hasher = Tail<<lru::DefaultHasher as BuildHasher>::Hasher>;

    fn build_hasher(&self) -> Self::Hasher {
        Tail(self.0.build_hasher())
    }
}

/// Hashes what it is given as its length and its last [`TAIL`] bytes.
struct Tail<H>(H);

impl<H: Hasher> Hasher for Tail<H> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write_usize(bytes.len());
        self.0.write(&bytes[bytes.len().saturating_sub(TAIL)..]);
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize) -> TokenCache<u32> {
        TokenCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN))
    }

    #[test]
    fn tokens_sharing_a_tail_are_told_apart() {
        let cache = cache(8);
        let tail = "0123456789abcdefXYZ";
        cache.put(&format!("a.b.{tail}"), 1);
        cache.put(&format!("c.d.{tail}"), 2);
        assert_eq!(cache.get(&format!("a.b.{tail}")), Some(1));
        assert_eq!(cache.get(&format!("c.d.{tail}")), Some(2));
        assert_eq!(cache.get(&format!("e.f.{tail}")), None);
        assert_eq!(cache.get(tail), None);
    }

    #[test]
    fn the_least_recently_used_goes_first_and_clear_forgets_all() {
        let cache = cache(2);
        cache.put("t.1", 1);
        cache.put("t.2", 2);
        assert_eq!(cache.get("t.1"), Some(1));
        cache.put("t.3", 3);
        assert_eq!(cache.get("t.2"), None);
        assert_eq!(cache.get("t.1"), Some(1));
        assert_eq!(cache.get("t.3"), Some(3));
        cache.clear();
        assert_eq!(cache.get("t.1"), None);
    }

    #[test]
    fn the_hash_covers_the_length_and_the_tail_only() {
        let build = TailHash::default();
        let long_a = format!("{}{}", "a".repeat(300), "0123456789abcdef");
        let long_b = format!("{}{}", "b".repeat(300), "0123456789abcdef");
        assert_eq!(
            build.hash_one(long_a.as_str()),
            build.hash_one(long_b.as_str())
        );
        let shorter = format!("{}{}", "a".repeat(299), "0123456789abcdef");
        assert_ne!(
            build.hash_one(long_a.as_str()),
            build.hash_one(shorter.as_str())
        );
    }
}
