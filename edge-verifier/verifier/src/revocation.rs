//! The set of revoked sessions and tokens a verifier holds in memory.
//!
//! The rule that shapes it: **an entry is never dropped before its `until`**,
//! however many there are. There is no size cap; instead each entry is made
//! small. A table is a sorted `Vec` of 24-byte entries (16-byte UUID and an
//! `i64`) searched by bisection, plus a small hash map that takes new deltas
//! and is merged into the vector when it grows past an eighth of it. At a
//! million entries that is about 25 bytes an entry (measured in
//! `tests/memory.rs`), where a hash map of the same entries would need about
//! 52 by arithmetic (2^21 buckets of 25 bytes).

use std::collections::HashMap;

use uuid::Uuid;

use crate::feed::{RevocationEntry, RevocationFeed, Revoked};

/// The smallest number of recent entries worth a merge.
const MERGE_MIN: usize = 1024;

/// Revoked device sessions (`sid`) and tokens (`jti`), with the feed cursor
/// they are current to.
#[derive(Debug, Clone, Default)]
pub struct RevocationSet {
    sids: Table,
    jtis: Table,
    cursor: Option<String>,
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
            let (sids, jtis) = split(&page.revoked);
            self.sids = Table::from_entries(sids);
            self.jtis = Table::from_entries(jtis);
        } else {
            for entry in &page.revoked {
                self.insert(entry.target, entry.until);
            }
        }
        self.cursor = Some(page.cursor.clone());
    }

    /// Adds one revocation. If the target is already revoked, the later `until` wins.
    pub fn insert(&mut self, target: Revoked, until: i64) {
        match target {
            Revoked::Sid(id) => self.sids.insert(id, until),
            Revoked::Jti(id) => self.jtis.insert(id, until),
        }
    }

    /// Whether a token with this session and token id is revoked.
    ///
    /// An entry revokes for as long as the set holds it, whatever the clock
    /// says: dropping it is [`prune`](Self::prune)'s job alone, so a verifier
    /// with a larger leeway than the issuer's cannot resurrect a token.
    pub fn is_revoked(&self, sid: &Uuid, jti: &Uuid) -> bool {
        self.sids.get(sid).is_some() || self.jtis.get(jti).is_some()
    }

    /// The `until` of a held entry, if `target` is revoked.
    pub fn until(&self, target: &Revoked) -> Option<i64> {
        match target {
            Revoked::Sid(id) => self.sids.get(id),
            Revoked::Jti(id) => self.jtis.get(id),
        }
    }

    /// Drops the entries whose `until` is before `before` and returns how many.
    ///
    /// Pass the current time less your verification leeway: a token is
    /// accepted up to `exp + leeway`, so its entry must outlive that.
    pub fn prune(&mut self, before: i64) -> usize {
        self.sids.prune(before) + self.jtis.prune(before)
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.sids.len() + self.jtis.len()
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

/// Splits a page into sid and jti entries, each allocated at its exact size.
fn split(entries: &[RevocationEntry]) -> (Vec<Entry>, Vec<Entry>) {
    let sid_count = entries
        .iter()
        .filter(|e| matches!(e.target, Revoked::Sid(_)))
        .count();
    let mut sids = Vec::with_capacity(sid_count);
    let mut jtis = Vec::with_capacity(entries.len() - sid_count);
    for entry in entries {
        match entry.target {
            Revoked::Sid(id) => sids.push(Entry::new(id, entry.until)),
            Revoked::Jti(id) => jtis.push(Entry::new(id, entry.until)),
        }
    }
    (sids, jtis)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: [u8; 16],
    until: i64,
}

impl Entry {
    fn new(id: Uuid, until: i64) -> Self {
        Entry {
            id: id.into_bytes(),
            until,
        }
    }
}

/// One id space (sids or jtis). `sorted` and `recent` never share an id.
#[derive(Debug, Clone, Default)]
struct Table {
    /// Sorted by id, no duplicates.
    sorted: Vec<Entry>,
    /// Entries added since the last merge.
    recent: HashMap<[u8; 16], i64>,
}

impl Table {
    fn from_entries(mut entries: Vec<Entry>) -> Self {
        entries.sort_unstable_by_key(|e| e.id);
        // `dedup_by` hands us (later, kept): keep the later `until` in the kept one.
        entries.dedup_by(|later, kept| {
            let same = later.id == kept.id;
            if same {
                kept.until = kept.until.max(later.until);
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

    fn get(&self, id: &Uuid) -> Option<i64> {
        let id = id.as_bytes();
        if let Some(until) = self.recent.get(id) {
            return Some(*until);
        }
        self.position(id).ok().map(|i| self.sorted[i].until)
    }

    fn insert(&mut self, id: Uuid, until: i64) {
        let id = id.into_bytes();
        if let Ok(i) = self.position(&id) {
            let held = &mut self.sorted[i].until;
            *held = (*held).max(until);
            return;
        }
        let held = self.recent.entry(id).or_insert(until);
        *held = (*held).max(until);
        if self.recent.len() > MERGE_MIN.max(self.sorted.len() / 8) {
            self.merge();
        }
    }

    /// Moves `recent` into `sorted`, allocating the result at its exact size.
    fn merge(&mut self) {
        let mut recent: Vec<Entry> = self
            .recent
            .drain()
            .map(|(id, until)| Entry { id, until })
            .collect();
        recent.sort_unstable_by_key(|e| e.id);
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
        self.sorted.retain(|e| e.until >= before);
        self.recent.retain(|_, until| *until >= before);
        shrink_if_loose(&mut self.sorted);
        held - self.len()
    }

    fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }
}

/// Gives memory back when a vector uses less than half of what it holds.
fn shrink_if_loose(entries: &mut Vec<Entry>) {
    if entries.capacity() > 2 * entries.len() + MERGE_MIN {
        entries.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Inserting past several merges keeps every entry findable, with the later `until`.
    #[test]
    fn merges_keep_every_entry_and_the_later_until() {
        let mut table = Table::default();
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
            Entry::new(id(1), 10),
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
        let mut table = Table::default();
        for n in 0..3000u128 {
            table.insert(id(n), n as i64);
        }
        assert_eq!(table.prune(1000), 1000);
        assert_eq!(table.get(&id(999)), None);
        assert_eq!(table.get(&id(1000)), Some(1000));
        assert_eq!(table.len(), 2000);
    }
}
