//! What passes between the [`Syncer`](crate::Syncer) and the adapter that
//! performs its I/O: a [`Fetch`] to make, and the [`Outcome`] reported back.

/// What a fetch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchKind {
    /// `GET /.well-known/jwks.json`.
    Jwks,
    /// `GET /v1/revocations?since=...`.
    Feed,
}

/// A fetch the adapter must perform: `GET <issuer><path>`, done (headers and
/// body) by `deadline_ms`, then reported with
/// [`Syncer::on_response`](crate::Syncer::on_response), success or not.
///
/// The adapter runs it detached from whatever request asked for it (a
/// spawned task, workerd's `waitUntil`, a promise nobody cancels): a
/// client that hangs up must not take the fetch with it. Requests only wait
/// on the syncer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetch {
    /// Pass it back to [`Syncer::on_response`](crate::Syncer::on_response).
    pub id: u64,
    /// What it fetches.
    pub kind: FetchKind,
    /// Path and query, to append to the issuer's base URL.
    pub path: String,
    /// Unix ms after which the answer is no longer wanted: the adapter
    /// gives up then and reports a failure.
    pub deadline_ms: u64,
    /// No request waits for this fetch (a refresh ahead of the soft bound,
    /// a retry): an adapter may take its time over it, e.g. stagger its
    /// first look at a shared cache.
    pub background: bool,
    /// For adapters that share answers between verifiers (the edge's
    /// data-center cache): a copy of this answer observed at or after this
    /// time (Unix ms) is fresh enough to use instead of asking the issuer.
    /// `None`: ask the issuer.
    pub shared_fresh_ms: Option<u64>,
    /// A copy observed at or after this time is older than fresh, but newer
    /// than the state: it moves the state forward, and the syncer then asks
    /// again at once (from the copy's cursor). An adapter may return it
    /// rather than ask the issuer, so verifiers lagging on an old cursor
    /// catch up through the shared copies, and only the newest cursor costs
    /// an issuer fetch.
    pub shared_useful_ms: Option<u64>,
}

impl Fetch {
    pub(crate) fn with_path(mut self, path: String) -> Self {
        self.path = path;
        self
    }
}

/// What came back for a [`Fetch`].
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// A 200 with this body. `observed_ms` is when the answer was current:
    /// `None` for an answer from the issuer itself (the fetch's start is
    /// used), or the time a shared copy was fetched.
    Body {
        /// The response body.
        text: &'a str,
        /// When it was current, if it came from a shared copy.
        observed_ms: Option<u64>,
    },
    /// Anything else: a network error, a non-200 status, no complete answer
    /// by the deadline.
    Failed(&'a str),
}
