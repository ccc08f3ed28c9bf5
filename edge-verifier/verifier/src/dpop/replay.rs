//! The `jti`s of accepted proofs, so each proof is used once.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::Proof;
use crate::error::VerifyError;

/// When a remembered proof leaves the window: (`iat` + window, proof id,
/// key id).
type Expiry = (i64, [u8; 16], [u8; 16]);

/// The `jti`s of accepted proofs, remembered until their `iat` leaves the
/// window, so each proof is used once.
///
/// It never forgets a proof early: an old proof forgotten could be
/// replayed. So it is bounded twice, and refuses rather than forgets:
/// - one key may have at most `per_key` proofs inside the window (a device
///   making more requests than that in about 2 minutes is refused, alone);
/// - all keys together at most `capacity` (then every new proof is refused
///   until some leave the window).
///
/// Each proof is held as a 16-byte hash of `jkt` and `jti`, each key's
/// count under a 16-byte hash of `jkt`: about 80 bytes a proof.
#[derive(Debug)]
pub struct ReplayCache {
    seen: HashSet<[u8; 16]>,
    per_key: HashMap<[u8; 16], u32>,
    by_expiry: BinaryHeap<Reverse<Expiry>>,
    capacity: usize,
    per_key_cap: u32,
}

/// Default number of proofs a [`ReplayCache`] holds at once (about 16 MB).
pub const DEFAULT_REPLAY_CAPACITY: usize = 200_000;

/// Default number of proofs one key may have inside the window: 1,000 in
/// about 2 minutes, a sustained 8 requests a second from one device.
pub const DEFAULT_REPLAY_PER_KEY: u32 = 1_000;

impl Default for ReplayCache {
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_CAPACITY, DEFAULT_REPLAY_PER_KEY)
    }
}

fn hash16(parts: &[&str]) -> [u8; 16] {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so no two splits of one string collide.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&hasher.finalize()[..16]);
    out
}

impl ReplayCache {
    /// A cache of at most `capacity` proofs inside their window, and at
    /// most `per_key` of any one key.
    pub fn new(capacity: usize, per_key: u32) -> Self {
        ReplayCache {
            seen: HashSet::new(),
            per_key: HashMap::new(),
            by_expiry: BinaryHeap::new(),
            capacity,
            per_key_cap: per_key,
        }
    }

    /// Records `proof` as used at `now`; refuses it if it was used before,
    /// or if its key, or the cache, is full of proofs still inside their
    /// window.
    pub fn first_use(&mut self, proof: &Proof, now: i64) -> Result<(), VerifyError> {
        while let Some(Reverse((until, _, _))) = self.by_expiry.peek() {
            if *until >= now {
                break;
            }
            if let Some(Reverse((_, id, key))) = self.by_expiry.pop() {
                self.seen.remove(&id);
                if let Some(count) = self.per_key.get_mut(&key) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        self.per_key.remove(&key);
                    }
                }
            }
        }
        let key = hash16(&[&proof.jkt]);
        let id = hash16(&[&proof.jkt, &proof.jti]);
        if self.seen.contains(&id) {
            return Err(VerifyError::InvalidDpopProof("proof was already used"));
        }
        let count = self.per_key.get(&key).copied().unwrap_or(0);
        if count >= self.per_key_cap {
            return Err(VerifyError::InvalidDpopProof(
                "too many proofs of this key inside the replay window; retry shortly",
            ));
        }
        if self.seen.len() >= self.capacity {
            return Err(VerifyError::InvalidDpopProof(
                "too many proofs inside the replay window; retry shortly",
            ));
        }
        self.seen.insert(id);
        self.per_key.insert(key, count + 1);
        self.by_expiry
            .push(Reverse((proof.replayable_until, id, key)));
        Ok(())
    }

    /// How many proofs are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no proof is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_cache_forgets_only_after_the_window() {
        let proof = |jti: &str, until: i64| Proof {
            jkt: "k".into(),
            jti: jti.into(),
            iat: 0,
            replayable_until: until,
        };
        let mut cache = ReplayCache::new(2, 10);
        assert!(cache.first_use(&proof("a", 100), 0).is_ok());
        assert!(cache.first_use(&proof("a", 100), 50).is_err());
        assert!(cache.first_use(&proof("b", 100), 50).is_ok());
        // Full of live proofs: a third is refused, none is forgotten early.
        assert!(cache.first_use(&proof("c", 100), 60).is_err());
        assert!(cache.first_use(&proof("a", 100), 100).is_err());
        // Past the window both are gone.
        assert!(cache.first_use(&proof("c", 300), 101).is_ok());
        assert!(cache.first_use(&proof("a", 300), 101).is_ok());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn one_key_cannot_fill_the_replay_cache_for_the_others() {
        let proof = |jkt: &str, jti: &str| Proof {
            jkt: jkt.into(),
            jti: jti.into(),
            iat: 0,
            replayable_until: 100,
        };
        let mut cache = ReplayCache::new(100, 3);
        for jti in ["1", "2", "3"] {
            assert!(cache.first_use(&proof("greedy", jti), 0).is_ok());
        }
        assert!(cache.first_use(&proof("greedy", "4"), 0).is_err());
        assert!(cache.first_use(&proof("other", "1"), 0).is_ok());
        // Once the greedy key's proofs leave the window it may go on.
        assert!(cache.first_use(&proof("greedy", "5"), 101).is_ok());
    }
}
