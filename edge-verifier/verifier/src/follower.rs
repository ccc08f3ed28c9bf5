//! Following the feed: pages applied in order, and a snapshot (a `reset`
//! page and those after it) gathered apart and swapped in only when its last
//! page (`more: false`) has arrived. Until then the old set serves, so a
//! snapshot cut off half-way never leaves a verifier with half a set.

use crate::feed::RevocationFeed;
use crate::revocation::RevocationSet;

/// The served revocation set, and a snapshot being gathered.
#[derive(Debug, Clone, Default)]
pub struct Follower {
    live: RevocationSet,
    staging: Option<RevocationSet>,
}

impl Follower {
    /// Nothing held: the next request is for a snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one page. A `reset` page starts a new snapshot; the pages of
    /// a snapshot go into it; a page with `more: false` completes it, and
    /// it replaces the served set. Delta pages outside a snapshot only add
    /// revocations, so they apply to the served set at once.
    pub fn apply(&mut self, page: &RevocationFeed) {
        if page.reset {
            let mut fresh = RevocationSet::new();
            fresh.apply(page);
            self.staging = Some(fresh);
        } else {
            self.staging.as_mut().unwrap_or(&mut self.live).apply(page);
        }
        if !page.more {
            if let Some(snapshot) = self.staging.take() {
                self.live = snapshot;
            }
        }
    }

    /// Forgets a snapshot half gathered (its next page failed): the served
    /// set stays, and the next request starts from its cursor.
    pub fn abandon(&mut self) {
        self.staging = None;
    }

    /// The cursor to ask from next: the snapshot's being gathered, else the
    /// served set's.
    pub fn cursor(&self) -> Option<&str> {
        self.staging.as_ref().unwrap_or(&self.live).cursor()
    }

    /// The set tokens are checked against.
    pub fn live(&self) -> &RevocationSet {
        &self.live
    }

    /// Drops served entries whose `until` is before `before` (see
    /// [`RevocationSet::prune`]); returns how many.
    pub fn prune(&mut self, before: i64) -> usize {
        self.live.prune(before)
    }
}
