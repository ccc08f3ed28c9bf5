//! Sorting the revocation tables' entries by their 16-byte id: an in-place
//! radix sort on the id's bytes, most significant first (American flag
//! sort), with insertion sort for short runs.
//!
//! Why not the standard library's sort: each table type stamped out its
//! own copy of it, about 18 KB of WebAssembly apiece at the crate's
//! opt-level, a fifth of what the npm package's lean build weighed beyond
//! its goal (docs/BENCHMARKS.md). This is a few hundred bytes a copy, and
//! faster on these keys: ids are UUIDs or SHA-256 prefixes, so the first
//! byte alone splits a table into 256 even buckets and the second byte
//! leaves runs of one or two. Keys that share long prefixes cost at most
//! one pass per byte (16), never a quadratic sort, and nothing is
//! allocated: the peak memory of a snapshot load stays the table itself.

/// Runs this short or shorter are finished by insertion sort.
const SHORT: usize = 24;

/// Sorts `items` by `id(item)`, ascending (bytewise, as `[u8; 16]` compares);
/// equal ids end up next to each other, in no set order.
pub(crate) fn sort_by_id<T>(items: &mut [T], id: &impl Fn(&T) -> [u8; 16]) {
    sort_from(items, 0, id);
}

fn sort_from<T>(items: &mut [T], byte: usize, id: &impl Fn(&T) -> [u8; 16]) {
    if items.len() <= SHORT || byte == 16 {
        insertion_sort(items, id);
        return;
    }
    let mut counts = [0usize; 256];
    for item in items.iter() {
        counts[usize::from(id(item)[byte])] += 1;
    }
    // Where each bucket starts, and how far it is filled.
    let mut next = [0usize; 256];
    let mut ends = [0usize; 256];
    let mut start = 0;
    for bucket in 0..256 {
        next[bucket] = start;
        start += counts[bucket];
        ends[bucket] = start;
    }
    // Each swap puts one item in its bucket for good.
    for bucket in 0..256 {
        while next[bucket] < ends[bucket] {
            let home = usize::from(id(&items[next[bucket]])[byte]);
            if home == bucket {
                next[bucket] += 1;
            } else {
                items.swap(next[bucket], next[home]);
                next[home] += 1;
            }
        }
    }
    let mut start = 0;
    for end in ends {
        if end - start > 1 {
            sort_from(&mut items[start..end], byte + 1, id);
        }
        start = end;
    }
}

fn insertion_sort<T>(items: &mut [T], id: &impl Fn(&T) -> [u8; 16]) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && id(&items[j - 1]) > id(&items[j]) {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(mut ids: Vec<[u8; 16]>) {
        let mut expected = ids.clone();
        expected.sort_unstable();
        sort_by_id(&mut ids, &|id| *id);
        assert_eq!(ids, expected);
    }

    proptest! {
        /// Any ids, random or sharing prefixes of any length, sort as the
        /// standard sort orders them.
        #[test]
        fn sorts_as_the_standard_sort(
            prefix in proptest::collection::vec(any::<u8>(), 0..16),
            ids in proptest::collection::vec(any::<[u8; 16]>(), 0..600),
        ) {
            let shared = ids.iter().map(|id| {
                let mut id = *id;
                id[..prefix.len()].copy_from_slice(&prefix);
                id
            });
            check(shared.collect());
            check(ids);
        }
    }

    /// Many equal ids, and ids that differ only in the last byte.
    #[test]
    fn duplicates_and_long_prefixes() {
        check(vec![[7; 16]; 1000]);
        check(
            (0..2000u32)
                .rev()
                .map(|n| {
                    let mut id = [0; 16];
                    id[12..].copy_from_slice(&n.to_be_bytes());
                    id
                })
                .collect(),
        );
    }
}
