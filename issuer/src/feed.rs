//! The revocation feed (`GET /v1/revocations?since=<cursor>&limit=<n>`).
//!
//! A cursor is `<epoch>:<seq>:<tag>`: the database's epoch, the last `seq`
//! the client has, and a short digest of the entry at that `seq`. The page
//! logic is written once, over [`Store`]:
//!
//! - no cursor, a cursor of another epoch, or one that does not parse: a
//!   snapshot (`reset: true`), the unexpired entries in `seq` order;
//! - a cursor of ours whose entry is still there with the same digest:
//!   every entry with a higher `seq`, in `seq` order;
//! - a cursor whose entry is missing or different: a snapshot. That is what
//!   a database restored from a backup looks like to a follower that had
//!   gone further: new entries reuse `seq` values it has passed, and a delta
//!   from its cursor would skip them. Pruning never deletes the newest
//!   entry, so a follower that is keeping up always finds its own.
//!
//! Every page names the key-set version (`keys`), so verifiers learn of a
//! rotation or withdrawal on their ordinary sync.
//!
//! Both kinds are paged: a full page says `more: true` and its cursor is its
//! last entry, so the client asks again from there. The pages after a
//! snapshot's first are ordinary deltas.
//!
//! What is served comes from [`FeedCache`]: one read of the log's newest
//! entries and one of the snapshot's first page per log head, whatever
//! anonymous callers send. A cursor at seq 0, or one further behind than
//! the newest [`MAX_LIMIT`] seqs, gets the snapshot. [`page`] is the same
//! rules read straight from the store.

use sha2::{Digest, Sha256};
use tollgate_verifier::RevocationFeed;

use crate::metrics::Metrics;
use crate::store::{LoggedRevocation, Store, StoreError};

/// Entries per page when the client does not say.
pub const DEFAULT_LIMIT: u32 = 1000;

/// The most entries one page may hold: a public client may not make the
/// issuer read and serialize more than this per request.
pub const MAX_LIMIT: u32 = 1000;

/// How long a cached snapshot page may be served while the log's head has
/// not moved. Entries that expired meanwhile stay in it, which is harmless:
/// verifiers prune them.
const SNAPSHOT_CACHE_SECS: i64 = 10;

/// How far behind the head a follower may be and still get a delta: the
/// cached tail holds the entries after `head - TAIL_SEQS`. One further behind
/// gets a snapshot.
const TAIL_SEQS: i64 = MAX_LIMIT as i64;

/// What the feed serves from, read once per log head and shared by every
/// request: the snapshot's first page (for cold starts, garbage or foreign
/// cursors, a cursor at seq 0, any page size) and the log's newest entries
/// (for every delta). Concurrent misses wait for the one read rather than
/// each reading the table. So no anonymous request can make the issuer read
/// the log again while its head stays put: a feed request costs a
/// primary-key probe for its cursor, the head and the key-set version.
#[derive(Debug, Default)]
pub struct FeedCache {
    snapshot: tokio::sync::Mutex<Option<CachedSnapshot>>,
    tail: tokio::sync::Mutex<Option<CachedTail>>,
    /// Slots for deltas behind the tail ([`DEEP_READS`]).
    deep: std::sync::OnceLock<tokio::sync::Semaphore>,
    /// Appended to the database's key-set version on every page: the
    /// configured upstreams' rules, which live in configuration, not in
    /// the database ([`crate::upstream::Upstreams::version_suffix`]).
    keys_suffix: String,
}

/// How many deltas behind the cached tail are read from the log at once.
const DEEP_READS: usize = 2;

#[derive(Debug)]
struct CachedSnapshot {
    head: i64,
    keys: String,
    built_at: i64,
    /// The first page at [`MAX_LIMIT`], and its serialization.
    page: RevocationFeed,
    /// The entries with their `seq`, to cut smaller pages from.
    logged: Vec<LoggedRevocation>,
    body: bytes::Bytes,
}

/// Every entry with a `seq` above `after`, as read when the head was `head`.
#[derive(Debug)]
struct CachedTail {
    head: i64,
    after: i64,
    entries: Vec<LoggedRevocation>,
    /// Whether the read held all of them (it is bounded, and entries may
    /// commit past `head` while it runs).
    complete: bool,
}

/// What a feed request gets.
#[derive(Debug)]
pub enum Served {
    /// A snapshot page (`reset: true`), serialized.
    Snapshot(bytes::Bytes),
    /// A delta after the client's cursor.
    Delta(RevocationFeed),
}

impl FeedCache {
    /// A cache whose pages name the key-set version with `keys_suffix`.
    pub fn new(keys_suffix: impl Into<String>) -> Self {
        FeedCache {
            keys_suffix: keys_suffix.into(),
            ..FeedCache::default()
        }
    }

    /// The key-set version pages name (the JWKS names the same).
    async fn keys_version(&self, store: &dyn Store) -> Result<String, StoreError> {
        Ok(format!(
            "{}{}",
            store.keys_version().await?,
            self.keys_suffix
        ))
    }

    /// The page for a client at `since` (whatever it sent, or nothing) with
    /// at most `limit` entries, at `now`: a delta if `since` is a cursor of
    /// this log whose entry is still there and not too far behind, else the
    /// snapshot's first page. Every read of the log is counted in `metrics`.
    pub async fn serve(
        &self,
        store: &dyn Store,
        since: Option<&str>,
        limit: u32,
        now: i64,
        metrics: &Metrics,
    ) -> Result<Served, StoreError> {
        let limit = limit.clamp(1, MAX_LIMIT);
        match self.delta(store, since, limit, metrics).await? {
            Some(page) => Ok(Served::Delta(page)),
            None => self
                .snapshot(store, limit, now, metrics)
                .await
                .map(Served::Snapshot),
        }
    }

    /// The delta after `since`, from the cached tail; `None` when the client
    /// needs a snapshot (no cursor of ours, seq 0, an entry that is gone or
    /// different, or further behind than the tail reaches).
    async fn delta(
        &self,
        store: &dyn Store,
        since: Option<&str>,
        limit: u32,
        metrics: &Metrics,
    ) -> Result<Option<RevocationFeed>, StoreError> {
        let Some((after, tag)) = since
            .and_then(|cursor| parse_cursor(cursor, store.epoch()))
            .filter(|(after, _)| *after > 0)
        else {
            return Ok(None);
        };
        // The cursor must name an entry of this timeline.
        let position = match store.entry_at(after).await? {
            Some(entry) if digest(&entry) == tag => entry,
            _ => return Ok(None),
        };
        let head = store.head_seq().await?;
        let keys = self.keys_version(store).await?;
        let (entries, more) = if after >= head {
            // Caught up, the common poll: nothing to read.
            (Vec::new(), false)
        } else {
            let mut cached = self.tail.lock().await;
            // Read afresh when the head moved, or when the cached tail holds
            // another entry at the cursor's seq than the log does (the
            // database was restored under a running issuer).
            let stale = cached.as_ref().is_none_or(|tail| {
                tail.head != head
                    || (after > tail.after
                        && !tail
                            .entries
                            .iter()
                            .any(|e| e.seq == after && digest(e) == tag))
            });
            if stale {
                let from = head.saturating_sub(TAIL_SEQS).max(0);
                let cap = 2 * MAX_LIMIT;
                let entries = store.revocations_after(from, cap).await?;
                metrics.tail_read();
                *cached = Some(CachedTail {
                    head,
                    after: from,
                    complete: entries.len() < cap as usize,
                    entries,
                });
            }
            let Some(tail) = cached.as_ref() else {
                return Err(StoreError::Corrupt("the feed's tail cache is empty"));
            };
            if after < tail.after {
                // Further behind than the tail reaches (a snapshot's later
                // pages, a follower that fell behind): read from the log,
                // a few at a time, so a flood of old cursors costs a
                // bounded amount of database work.
                drop(cached);
                return self.deep_delta(store, after, limit, keys, metrics).await;
            }
            let newer = &tail.entries[tail.entries.partition_point(|e| e.seq <= after)..];
            let page = &newer[..newer.len().min(limit as usize)];
            let more = newer.len() > page.len() || !tail.complete && !newer.is_empty();
            (page.to_vec(), more)
        };
        let last = entries.last().cloned().unwrap_or(position);
        let mut page = feed(store, Some(&last), false, more, &entries);
        page.keys = Some(keys);
        Ok(Some(page))
    }

    /// A delta for a cursor behind the cached tail, read from the log while
    /// holding one of [`DEEP_READS`] slots (429 if none frees up in time).
    async fn deep_delta(
        &self,
        store: &dyn Store,
        after: i64,
        limit: u32,
        keys: String,
        metrics: &Metrics,
    ) -> Result<Option<RevocationFeed>, StoreError> {
        let slots = self
            .deep
            .get_or_init(|| tokio::sync::Semaphore::new(DEEP_READS));
        let Ok(Ok(_slot)) = tokio::time::timeout(crate::slots::SLOT_WAIT, slots.acquire()).await
        else {
            return Err(StoreError::Busy);
        };
        metrics.deep_read();
        let Some(mut page) = read_delta(store, after, limit).await? else {
            return Ok(None);
        };
        page.keys = Some(keys);
        Ok(Some(page))
    }

    /// The snapshot's first page of at most `limit` entries, serialized.
    async fn snapshot(
        &self,
        store: &dyn Store,
        limit: u32,
        now: i64,
        metrics: &Metrics,
    ) -> Result<bytes::Bytes, StoreError> {
        // Read before the page is built: an append that commits after this
        // read moves the head, and the next request builds afresh.
        let head = store.head_seq().await?;
        let keys = self.keys_version(store).await?;
        let mut cached = self.snapshot.lock().await;
        let fresh = cached.as_ref().is_some_and(|c| {
            c.head == head
                && c.keys == keys
                && (0..SNAPSHOT_CACHE_SECS).contains(&(now - c.built_at))
        });
        if !fresh {
            let (mut page, logged) = snapshot(store, MAX_LIMIT, now).await?;
            page.keys = Some(keys.clone());
            metrics.snapshot_built();
            let body = serialize(&page)?;
            *cached = Some(CachedSnapshot {
                head,
                keys,
                built_at: now,
                page,
                logged,
                body,
            });
        }
        let Some(hit) = cached.as_ref() else {
            return Err(StoreError::Corrupt("the snapshot cache is empty"));
        };
        let limit = limit as usize;
        if hit.logged.len() <= limit {
            return Ok(hit.body.clone());
        }
        // A smaller page: the cached one's beginning, continued from its last entry.
        let cut = &hit.logged[..limit];
        let mut page = feed(store, cut.last(), true, true, cut);
        page.keys.clone_from(&hit.page.keys);
        serialize(&page)
    }
}

fn serialize(page: &RevocationFeed) -> Result<bytes::Bytes, StoreError> {
    serde_json::to_vec(page)
        .map(bytes::Bytes::from)
        .map_err(|_| StoreError::Corrupt("a feed page did not serialize"))
}

/// A feed page for a client at `since`, at Unix time `now`.
pub async fn page(
    store: &dyn Store,
    since: Option<&str>,
    limit: u32,
    now: i64,
) -> Result<RevocationFeed, StoreError> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut page = entries_page(store, since, limit, now).await?;
    page.keys = Some(store.keys_version().await?);
    Ok(page)
}

async fn entries_page(
    store: &dyn Store,
    since: Option<&str>,
    limit: u32,
    now: i64,
) -> Result<RevocationFeed, StoreError> {
    match cursor_delta(store, since, limit).await? {
        Some(page) => Ok(page),
        None => Ok(snapshot(store, limit, now).await?.0),
    }
}

/// The delta after `since`, read from the log, if it is a cursor of this
/// timeline whose entry is still there; `None` means the client needs a
/// snapshot. (The served path cuts deltas from [`FeedCache`]'s tail.)
async fn cursor_delta(
    store: &dyn Store,
    since: Option<&str>,
    limit: u32,
) -> Result<Option<RevocationFeed>, StoreError> {
    let Some((after, tag)) = since.and_then(|cursor| parse_cursor(cursor, store.epoch())) else {
        return Ok(None);
    };
    // Seq 0 is before the first entry; any other cursor must name an entry
    // of this timeline.
    if after != 0 {
        match store.entry_at(after).await? {
            Some(entry) if digest(&entry) == tag => {}
            _ => return Ok(None),
        }
    }
    read_delta(store, after, limit).await
}

/// Every entry after `after` (a position of this timeline), a page of
/// them, read from the log; `None` if the entry at `after` is gone.
async fn read_delta(
    store: &dyn Store,
    after: i64,
    limit: u32,
) -> Result<Option<RevocationFeed>, StoreError> {
    let position = if after == 0 {
        None
    } else {
        match store.entry_at(after).await? {
            Some(entry) => Some(entry),
            None => return Ok(None),
        }
    };
    // One more than asked, to learn whether more are waiting.
    let mut entries = store.revocations_after(after, limit + 1).await?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let last = entries.last().cloned().or(position);
    Ok(Some(feed(store, last.as_ref(), false, more, &entries)))
}

async fn snapshot(
    store: &dyn Store,
    limit: u32,
    now: i64,
) -> Result<(RevocationFeed, Vec<LoggedRevocation>), StoreError> {
    // Entries stay in snapshots for the most leeway any verifier may allow
    // past their `until`, which covers only this issuer's leeway: a verifier
    // accepts a token until exp + its own leeway, and one that has just
    // loaded a snapshot must still hold the entry then.
    let horizon = now.saturating_sub(i64::from(tollgate_verifier::MAX_LEEWAY_SECS));
    let mut page = store.live_revocations(horizon, limit + 1).await?;
    let more = page.entries.len() > limit as usize;
    page.entries.truncate(limit as usize);
    // A full page continues from its last entry; a complete one from the head
    // of the same read, which may be past its last entry if the newest ones
    // have expired.
    let cursor = match page.entries.last() {
        Some(last) if more => Some(last.clone()),
        _ => page.head,
    };
    Ok((
        feed(store, cursor.as_ref(), true, more, &page.entries),
        page.entries,
    ))
}

/// A page whose cursor is `last` (none: before the first entry).
fn feed(
    store: &dyn Store,
    last: Option<&LoggedRevocation>,
    reset: bool,
    more: bool,
    entries: &[LoggedRevocation],
) -> RevocationFeed {
    let cursor = match last {
        Some(entry) => format!("{}:{}:{}", store.epoch(), entry.seq, digest(entry)),
        None => format!("{}:0:0", store.epoch()),
    };
    RevocationFeed {
        cursor,
        reset,
        more,
        keys: None,
        revoked: entries.iter().map(|e| e.entry.clone()).collect(),
    }
}

/// A short digest of an entry: what it revokes and until when. Two
/// timelines that reuse a `seq` for different revocations differ here.
/// tollgate's own entries hash as they always have (cursors stay valid
/// across the upgrade); an upstream's by its JSON.
fn digest(entry: &LoggedRevocation) -> String {
    use tollgate_verifier::Revoked;
    let mut hash = Sha256::new();
    match &entry.entry.target {
        Revoked::Sid(id) => {
            hash.update([b's']);
            hash.update(id.as_bytes());
        }
        Revoked::Jti(id) => {
            hash.update([b'j']);
            hash.update(id.as_bytes());
        }
        _ => {
            hash.update([b'u']);
            hash.update(serde_json::to_vec(&entry.entry).unwrap_or_default());
        }
    }
    hash.update(entry.entry.until.to_be_bytes());
    let bytes = hash.finalize();
    bytes[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The `seq` and digest of a cursor of this epoch; `None` for anything else.
fn parse_cursor<'a>(cursor: &'a str, epoch: &str) -> Option<(i64, &'a str)> {
    let mut parts = cursor.split(':');
    let (cursor_epoch, seq, tag) = (parts.next()?, parts.next()?, parts.next()?);
    if cursor_epoch != epoch || parts.next().is_some() {
        return None;
    }
    let seq = seq.parse().ok().filter(|seq: &i64| *seq >= 0)?;
    Some((seq, tag))
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    /// Only well-formed cursors of this epoch give a position.
    #[test]
    fn cursors_parse_only_for_this_epoch() {
        assert_eq!(parse_cursor("abc:17:0a1b", "abc"), Some((17, "0a1b")));
        assert_eq!(parse_cursor("abc:0:0", "abc"), Some((0, "0")));
        for foreign in [
            "xyz:17:0",
            "abc:-1:0",
            "abc::0",
            "abc",
            "abc:17",
            "abc:1:2:3",
            ":17:0",
            "abc:1e3:0",
            "",
        ] {
            assert_eq!(parse_cursor(foreign, "abc"), None, "{foreign}");
        }
    }
}
