//! The write side of a deferred group: a [`StoreWriter`] that reads the
//! state of every acknowledged write (a [`View`]) and collects what it
//! writes in memory and in the group's journal record, touching no redb
//! table. The applier (see [`crate::unapplied`]) applies the record to redb
//! later, the same way replay does.
//!
//! Invariants:
//! - a deferred writer answers exactly as the redb [`crate::writer`] would
//!   on the same state: the version of a live key, the prior version of a
//!   put or delete, keys expired by the group's `now` read as absent;
//! - it records an effect for every key it writes, and only for those: a
//!   delete of an absent or expired key changes nothing;
//! - it never clears a store. A group holding a clear runs in a redb
//!   transaction instead (see [`crate::committer`]), as every group does
//!   while history is kept.

use std::path::Path;

use stateplug_provider_api::{ProviderError, ProviderResult, StoreWriter};

use crate::encoding::{live, with_entry_key};
use crate::record::Effects;
use crate::unapplied::{EntryKey, View, Written, WrittenMap};

/// The write side of one call on one store in a deferred group.
pub(crate) struct DeferredWriter<'g, 'v> {
    /// The state before the group.
    pub(crate) view: &'g View<'v>,
    /// What the group wrote so far, this call included.
    pub(crate) written: &'g mut WrittenMap,
    /// The group's journal record.
    pub(crate) effects: &'g mut Effects,
    /// The database file, for messages.
    pub(crate) path: &'g Path,
    pub(crate) store_id: &'g str,
    /// The version every put of this call gets.
    pub(crate) revision: u64,
    /// The time the group runs at, in unix milliseconds.
    pub(crate) now: u64,
    /// The earliest expiry the group wrote (`u64::MAX`: none).
    pub(crate) earliest_expiry: u64,
    /// Whether the call changed something (and so consumes its revision).
    pub(crate) changed: bool,
}

impl DeferredWriter<'_, '_> {
    /// The version of the encoded entry key `k` if it is live at the group's time.
    fn live_version(&self, k: &[u8]) -> ProviderResult<Option<u64>> {
        let if_live =
            |version: u64, expires_at_ms| live(expires_at_ms, self.now).then_some(version);
        if let Some(w) = self.written.get(k) {
            return Ok(w.at.and(if_live(w.version, w.expires_at_ms)));
        }
        self.view.find_encoded(k, self.path, |found| {
            Ok(found.and_then(|(version, _, expires_at_ms)| if_live(version, expires_at_ms)))
        })
    }

    /// Records a write of the encoded entry key `k`; `at`: where its value
    /// is in the record.
    fn write(&mut self, k: &[u8], at: Option<(u32, u32)>, expires_at_ms: Option<u64>) {
        self.written.insert(
            EntryKey::from_slice(k),
            Written {
                seq: 0,
                version: self.revision,
                at,
                expires_at_ms,
                record: None,
            },
        );
        self.changed = true;
    }
}

/// Each operation encodes its key once, for the group's own writes, the
/// published ones and redb alike.
impl StoreWriter for DeferredWriter<'_, '_> {
    fn version(&mut self, key: &str) -> ProviderResult<Option<u64>> {
        with_entry_key(self.store_id, key, |k| self.live_version(k))
    }

    fn put(&mut self, key: &str, value: &[u8], version: u64) -> ProviderResult<Option<u64>> {
        self.put_expiring(key, value, version, None)
    }

    fn put_expiring(
        &mut self,
        key: &str,
        value: &[u8],
        _version: u64,
        expires_at_ms: Option<u64>,
    ) -> ProviderResult<Option<u64>> {
        with_entry_key(self.store_id, key, |k| {
            let prior = self.live_version(k)?;
            let start = match expires_at_ms {
                None => self.effects.put(key, value),
                Some(at) => {
                    self.earliest_expiry = self.earliest_expiry.min(at);
                    self.effects.put_expiring(key, value, at)
                }
            };
            // Records and values are bounded far below 4 GiB by the provider's limits.
            self.write(k, Some((start as u32, value.len() as u32)), expires_at_ms);
            Ok(prior)
        })
    }

    fn delete(&mut self, key: &str) -> ProviderResult<Option<u64>> {
        with_entry_key(self.store_id, key, |k| {
            let Some(prior) = self.live_version(k)? else {
                return Ok(None);
            };
            self.write(k, None, None);
            self.effects.delete(key);
            Ok(Some(prior))
        })
    }

    fn clear(&mut self, _removed: &mut dyn FnMut(&str, u64)) -> ProviderResult<()> {
        Err(ProviderError::internal(
            "a deferred group was handed a clear; groups holding one run in a redb transaction",
        ))
    }

    fn revision(&mut self) -> ProviderResult<u64> {
        Ok(self.revision)
    }
}
