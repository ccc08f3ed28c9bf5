//! The set of revoked sessions, tokens and subjects a verifier holds in memory.
//!
//! The rule that shapes it: **an entry is never dropped before its `until`**,
//! however many there are. There is no size cap; instead each entry is made
//! small. A table is a sorted `Vec` of 24-byte entries (a 16-byte id and an
//! `i64`) searched by bisection, plus a small hash map that takes new deltas
//! and is merged into the vector when it grows past an eighth of it. At a
//! million entries that is about 25 bytes an entry (measured in
//! `tests/memory.rs`), where a hash map of the same entries would need about
//! 52 by arithmetic (2^21 buckets of 25 bytes).
//!
//! tollgate's own sessions and tokens are keyed by their UUID. Everything
//! else (an upstream provider's opaque `sid` or `jti`, a subject cut-off)
//! by its 16-byte [`entry_key`](crate::entry_key), so it is as small,
//! whatever the provider's ids look like.

use std::collections::HashMap;
use std::sync::OnceLock;

use uuid::Uuid;

use crate::entry_key::{Kind, entry_key as scoped};
use crate::feed::{RevocationEntry, RevocationFeed, Revoked};
use crate::id_sort::sort_by_id;

/// The smallest number of recent entries worth a merge.
const MERGE_MIN: usize = 1024;

/// Revoked device sessions (`sid`), tokens (`jti`) and subjects, with the
/// feed cursor they are current to.
#[derive(Debug, Clone, Default)]
pub struct RevocationSet {
    sids: Table<i64>,
    jtis: Table<i64>,
    /// Upstream sessions and tokens, by [`scoped`] key.
    upstream: Table<i64>,
    /// Subject cut-offs, by sub or by e-mail, by [`scoped`] key.
    cutoffs: Table<Cutoff>,
    cursor: Option<String>,
}

/// What a revocation check needs of a verified token, its keys made once
/// (the verifier caches them with its claims).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenKeys {
    /// tollgate's own token: `sid` and `jti` are UUID bytes.
    own: bool,
    sid: Option<[u8; 16]>,
    jti: Option<[u8; 16]>,
    iat: i64,
    /// The keys a subject cut-off of this token is held under (its
    /// subject's, its e-mail's), made from its [`TokenIds`] the first time
    /// a set that holds cut-offs is asked: two SHA-256s that a token never
    /// checked against a cut-off does without.
    cut: OnceLock<([u8; 16], Option<[u8; 16]>)>,
}

/// The ids of one token, as [`TokenKeys::new`] takes them.
pub(crate) struct TokenIds<'a> {
    /// The upstream issuer, `None` for tollgate's own token.
    pub(crate) iss: Option<&'a str>,
    pub(crate) sid: Option<&'a str>,
    pub(crate) jti: Option<&'a str>,
    pub(crate) sub: &'a str,
    pub(crate) email: Option<&'a str>,
    pub(crate) iat: i64,
}

impl TokenKeys {
    /// The keys of a token; `None` if one of tollgate's own lacks a `sid` or
    /// `jti` that is a UUID (the verifier refuses it as malformed).
    pub(crate) fn new(ids: &TokenIds<'_>) -> Option<Self> {
        let (sid, jti) = match ids.iss {
            None => (Some(own_id(ids.sid?)?), Some(own_id(ids.jti?)?)),
            Some(iss) => (
                ids.sid.map(|s| scoped(Kind::Sid, iss, s)),
                ids.jti.map(|j| scoped(Kind::Jti, iss, j)),
            ),
        };
        Some(TokenKeys {
            own: ids.iss.is_none(),
            sid,
            jti,
            iat: ids.iat,
            cut: OnceLock::new(),
        })
    }

    /// Whether the token is tollgate's own (not an upstream's).
    pub(crate) fn is_own(&self) -> bool {
        self.own
    }

    /// The subject's and the e-mail's cut-off keys; `ids` are the token's,
    /// as [`Self::new`] had them.
    fn cut_keys(&self, ids: &TokenIds<'_>) -> &([u8; 16], Option<[u8; 16]>) {
        self.cut.get_or_init(|| {
            let scope = ids.iss.unwrap_or("");
            (
                scoped(Kind::Sub, scope, ids.sub),
                ids.email.map(|e| scoped(Kind::Email, scope, e)),
            )
        })
    }
}

fn own_id(text: &str) -> Option<[u8; 16]> {
    Uuid::try_parse(text).ok().map(Uuid::into_bytes)
}

/// Where an entry goes and under which key.
enum Slot {
    Sid([u8; 16]),
    Jti([u8; 16]),
    Upstream([u8; 16]),
    Cutoff([u8; 16], i64),
}

fn slot(target: &Revoked) -> Slot {
    match target {
        Revoked::Sid(id) => Slot::Sid(id.into_bytes()),
        Revoked::Jti(id) => Slot::Jti(id.into_bytes()),
        Revoked::UpstreamSid { iss, sid } => Slot::Upstream(scoped(Kind::Sid, iss, sid)),
        Revoked::UpstreamJti { iss, jti } => Slot::Upstream(scoped(Kind::Jti, iss, jti)),
        Revoked::Subject { iss, sub, before } => Slot::Cutoff(
            scoped(Kind::Sub, iss.as_deref().unwrap_or(""), sub),
            *before,
        ),
        Revoked::Email { iss, email, before } => Slot::Cutoff(
            scoped(Kind::Email, iss.as_deref().unwrap_or(""), email),
            *before,
        ),
        Revoked::Upstream { key, .. } => Slot::Upstream(*key),
        Revoked::Cutoff { key, before, .. } => Slot::Cutoff(*key, *before),
    }
}

impl RevocationSet {
    /// An empty set with no cursor: the next feed request asks for a snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one feed page: a `reset` page replaces the set, any other adds
    /// to it. The cursor moves to the page's cursor.
    pub fn apply(&mut self, page: &RevocationFeed) {
        if page.reset {
            *self = Self::from_entries(&page.revoked);
        } else {
            for entry in &page.revoked {
                self.insert_slot(slot(&entry.target), entry.until);
            }
        }
        self.cursor = Some(page.cursor.clone());
    }

    /// A set of exactly these entries, each table allocated at its size.
    fn from_entries(entries: &[RevocationEntry]) -> Self {
        let (mut sids, mut jtis, mut upstream, mut cutoffs) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let count = |own: fn(&Revoked) -> bool| entries.iter().filter(|e| own(&e.target)).count();
        sids.reserve_exact(count(|t| matches!(t, Revoked::Sid(_))));
        jtis.reserve_exact(count(|t| matches!(t, Revoked::Jti(_))));
        for entry in entries {
            match slot(&entry.target) {
                Slot::Sid(id) => sids.push(Entry::new(id, entry.until)),
                Slot::Jti(id) => jtis.push(Entry::new(id, entry.until)),
                Slot::Upstream(id) => upstream.push(Entry::new(id, entry.until)),
                Slot::Cutoff(id, before) => cutoffs.push(Entry::new(
                    id,
                    Cutoff {
                        before,
                        until: entry.until,
                    },
                )),
            }
        }
        RevocationSet {
            sids: Table::from_entries(sids),
            jtis: Table::from_entries(jtis),
            upstream: Table::from_entries(upstream),
            cutoffs: Table::from_entries(cutoffs),
            cursor: None,
        }
    }

    /// Adds one revocation. If the target is already revoked, the later
    /// `until` (and for a cut-off, the later `before`) wins.
    pub fn insert(&mut self, target: Revoked, until: i64) {
        self.insert_slot(slot(&target), until);
    }

    fn insert_slot(&mut self, slot: Slot, until: i64) {
        match slot {
            Slot::Sid(id) => self.sids.insert(id, until),
            Slot::Jti(id) => self.jtis.insert(id, until),
            Slot::Upstream(id) => self.upstream.insert(id, until),
            Slot::Cutoff(id, before) => self.cutoffs.insert(id, Cutoff { before, until }),
        }
    }

    /// Whether a tollgate token with this session and token id is revoked.
    ///
    /// An entry revokes for as long as the set holds it, whatever the clock
    /// says: dropping it is [`prune`](Self::prune)'s job alone, so a verifier
    /// with a larger leeway than the issuer's cannot resurrect a token.
    pub fn is_revoked(&self, sid: &Uuid, jti: &Uuid) -> bool {
        self.sids.get(sid.as_bytes()).is_some() || self.jtis.get(jti.as_bytes()).is_some()
    }

    /// Whether any held entry revokes the token: its session, its id, or a
    /// cut-off of its subject at or after its `iat`.
    pub(crate) fn revokes(&self, token: &TokenKeys, ids: &TokenIds<'_>) -> bool {
        let (sids, jtis) = if token.own {
            (&self.sids, &self.jtis)
        } else {
            (&self.upstream, &self.upstream)
        };
        let cut = |key: &[u8; 16]| {
            self.cutoffs
                .get(key)
                .is_some_and(|cutoff| token.iat <= cutoff.before)
        };
        token.sid.is_some_and(|sid| sids.get(&sid).is_some())
            || token.jti.is_some_and(|jti| jtis.get(&jti).is_some())
            || (!self.cutoffs.is_empty() && {
                let (sub, email) = token.cut_keys(ids);
                cut(sub) || email.as_ref().is_some_and(cut)
            })
    }

    /// The `until` of a held entry, if `target` is revoked. For a cut-off,
    /// only if the held one reaches at least as far as `target`'s `before`.
    pub fn until(&self, target: &Revoked) -> Option<i64> {
        match slot(target) {
            Slot::Sid(id) => self.sids.get(&id),
            Slot::Jti(id) => self.jtis.get(&id),
            Slot::Upstream(id) => self.upstream.get(&id),
            Slot::Cutoff(id, before) => self
                .cutoffs
                .get(&id)
                .filter(|held| held.before >= before)
                .map(|held| held.until),
        }
    }

    /// Drops the entries whose `until` is before `before` and returns how many.
    ///
    /// Pass the current time less your verification leeway: a token is
    /// accepted up to `exp + leeway`, so its entry must outlive that.
    pub fn prune(&mut self, before: i64) -> usize {
        self.sids.prune(before)
            + self.jtis.prune(before)
            + self.upstream.prune(before)
            + self.cutoffs.prune(before)
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.sids.len() + self.jtis.len() + self.upstream.len() + self.cutoffs.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cursor of the last page applied; `None` until a snapshot arrived.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Forgets everything, cursor included: the next sync loads a snapshot.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

/// What a table holds for an id.
trait Held: Copy + core::fmt::Debug {
    /// After this the entry may be pruned.
    fn until(&self) -> i64;
    /// Two entries for one id: the one that revokes more, for longer.
    fn join(self, other: Self) -> Self;
}

impl Held for i64 {
    fn until(&self) -> i64 {
        *self
    }

    fn join(self, other: Self) -> Self {
        self.max(other)
    }
}

/// A subject cut-off: tokens issued at or before `before` are revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cutoff {
    before: i64,
    until: i64,
}

impl Held for Cutoff {
    fn until(&self) -> i64 {
        self.until
    }

    fn join(self, other: Self) -> Self {
        Cutoff {
            before: self.before.max(other.before),
            until: self.until.max(other.until),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry<V> {
    id: [u8; 16],
    value: V,
}

impl<V> Entry<V> {
    fn new(id: [u8; 16], value: V) -> Self {
        Entry { id, value }
    }
}

/// One id space. `sorted` and `recent` never share an id.
#[derive(Debug, Clone)]
struct Table<V> {
    /// Sorted by id, no duplicates.
    sorted: Vec<Entry<V>>,
    /// Entries added since the last merge.
    recent: HashMap<[u8; 16], V>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            sorted: Vec::new(),
            recent: HashMap::new(),
        }
    }
}

impl<V: Held> Table<V> {
    fn from_entries(mut entries: Vec<Entry<V>>) -> Self {
        sort_by_id(&mut entries, &|e| e.id);
        // `dedup_by` hands us (later, kept): fold the later into the kept one.
        entries.dedup_by(|later, kept| {
            let same = later.id == kept.id;
            if same {
                kept.value = kept.value.join(later.value);
            }
            same
        });
        shrink_if_loose(&mut entries);
        Table {
            sorted: entries,
            recent: HashMap::new(),
        }
    }

    fn position(&self, id: &[u8; 16]) -> Result<usize, usize> {
        self.sorted.binary_search_by(|e| e.id.cmp(id))
    }

    fn get(&self, id: &[u8; 16]) -> Option<V> {
        if let Some(value) = self.recent.get(id) {
            return Some(*value);
        }
        self.position(id).ok().map(|i| self.sorted[i].value)
    }

    fn insert(&mut self, id: [u8; 16], value: V) {
        if let Ok(i) = self.position(&id) {
            let held = &mut self.sorted[i].value;
            *held = held.join(value);
            return;
        }
        let held = self.recent.entry(id).or_insert(value);
        *held = held.join(value);
        if self.recent.len() > MERGE_MIN.max(self.sorted.len() / 8) {
            self.merge();
        }
    }

    /// Moves `recent` into `sorted`, allocating the result at its exact size.
    fn merge(&mut self) {
        let mut recent: Vec<Entry<V>> = self
            .recent
            .drain()
            .map(|(id, value)| Entry { id, value })
            .collect();
        sort_by_id(&mut recent, &|e| e.id);
        let mut merged = Vec::with_capacity(self.sorted.len() + recent.len());
        let (mut old, mut new) = (self.sorted.iter().peekable(), recent.iter().peekable());
        loop {
            let next = match (old.peek(), new.peek()) {
                (Some(a), Some(b)) if a.id < b.id => old.next(),
                (Some(_), Some(_)) | (None, Some(_)) => new.next(),
                (Some(_), None) => old.next(),
                (None, None) => break,
            };
            merged.extend(next.copied());
        }
        self.sorted = merged;
        self.recent = HashMap::new();
    }

    fn prune(&mut self, before: i64) -> usize {
        let held = self.len();
        self.sorted.retain(|e| e.value.until() >= before);
        self.recent.retain(|_, value| value.until() >= before);
        shrink_if_loose(&mut self.sorted);
        held - self.len()
    }

    fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Gives memory back when a vector uses less than half of what it holds.
fn shrink_if_loose<V>(entries: &mut Vec<Entry<V>>) {
    if entries.capacity() > 2 * entries.len() + MERGE_MIN {
        entries.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> [u8; 16] {
        Uuid::from_u128(n).into_bytes()
    }

    /// Inserting past several merges keeps every entry findable, with the later `until`.
    #[test]
    fn merges_keep_every_entry_and_the_later_until() {
        let mut table = Table::<i64>::default();
        for n in 0..10_000u128 {
            table.insert(id(n * 7919 % 10_007), 100);
        }
        table.insert(id(5), 50);
        table.insert(id(6), 500);
        assert_eq!(table.len(), 10_000);
        assert!(!table.sorted.is_empty(), "merges happened");
        for n in 0..10_000u128 {
            let expected = if n * 7919 % 10_007 == 6 { 500 } else { 100 };
            assert_eq!(table.get(&id(n * 7919 % 10_007)), Some(expected));
        }
        assert!(table.sorted.windows(2).all(|w| w[0].id < w[1].id));
        assert!(
            table
                .sorted
                .iter()
                .all(|e| !table.recent.contains_key(&e.id))
        );
    }

    /// Duplicates in a snapshot collapse to one entry with the latest `until`.
    #[test]
    fn snapshot_duplicates_keep_the_latest_until() {
        let table = Table::from_entries(vec![
            Entry::new(id(1), 10i64),
            Entry::new(id(2), 5),
            Entry::new(id(1), 30),
            Entry::new(id(1), 20),
        ]);
        assert_eq!(table.len(), 2);
        assert_eq!(table.get(&id(1)), Some(30));
    }

    /// Pruning drops exactly the entries whose `until` is before the bound.
    #[test]
    fn prune_drops_only_entries_before_the_bound() {
        let mut table = Table::<i64>::default();
        for n in 0..3000u128 {
            table.insert(id(n), n as i64);
        }
        assert_eq!(table.prune(1000), 1000);
        assert_eq!(table.get(&id(999)), None);
        assert_eq!(table.get(&id(1000)), Some(1000));
        assert_eq!(table.len(), 2000);
    }
}
