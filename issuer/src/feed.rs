//! The revocation feed (`GET /v1/revocations?since=<cursor>&limit=<n>`).
//!
//! A cursor is `<epoch>:<seq>`: the database's epoch and the last `seq` the
//! client has. The page logic is written once, over [`Store`]:
//!
//! - no cursor, a cursor of another epoch, or one that does not parse: a
//!   snapshot (`reset: true`), the unexpired entries in `seq` order;
//! - a cursor of ours: every entry with a higher `seq`, in `seq` order;
//! - a cursor above the log's high-water mark (the database was restored
//!   from an older backup): a snapshot, since the client's set may hold
//!   entries this database never had and miss ones it has.
//!
//! Both kinds are paged: a full page says `more: true` and its cursor is its
//! last entry's `seq`, so the client asks again from there. The pages after a
//! snapshot's first are ordinary deltas. An empty delta is an index range
//! probe plus one read of the sequence: no table scan.

use tollgate_verifier::RevocationFeed;

use crate::store::{LoggedRevocation, Store, StoreError};

/// Entries per page when the client does not say.
pub const DEFAULT_LIMIT: u32 = 1000;

/// The most entries one page may hold.
pub const MAX_LIMIT: u32 = 100_000;

/// A feed page for a client at `since`, at Unix time `now`.
pub async fn page(
    store: &dyn Store,
    since: Option<&str>,
    limit: u32,
    now: i64,
) -> Result<RevocationFeed, StoreError> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let Some(after) = since.and_then(|cursor| parse_cursor(cursor, store.epoch())) else {
        return snapshot(store, limit, now).await;
    };
    // One more than asked, to learn whether more are waiting.
    let mut entries = store.revocations_after(after, limit + 1).await?;
    if entries.is_empty() && after > store.high_water().await? {
        return snapshot(store, limit, now).await;
    }
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let last = entries.last().map_or(after, |e| e.seq);
    Ok(feed(store, last, false, more, &entries))
}

async fn snapshot(store: &dyn Store, limit: u32, now: i64) -> Result<RevocationFeed, StoreError> {
    let mut page = store.live_revocations(now, limit + 1).await?;
    let more = page.entries.len() > limit as usize;
    page.entries.truncate(limit as usize);
    // A full page continues from its last entry; a complete one from the head
    // of the same read, which may be past its last entry if the newest ones
    // have expired.
    let cursor = match page.entries.last() {
        Some(last) if more => last.seq,
        _ => page.head,
    };
    Ok(feed(store, cursor, true, more, &page.entries))
}

fn feed(
    store: &dyn Store,
    seq: i64,
    reset: bool,
    more: bool,
    entries: &[LoggedRevocation],
) -> RevocationFeed {
    RevocationFeed {
        cursor: format!("{}:{seq}", store.epoch()),
        reset,
        more,
        revoked: entries.iter().map(|e| e.entry).collect(),
    }
}

/// The `seq` of a cursor of this epoch; `None` for anything else.
fn parse_cursor(cursor: &str, epoch: &str) -> Option<i64> {
    let (cursor_epoch, seq) = cursor.split_once(':')?;
    if cursor_epoch != epoch {
        return None;
    }
    seq.parse().ok().filter(|seq: &i64| *seq >= 0)
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    /// Only well-formed cursors of this epoch give a position.
    #[test]
    fn cursors_parse_only_for_this_epoch() {
        assert_eq!(parse_cursor("abc:17", "abc"), Some(17));
        assert_eq!(parse_cursor("abc:0", "abc"), Some(0));
        for foreign in [
            "xyz:17", "abc:-1", "abc:", "abc", "abc:1:2", ":17", "abc:1e3", "",
        ] {
            assert_eq!(parse_cursor(foreign, "abc"), None, "{foreign}");
        }
    }
}
