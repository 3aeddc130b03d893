//! One write call on one store: the tables of a redb write transaction, the
//! revision the call writes at, and the key-count bookkeeping.
//!
//! Invariants:
//! - every key put by one `StoreWriter` gets the same version, `revision`,
//!   which is one more than the last revision stored in `META`;
//! - `finish` stores `revision` in `META` and the store's new key count in
//!   `STORES` (removing the row at 0) exactly when something changed, so a
//!   call that changes nothing consumes no revision and leaves no row.
//! - when history is on (`META[HISTORY_VERSIONS]` > 0), every put and every
//!   delete of an existing key records `(store_id, key, revision)` in
//!   `HISTORY` in the same transaction and prunes the key to its newest
//!   `HISTORY_VERSIONS` rows; `clear` removes the store's history too.

use std::path::Path;

use redb::{ReadableTable, Table, WriteTransaction};
use stateplug_provider_api::{ProviderError, ProviderResult};

use crate::errors::AtPath;
use crate::schema::{
    key_history, StoreSpan, ENTRIES, HISTORY, HISTORY_VERSIONS, META, REVISION, STORES,
};

type EntriesTable<'t> = Table<'t, (&'static str, &'static str), (u64, &'static [u8])>;
type CountTable<'t> = Table<'t, &'static str, u64>;
type HistoryTable<'t> = Table<'t, (&'static str, &'static str, u64), Option<&'static [u8]>>;

/// The history table of a write transaction and how many versions per key it keeps.
struct HistoryWriter<'t> {
    table: HistoryTable<'t>,
    retain: u64,
}

/// The write side of one call on one store, inside one redb write transaction.
pub(crate) struct StoreWriter<'t> {
    path: &'t Path,
    store_id: &'t str,
    entries: EntriesTable<'t>,
    stores: CountTable<'t>,
    meta: CountTable<'t>,
    /// `Some` when history is on.
    history: Option<HistoryWriter<'t>>,
    /// The version every put of this call gets.
    revision: u64,
    added: u64,
    removed: u64,
    changed: bool,
}

impl<'t> StoreWriter<'t> {
    /// Opens the tables of `txn` for writing to `store_id`.
    pub(crate) fn open(
        txn: &'t WriteTransaction,
        path: &'t Path,
        store_id: &'t str,
    ) -> ProviderResult<Self> {
        let entries = txn.open_table(ENTRIES).at(path)?;
        let stores = txn.open_table(STORES).at(path)?;
        let meta = txn.open_table(META).at(path)?;
        let last = meta.get(REVISION).at(path)?.map(|g| g.value()).unwrap_or(0);
        let revision = last.checked_add(1).ok_or_else(|| {
            ProviderError::storage(format!(
                "redb database file {}: the revision counter is exhausted (u64::MAX); \
                 migrate the data to a new file",
                path.display()
            ))
        })?;
        let retain = meta
            .get(HISTORY_VERSIONS)
            .at(path)?
            .map(|g| g.value())
            .unwrap_or(0);
        let history = if retain > 0 {
            Some(HistoryWriter {
                table: txn.open_table(HISTORY).at(path)?,
                retain,
            })
        } else {
            None
        };
        Ok(StoreWriter {
            path,
            store_id,
            entries,
            stores,
            meta,
            history,
            revision,
            added: 0,
            removed: 0,
            changed: false,
        })
    }

    /// The current version of `key`, `None` if absent.
    pub(crate) fn version(&self, key: &str) -> ProviderResult<Option<u64>> {
        let found = self.entries.get((self.store_id, key)).at(self.path)?;
        Ok(found.map(|g| g.value().0))
    }

    /// Writes `value` under `key` at this call's revision, which it returns.
    pub(crate) fn put(&mut self, key: &str, value: &[u8]) -> ProviderResult<u64> {
        let existed = self
            .entries
            .insert((self.store_id, key), (self.revision, value))
            .at(self.path)?
            .is_some();
        if !existed {
            self.added += 1;
        }
        self.changed = true;
        self.record(key, Some(value))?;
        Ok(self.revision)
    }

    /// Removes `key`; returns whether it existed.
    pub(crate) fn delete(&mut self, key: &str) -> ProviderResult<bool> {
        let existed = self
            .entries
            .remove((self.store_id, key))
            .at(self.path)?
            .is_some();
        if existed {
            self.removed += 1;
            self.changed = true;
            self.record(key, None)?;
        }
        Ok(existed)
    }

    /// Records what this call wrote to `key` (`None`: deleted) in the
    /// history, then drops the key's versions beyond the newest `retain`.
    fn record(&mut self, key: &str, value: Option<&[u8]>) -> ProviderResult<()> {
        let Some(history) = self.history.as_mut() else {
            return Ok(());
        };
        history
            .table
            .insert((self.store_id, key, self.revision), value)
            .at(self.path)?;
        // The newest `retain` rows stay; the row after them (walking from
        // the newest) and every older one go.
        let mut newest_first = history
            .table
            .range(key_history(self.store_id, key))
            .at(self.path)?
            .rev();
        let cut = match newest_first.nth(history.retain as usize) {
            Some(row) => Some(row.at(self.path)?.0.value().2),
            None => None,
        };
        drop(newest_first);
        if let Some(cut) = cut {
            history
                .table
                .retain_in(
                    (self.store_id, key, 0)..=(self.store_id, key, cut),
                    |_, _| false,
                )
                .at(self.path)?;
        }
        Ok(())
    }

    /// Removes every key of the store and its history; returns how many
    /// keys there were. Removing history rows alone (a store whose keys
    /// were all deleted) is a change too.
    pub(crate) fn clear(&mut self) -> ProviderResult<u64> {
        let span = StoreSpan::new(self.store_id);
        let mut n = 0u64;
        if self.count()? > 0 {
            self.entries
                .retain_in(span.all(), |_, _| {
                    n += 1;
                    false
                })
                .at(self.path)?;
            self.removed += n;
            self.changed |= n > 0;
        }
        if let Some(history) = self.history.as_mut() {
            let mut rows = 0u64;
            history
                .table
                .retain_in(span.history(), |_, _| {
                    rows += 1;
                    false
                })
                .at(self.path)?;
            self.changed |= rows > 0;
        }
        Ok(n)
    }

    /// The store's key count as committed before this call.
    fn count(&self) -> ProviderResult<u64> {
        Ok(self
            .stores
            .get(self.store_id)
            .at(self.path)?
            .map(|g| g.value())
            .unwrap_or(0))
    }

    /// Records the revision and the new key count if anything changed.
    /// Returns the revision written, or `None` if nothing changed (the
    /// caller then aborts instead of committing).
    pub(crate) fn finish(mut self) -> ProviderResult<Option<u64>> {
        if !self.changed {
            return Ok(None);
        }
        if self.added != self.removed {
            let before = self.count()?;
            let count = before
                .checked_add(self.added)
                .and_then(|c| c.checked_sub(self.removed));
            let count = count.ok_or_else(|| {
                ProviderError::storage(format!(
                    "redb database file {}: the key count of store {:?} disagrees with its \
                     entries; the file is corrupt, restore from backup",
                    self.path.display(),
                    self.store_id
                ))
            })?;
            if count == 0 {
                self.stores.remove(self.store_id).at(self.path)?;
            } else {
                self.stores.insert(self.store_id, count).at(self.path)?;
            }
        }
        self.meta.insert(REVISION, self.revision).at(self.path)?;
        Ok(Some(self.revision))
    }
}
