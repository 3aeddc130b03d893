//! The write side of one redb write transaction: its tables, opened once,
//! and a [`StoreWriter`] per write call on one store.
//!
//! Invariants:
//! - every key put by one `StoreWriter` gets the same version, its
//!   `revision`, one more than the last revision any earlier call consumed;
//! - a `StoreWriter` that changed something consumes its revision and
//!   updates the store's key count when [`StoreWriter::finish`] runs; one
//!   that changed nothing consumes nothing, so such calls leave no trace;
//! - [`Tables::finish`] writes the key counts to `STORES` (removing a row
//!   at 0) once per transaction, and keeps `META[REVISION]` at or above
//!   every version given (see [`Revisions`]);
//! - when history is on (`META[HISTORY_VERSIONS]` > 0), every put and every
//!   delete of an existing key records `(store_id, key, revision)` in
//!   `HISTORY` in the same transaction and prunes the key to its newest
//!   `HISTORY_VERSIONS` rows; `clear` removes the store's history too;
//! - every put, delete and clear keeps `EXPIRING` exact for the entries it
//!   touches; a key expired by the transaction's `now` reads as absent to
//!   the call (its version, and the prior version a put or delete reports)
//!   while it still counts in `STORES` until it is physically removed;
//!   [`Tables::sweep_expired`] removes at most its `limit` of expired keys,
//!   earliest first, each store's in a unit with a revision of its own.

use std::{collections::HashMap, path::Path};

use redb::{ReadableTable, Table, WriteTransaction};
use stateplug_provider_api::{ProviderError, ProviderResult};

use crate::encoding::{
    decode_expiring, decode_key, live, write_entry_key, write_entry_value_expiring, Span,
};
use crate::errors::AtPath;
use crate::record::Effects;
use crate::schema::{
    key_history, next_store, store_history, ENTRIES, EXPIRING, HISTORY, HISTORY_VERSIONS,
    JOURNAL_SEQ, META, REVISION, STORES,
};

type BytesTable<'t> = Table<'t, &'static [u8], &'static [u8]>;
type CountTable<'t> = Table<'t, &'static str, u64>;
type HistoryTable<'t> = Table<'t, (&'static str, &'static str, u64), Option<&'static [u8]>>;
type ExpiringTable<'t> = Table<'t, (u64, &'static str, &'static str), ()>;

/// The history table of a write transaction and how many versions per key it keeps.
struct HistoryWriter<'t> {
    table: HistoryTable<'t>,
    retain: u64,
}

/// How many versions one write of `META[REVISION]` reserves: most commits
/// then leave `META` untouched. After a restart, numbering continues past
/// the reservation, so unused reserved versions are skipped, never reused.
const LEASE: u64 = 4096;

/// Version numbering: the last version given and the reservation in `META`
/// (every version ever given is at most the reservation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Revisions {
    /// The last version given.
    pub(crate) given: u64,
    /// `META[REVISION]`.
    pub(crate) reserved: u64,
}

impl Revisions {
    /// Numbering of a file whose `META[REVISION]` is `stored`.
    pub(crate) fn from_stored(stored: u64) -> Self {
        Revisions {
            given: stored,
            reserved: stored,
        }
    }
}

/// The tables of one write transaction.
pub(crate) struct Tables<'t> {
    path: &'t Path,
    entries: BytesTable<'t>,
    stores: CountTable<'t>,
    meta: CountTable<'t>,
    /// `Some` when history is on.
    history: Option<HistoryWriter<'t>>,
    /// The last revision consumed, before or by a call of this transaction.
    last_revision: u64,
    /// The revisions as they stood when the transaction began.
    start: Revisions,
    /// Key counts of the stores this transaction touched, written to
    /// `STORES` once, by [`Tables::finish`].
    counts: HashMap<String, (u64, bool)>,
    /// Scratch buffers for the encoded key and value of each write, reused
    /// so that a batch allocates nothing per entry.
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
    /// Whether any call of this transaction changed something.
    changed: bool,
    /// What the calls changed, for the journal (`None`: not journaled).
    effects: Option<Effects>,
    /// The keys that expire (see `schema::EXPIRING`).
    expiring: ExpiringTable<'t>,
    /// The time the calls run at: a key expired by it reads as absent
    /// (0 until [`Tables::set_now`]: nothing has expired, as in a replay).
    now: u64,
}

impl<'t> Tables<'t> {
    /// Opens the tables of `txn`.
    /// `effects`, when given, receives every change the calls make.
    pub(crate) fn open(
        txn: &'t WriteTransaction,
        path: &'t Path,
        start: Revisions,
        effects: Option<Effects>,
    ) -> ProviderResult<Self> {
        let entries = txn.open_table(ENTRIES).at(path)?;
        let stores = txn.open_table(STORES).at(path)?;
        let meta = txn.open_table(META).at(path)?;
        let expiring = txn.open_table(EXPIRING).at(path)?;
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
        Ok(Tables {
            path,
            entries,
            stores,
            meta,
            history,
            last_revision: start.given,
            start,
            counts: HashMap::new(),
            key_buf: Vec::new(),
            value_buf: Vec::new(),
            changed: false,
            effects,
            expiring,
            now: 0,
        })
    }

    /// Opens the tables of `txn` to apply journal records (see
    /// [`crate::replay::apply_record`]), numbering from `META[REVISION]` as
    /// stored in `txn`; nothing has expired, as at the time of the writes.
    pub(crate) fn open_for_records(
        txn: &'t WriteTransaction,
        path: &'t Path,
    ) -> ProviderResult<Self> {
        let stored = txn
            .open_table(META)
            .at(path)?
            .get(REVISION)
            .at(path)?
            .map(|g| g.value())
            .unwrap_or(0);
        Tables::open(txn, path, Revisions::from_stored(stored), None)
    }

    /// Sets the time the calls run at, in unix milliseconds.
    pub(crate) fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// Removes up to `limit` keys expired by `now`, the earliest first,
    /// each store's as one unit with a revision of its own (journaled and
    /// kept in history as deletes). Returns each removed key as
    /// `(store_id, key, revision)`: `limit` of them when more may be due.
    pub(crate) fn sweep_expired(&mut self, limit: usize) -> ProviderResult<Vec<Expired>> {
        let mut due: Vec<(String, String)> = Vec::new();
        for row in self.expiring.iter().at(self.path)? {
            let (row, _) = row.at(self.path)?;
            let (at, store_id, key) = row.value();
            if at > self.now || due.len() == limit {
                break;
            }
            due.push((store_id.to_string(), key.to_string()));
        }
        due.sort_unstable();
        let mut removed = Vec::with_capacity(due.len());
        let mut rest = due.as_slice();
        while let Some((store_id, _)) = rest.first() {
            let n = rest.iter().take_while(|(s, _)| s == store_id).count();
            let mut writer = self.writer(store_id)?;
            for (_, key) in &rest[..n] {
                stateplug_provider_api::StoreWriter::delete(&mut writer, key)?;
            }
            if let Some(revision) = writer.finish()? {
                removed.extend(
                    rest[..n]
                        .iter()
                        .map(|(store_id, key)| (store_id.clone(), key.clone(), revision)),
                );
            }
            rest = &rest[n..];
        }
        Ok(removed)
    }

    /// The earliest expiry of a key still in `EXPIRING` (`None`: no key expires).
    pub(crate) fn first_expiry(&self) -> ProviderResult<Option<u64>> {
        let first = self.expiring.first().at(self.path)?;
        Ok(first.map(|(row, _)| row.value().0))
    }

    /// The changes recorded so far, handed back for the journal.
    pub(crate) fn take_effects(&mut self) -> Option<Effects> {
        self.effects.take()
    }

    /// Forgets what the current call recorded: it was refused, so it
    /// changed nothing.
    pub(crate) fn drop_call(&mut self) {
        if let Some(effects) = self.effects.as_mut() {
            effects.drop_unit();
        }
    }

    /// Records in `META` that the file holds every journal record up to `seq`.
    pub(crate) fn set_journal_seq(&mut self, seq: u64) -> ProviderResult<()> {
        self.meta.insert(JOURNAL_SEQ, seq).at(self.path)?;
        Ok(())
    }

    /// A writer for one call on `store_id` whose puts get version
    /// `revision`: replaying a journal record gives back the versions it
    /// acknowledged.
    pub(crate) fn writer_at<'w>(
        &'w mut self,
        store_id: &'w str,
        revision: u64,
    ) -> ProviderResult<StoreWriter<'w, 't>> {
        self.last_revision = revision.saturating_sub(1);
        self.writer(store_id)
    }

    /// The key count of `store_id`, including this transaction's changes.
    fn count(&mut self, store_id: &str) -> ProviderResult<u64> {
        if let Some((n, _)) = self.counts.get(store_id) {
            return Ok(*n);
        }
        let n = self
            .stores
            .get(store_id)
            .at(self.path)?
            .map(|g| g.value())
            .unwrap_or(0);
        self.counts.insert(store_id.to_string(), (n, false));
        Ok(n)
    }

    fn set_count(&mut self, store_id: &str, n: u64) {
        self.counts.insert(store_id.to_string(), (n, true));
    }

    /// A writer for one call on `store_id`.
    pub(crate) fn writer<'w>(
        &'w mut self,
        store_id: &'w str,
    ) -> ProviderResult<StoreWriter<'w, 't>> {
        let revision = next_revision(self.last_revision, self.path)?;
        if let Some(effects) = self.effects.as_mut() {
            effects.begin_unit(revision, store_id);
        }
        Ok(StoreWriter {
            tables: self,
            store_id,
            revision,
            added: 0,
            removed: 0,
            changed: false,
        })
    }

    /// Writes the key counts, and a new reservation to `META` when the
    /// versions given outgrew the old one. Returns the revisions after this
    /// transaction, or `None` if nothing changed (the caller then aborts
    /// instead of committing, and keeps its revisions).
    pub(crate) fn finish(mut self) -> ProviderResult<Option<Revisions>> {
        if !self.changed {
            return Ok(None);
        }
        for (store_id, (n, changed)) in &self.counts {
            if !changed {
                continue;
            }
            if *n == 0 {
                self.stores.remove(store_id.as_str()).at(self.path)?;
            } else {
                self.stores.insert(store_id.as_str(), *n).at(self.path)?;
            }
        }
        let mut reserved = self.start.reserved;
        if self.last_revision > reserved {
            reserved = self.last_revision.saturating_add(LEASE);
            self.meta.insert(REVISION, reserved).at(self.path)?;
        }
        Ok(Some(Revisions {
            given: self.last_revision,
            reserved,
        }))
    }
}

/// A key the sweep removed: its store_id, the key, and the removal's revision.
pub(crate) type Expired = (String, String, u64);

/// The write side of one call on one store.
pub(crate) struct StoreWriter<'w, 't> {
    tables: &'w mut Tables<'t>,
    store_id: &'w str,
    /// The version every put of this call gets.
    revision: u64,
    added: u64,
    removed: u64,
    changed: bool,
}

impl stateplug_provider_api::StoreWriter for StoreWriter<'_, '_> {
    fn version(&mut self, key: &str) -> ProviderResult<Option<u64>> {
        let tables = &mut *self.tables;
        write_entry_key(&mut tables.key_buf, self.store_id, key);
        let found = tables
            .entries
            .get(tables.key_buf.as_slice())
            .at(tables.path)?;
        match found {
            Some(raw) => {
                let (version, _, expires_at_ms) = decode_expiring(raw.value())?;
                Ok(live(expires_at_ms, tables.now).then_some(version))
            }
            None => Ok(None),
        }
    }

    fn put(&mut self, key: &str, value: &[u8], version: u64) -> ProviderResult<Option<u64>> {
        self.put_expiring(key, value, version, None)
    }

    fn put_expiring(
        &mut self,
        key: &str,
        value: &[u8],
        version: u64,
        expires_at_ms: Option<u64>,
    ) -> ProviderResult<Option<u64>> {
        let tables = &mut *self.tables;
        write_entry_key(&mut tables.key_buf, self.store_id, key);
        write_entry_value_expiring(&mut tables.value_buf, version, value, expires_at_ms);
        let old = match tables
            .entries
            .insert(tables.key_buf.as_slice(), tables.value_buf.as_slice())
            .at(tables.path)?
        {
            Some(old) => {
                let (version, _, expires_at_ms) = decode_expiring(old.value())?;
                Some((version, expires_at_ms))
            }
            None => None,
        };
        if old.is_none() {
            self.added += 1;
        }
        self.changed = true;
        if let Some(effects) = tables.effects.as_mut() {
            match expires_at_ms {
                None => effects.put(key, value),
                Some(at) => effects.put_expiring(key, value, at),
            };
        }
        let old_expiry = old.and_then(|(_, at)| at);
        if old_expiry != expires_at_ms {
            if let Some(at) = old_expiry {
                tables
                    .expiring
                    .remove((at, self.store_id, key))
                    .at(tables.path)?;
            }
            if let Some(at) = expires_at_ms {
                tables
                    .expiring
                    .insert((at, self.store_id, key), ())
                    .at(tables.path)?;
            }
        }
        let prior = old.and_then(|(version, at)| live(at, tables.now).then_some(version));
        self.record(key, Some(value))?;
        Ok(prior)
    }

    fn delete(&mut self, key: &str) -> ProviderResult<Option<u64>> {
        let tables = &mut *self.tables;
        write_entry_key(&mut tables.key_buf, self.store_id, key);
        let old = match tables
            .entries
            .remove(tables.key_buf.as_slice())
            .at(tables.path)?
        {
            Some(old) => {
                let (version, _, expires_at_ms) = decode_expiring(old.value())?;
                Some((version, expires_at_ms))
            }
            None => None,
        };
        let Some((version, expires_at_ms)) = old else {
            return Ok(None);
        };
        self.removed += 1;
        self.changed = true;
        if let Some(effects) = tables.effects.as_mut() {
            effects.delete(key);
        }
        if let Some(at) = expires_at_ms {
            tables
                .expiring
                .remove((at, self.store_id, key))
                .at(tables.path)?;
        }
        let prior = live(expires_at_ms, tables.now).then_some(version);
        self.record(key, None)?;
        Ok(prior)
    }

    /// Removes every key of the store and its history. Removing history
    /// rows alone (a store whose keys were all deleted) is a change too.
    fn clear(&mut self, removed: &mut dyn FnMut(&str, u64)) -> ProviderResult<()> {
        let path = self.tables.path;
        if let Some(effects) = self.tables.effects.as_mut() {
            effects.clear_store();
        }
        let mut n = 0u64;
        let mut damage = None;
        let mut expiries = Vec::new();
        let now = self.tables.now;
        if self.count()? > 0 {
            let span = Span::store(self.store_id);
            self.tables
                .entries
                .retain_in::<&[u8], _>(span.bounds(), |key, value| {
                    n += 1;
                    match (decode_key(key), decode_expiring(value)) {
                        (Ok(key), Ok((version, _, expires_at_ms))) => {
                            if let Some(at) = expires_at_ms {
                                expiries.push((at, key.to_string()));
                            }
                            if live(expires_at_ms, now) {
                                removed(key, version);
                            }
                        }
                        (Err(e), _) | (_, Err(e)) => damage = Some(e),
                    }
                    false
                })
                .at(path)?;
            for (at, key) in &expiries {
                self.tables
                    .expiring
                    .remove((*at, self.store_id, key.as_str()))
                    .at(path)?;
            }
            self.removed += n;
            self.changed |= n > 0;
        }
        if let Some(damage) = damage {
            return Err(damage);
        }
        if let Some(history) = self.tables.history.as_mut() {
            let next = next_store(self.store_id);
            let mut rows = 0u64;
            history
                .table
                .retain_in(store_history(self.store_id, &next), |_, _| {
                    rows += 1;
                    false
                })
                .at(path)?;
            self.changed |= rows > 0;
        }
        Ok(())
    }

    /// Every write of this writer has the same revision; it is consumed
    /// (and the next writer gets the next one) only if the write changed
    /// something, in [`StoreWriter::finish`].
    fn revision(&mut self) -> ProviderResult<u64> {
        Ok(self.revision)
    }
}

/// The revision after `last`, or `STORAGE` naming the fix when the
/// counter of the file `path` is exhausted.
pub(crate) fn next_revision(last: u64, path: &Path) -> ProviderResult<u64> {
    last.checked_add(1).ok_or_else(|| {
        ProviderError::storage(format!(
            "redb database file {}: the revision counter is exhausted (u64::MAX); migrate the \
             data to a new file",
            path.display()
        ))
    })
}

impl StoreWriter<'_, '_> {
    /// Records what this call wrote to `key` (`None`: deleted) in the
    /// history, then drops the key's versions beyond the newest `retain`.
    fn record(&mut self, key: &str, value: Option<&[u8]>) -> ProviderResult<()> {
        let path = self.tables.path;
        let Some(history) = self.tables.history.as_mut() else {
            return Ok(());
        };
        history
            .table
            .insert((self.store_id, key, self.revision), value)
            .at(path)?;
        // The newest `retain` rows stay; the row after them (walking from
        // the newest) and every older one go.
        let mut newest_first = history
            .table
            .range(key_history(self.store_id, key))
            .at(path)?
            .rev();
        let cut = match newest_first.nth(history.retain as usize) {
            Some(row) => Some(row.at(path)?.0.value().2),
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
                .at(path)?;
        }
        Ok(())
    }

    /// The store's key count before this call.
    fn count(&mut self) -> ProviderResult<u64> {
        self.tables.count(self.store_id)
    }

    /// Records the new key count and consumes the revision if anything
    /// changed. Returns the revision written, or `None` if nothing changed.
    pub(crate) fn finish(mut self) -> ProviderResult<Option<u64>> {
        if !self.changed {
            return Ok(None);
        }
        let path = self.tables.path;
        if self.added != self.removed {
            let before = self.count()?;
            let count = before
                .checked_add(self.added)
                .and_then(|c| c.checked_sub(self.removed));
            let count = count.ok_or_else(|| {
                ProviderError::storage(format!(
                    "redb database file {}: the key count of store {:?} disagrees with its \
                     entries; the file is corrupt, restore from backup",
                    path.display(),
                    self.store_id
                ))
            })?;
            self.tables.set_count(self.store_id, count);
        }
        self.tables.last_revision = self.revision;
        self.tables.changed = true;
        Ok(Some(self.revision))
    }
}
