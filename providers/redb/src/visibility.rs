//! Readers see a write only once it is durable, although the group-commit
//! leader commits a group to redb (in memory) while the group's journal
//! record is still being synced.
//!
//! The leader opens a *window* around that commit and closes it once the
//! sync has returned; a read snapshot is taken only outside a window:
//! - `seq` is odd exactly while a window is open; the leader holds `gate`
//!   for the whole window, and makes `seq` odd and then even again only
//!   while holding it;
//! - a reader reads `seq` (even), begins its redb read transaction, and
//!   reads `seq` again: the same value means no window opened meanwhile,
//!   so the snapshot holds no commit of an unsynced record. Otherwise it
//!   drops the snapshot, waits for the gate, and tries again; after a few
//!   tries it begins its transaction while holding the gate, where no
//!   window can open;
//! - when a record's sync fails after its group was committed to redb, the
//!   leader marks the gate `unsynced` before closing the window: every
//!   later read fails (the open database holds a write that may not be on
//!   disk) until the provider is reopened, which replays the journal.
//!
//! A read costs two atomic loads more when no write is in flight.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use redb::{Database, ReadTransaction, ReadableDatabase};
use stateplug_provider_api::{ProviderError, ProviderResult};

use crate::errors::AtPath;

/// Optimistic tries before a reader begins its snapshot under the gate.
const TRIES: usize = 3;

/// The gate between the leader's in-memory commits and readers.
#[derive(Default)]
pub(crate) struct Visibility {
    seq: AtomicU64,
    gate: Mutex<()>,
    unsynced: AtomicBool,
}

/// An open window; closing it (dropping it) makes its commit visible.
pub(crate) struct Window<'v> {
    visibility: &'v Visibility,
    _gate: MutexGuard<'v, ()>,
}

impl Visibility {
    /// Opens a window: until it is dropped, no reader takes a snapshot.
    pub(crate) fn open(&self) -> Window<'_> {
        // Nothing that can panic runs under the gate.
        let gate = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        self.seq.fetch_add(1, Ordering::SeqCst);
        Window {
            visibility: self,
            _gate: gate,
        }
    }

    /// A read snapshot holding only durable writes.
    pub(crate) fn begin_read(&self, db: &Database, path: &Path) -> ProviderResult<ReadTransaction> {
        for _ in 0..TRIES {
            let before = self.seq.load(Ordering::SeqCst);
            if before % 2 == 1 {
                drop(self.gate.lock().unwrap_or_else(|p| p.into_inner()));
                continue;
            }
            self.check(path)?;
            let txn = db.begin_read().at(path)?;
            if self.seq.load(Ordering::SeqCst) == before {
                return Ok(txn);
            }
        }
        let _gate = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        self.check(path)?;
        db.begin_read().at(path)
    }

    fn check(&self, path: &Path) -> ProviderResult<()> {
        if self.unsynced.load(Ordering::SeqCst) {
            return Err(ProviderError::storage(format!(
                "redb database file {}: a write's journal record could not be synced after the \
                 write was applied in memory, so this open database may show a write that is not \
                 on disk; reopen the provider (it replays the journal)",
                path.display()
            )));
        }
        Ok(())
    }
}

impl Window<'_> {
    /// Marks the open database as holding a commit whose record is not
    /// durable: every later read fails.
    pub(crate) fn unsynced(&self) {
        self.visibility.unsynced.store(true, Ordering::SeqCst);
    }
}

impl Drop for Window<'_> {
    fn drop(&mut self) {
        self.visibility.seq.fetch_add(1, Ordering::SeqCst);
    }
}
