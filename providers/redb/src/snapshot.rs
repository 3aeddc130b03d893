//! The read snapshot that reads of `ENTRIES` share between commits.
//!
//! Opening a redb read transaction and its table is half the cost of a
//! point read. Between two commits every reader would open the same
//! snapshot, so the first one keeps it here and later ones reuse it.
//!
//! Invariants:
//! - the kept table is of a snapshot at least as new as the last commit
//!   that [`LatestEntries::forget`] followed: the committer forgets the
//!   kept table after every commit and before any write of that commit is
//!   acknowledged, so a read that starts after an acknowledgement opens a
//!   snapshot holding that write;
//! - a table is opened and kept under the lock, so a commit's `forget`
//!   cannot run between a reader opening an older snapshot and keeping it;
//! - the journal's applier [`LatestEntries::renew`]s the kept table after
//!   its commit instead of forgetting it, before any other commit can run
//!   (those wait for the applier), so the first read after a batch is
//!   applied does not pay for opening the snapshot;
//! - what is kept pins one snapshot's pages only until the next commit, and
//!   is forgotten when the provider closes, before the database closes.

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError},
};

use redb::{Database, ReadOnlyTable, ReadableDatabase};
use stateplug_provider_api::ProviderResult;

use crate::errors::AtPath;
use crate::schema::ENTRIES;

/// The `ENTRIES` table of a read snapshot.
pub(crate) type EntriesTable = ReadOnlyTable<&'static [u8], &'static [u8]>;

/// The `ENTRIES` table of the newest snapshot a reader opened since the
/// last commit, if any.
#[derive(Default)]
pub(crate) struct LatestEntries {
    kept: Mutex<Option<Arc<EntriesTable>>>,
}

impl LatestEntries {
    /// The `ENTRIES` table of a snapshot that holds every commit made
    /// before this call.
    pub(crate) fn get(&self, db: &Database, path: &Path) -> ProviderResult<Arc<EntriesTable>> {
        // The slot is only ever replaced whole, so a lock a panic poisoned is used as is.
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(table) = kept.as_ref() {
            return Ok(Arc::clone(table));
        }
        let table = Arc::new(db.begin_read().at(path)?.open_table(ENTRIES).at(path)?);
        *kept = Some(Arc::clone(&table));
        Ok(table)
    }

    /// Called by the journal's applier after its commit, before any other
    /// commit: keeps the new snapshot for later reads. When it cannot be
    /// opened it is forgotten instead, and the next read that opens it
    /// reports why.
    pub(crate) fn renew(&self, db: &Database) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let renewed = db
            .begin_read()
            .ok()
            .and_then(|txn| txn.open_table(ENTRIES).ok())
            .map(Arc::new);
        let old = std::mem::replace(&mut *kept, renewed);
        drop(kept);
        // The old snapshot closes here, outside the lock, unless a reader still holds it.
        drop(old);
    }

    /// Called after every commit: later reads open a snapshot of their own.
    pub(crate) fn forget(&self) {
        let dropped = self
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // The snapshot closes here, outside the lock, unless a reader still holds it.
        drop(dropped);
    }
}
