//! What a watcher receives, and what the layer sends all its watchers.

use std::sync::Arc;

use crate::store::ChangeRecord;

/// What a [`Watcher`](crate::layers::Watcher) yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// The changes of one write (a `set`, a `set_many`, a transaction, a
    /// `clear_store`...) that match the watcher, in the write's order; never
    /// empty. A write's changes always arrive together. Each change's
    /// version is the write's revision, also for a deletion, so changes of
    /// every kind order by version.
    Changes(Vec<ChangeRecord>),
    /// The watcher fell behind and `missed` writes' batches were dropped for
    /// it (counted over the whole layer, so some of them may be batches the
    /// watcher would have filtered out). Later events follow; re-read the
    /// watched keys to resynchronise. When the layer itself lost its place in
    /// a provider's change feed (the provider no longer retained it), every
    /// watcher gets this, with `missed` the number of feed positions skipped.
    Lagged {
        /// How many batches were dropped.
        missed: u64,
    },
}

/// What the layer sends its watchers.
#[derive(Debug)]
pub(super) enum Published {
    /// One write's changes, all of one store_id.
    Changes(Vec<ChangeRecord>),
    /// The layer lost its place in the provider's change feed and skipped
    /// this many positions.
    Missed(u64),
}

/// One message, shared by every watcher.
pub(super) type Batch = Arc<Published>;
