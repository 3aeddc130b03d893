//! The in-memory provider.
//!
//! Invariants:
//! - `stores` holds a map only while it has at least one key: every write
//!   path that can empty a map removes it afterwards (`remove_if_empty`), and
//!   no read path inserts.
//! - A store's map is only changed while its DashMap shard is write-locked,
//!   so each call (batch, transaction) is atomic and isolated.
//! - `revision` only grows; every write call takes the next value while
//!   holding the shard lock, so versions are never reused.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use hashbrown::DefaultHashBuilder;
use serde::Deserialize;
use stateplug_provider_api::{
    apply, parse_config, Capabilities, CapabilityFlags, ChangeSink, Entry, KeyBytesVisitor, Page,
    Provider, ProviderResult, ScanRef, StoreWriter, WriteOp,
};

use crate::store::{Slot, Store};

/// The memory provider's configuration: it has no settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemoryConfig {}

/// A volatile provider: a `DashMap` from store_id to that store's keys
/// (a hash map for point operations plus an ordered set for scans).
#[derive(Debug, Default)]
pub struct MemoryProvider {
    stores: DashMap<Box<str>, Store, DefaultHashBuilder>,
    revision: AtomicU64,
}

impl MemoryProvider {
    /// An empty provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` on the store's map with its shard write-locked, creating the
    /// map if needed and dropping it again if `f` leaves it empty.
    fn write_store<T>(
        &self,
        store_id: &str,
        f: impl FnOnce(&mut Store) -> ProviderResult<T>,
    ) -> ProviderResult<T> {
        let (result, empty) = match self.stores.get_mut(store_id) {
            Some(mut store) => {
                let result = f(store.value_mut());
                (result, store.is_empty())
            }
            None => {
                let mut store = self.stores.entry(store_id.into()).or_default();
                let result = f(store.value_mut());
                (result, store.is_empty())
            }
        };
        if empty {
            self.remove_if_empty(store_id);
        }
        result
    }

    fn remove_if_empty(&self, store_id: &str) {
        self.stores.remove_if(store_id, |_, store| store.is_empty());
    }

    fn with_store<T>(&self, store_id: &str, f: impl FnOnce(&Store) -> T, missing: T) -> T {
        match self.stores.get(store_id) {
            Some(store) => f(store.value()),
            None => missing,
        }
    }
}

impl Provider for MemoryProvider {
    const NAME: &'static str = "memory";
    /// Everything but durability, history and a change feed; every call is
    /// a few hash-map or tree operations, so all run inline.
    const CAPABILITIES: Capabilities = Capabilities::new(
        CapabilityFlags::ATOMIC_BATCHES
            .union(CapabilityFlags::COMPARE_AND_SET)
            .union(CapabilityFlags::TRANSACTIONS)
            .union(CapabilityFlags::ORDERED_SCANS)
            .union(CapabilityFlags::LIST_STORES)
            .union(CapabilityFlags::INLINE_READS)
            .union(CapabilityFlags::INLINE_WRITES),
    );

    fn open(config_json: &str) -> ProviderResult<Self> {
        let MemoryConfig {} = parse_config(Self::NAME, config_json)?;
        Ok(Self::new())
    }

    fn get_entry(&self, store_id: &str, key: &str) -> ProviderResult<Option<Entry>> {
        Ok(self.with_store(store_id, |s| s.get(key).map(Slot::entry), None))
    }

    fn read(
        &self,
        store_id: &str,
        key: &str,
        visit: &mut dyn FnMut(&[u8]),
    ) -> ProviderResult<bool> {
        Ok(self.with_store(
            store_id,
            |s| s.get(key).map(|slot| visit(&slot.value)).is_some(),
            false,
        ))
    }

    fn get_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<Entry>>> {
        Ok(self.with_store(
            store_id,
            |s| keys.iter().map(|k| s.get(k).map(Slot::entry)).collect(),
            vec![None; keys.len()],
        ))
    }

    /// Runs under the store's shard lock, so the write is atomic and
    /// isolated; a write that changes nothing consumes no revision.
    fn write(
        &self,
        store_id: &str,
        ops: &[WriteOp<'_>],
        changed: ChangeSink<'_>,
    ) -> ProviderResult<u64> {
        self.write_store(store_id, |store| {
            let mut writer = Writer {
                store,
                revisions: &self.revision,
                revision: None,
            };
            Ok(apply(ops, &mut writer, changed)?)
        })
    }

    fn list_keys(&self, store_id: &str) -> ProviderResult<Vec<String>> {
        Ok(self.with_store(store_id, Store::keys, Vec::new()))
    }

    fn store_exists(&self, store_id: &str) -> ProviderResult<bool> {
        Ok(self.stores.contains_key(store_id))
    }

    fn key_count(&self, store_id: &str) -> ProviderResult<u64> {
        Ok(self.with_store(store_id, |s| s.len() as u64, 0))
    }

    fn scan(&self, store_id: &str, scan: ScanRef<'_>) -> ProviderResult<Page> {
        Page::collect(|visit| {
            self.scan_visit_bytes(store_id, scan, &mut |key, version, value| {
                // Keys are stored as the UTF-8 strings that were written.
                visit(std::str::from_utf8(key).unwrap_or_default(), version, value)
            })
        })
    }

    fn scan_visit_bytes(
        &self,
        store_id: &str,
        scan: ScanRef<'_>,
        visit: KeyBytesVisitor<'_>,
    ) -> ProviderResult<Option<String>> {
        Ok(self.with_store(store_id, |store| store.scan_visit(&scan, visit), None))
    }

    fn list_stores(&self) -> ProviderResult<Vec<String>> {
        let mut ids: Vec<String> = self.stores.iter().map(|s| s.key().to_string()).collect();
        ids.sort_unstable();
        Ok(ids)
    }
}

/// One write on one store's map, under its shard lock.
struct Writer<'s> {
    store: &'s mut Store,
    revisions: &'s AtomicU64,
    revision: Option<u64>,
}

impl StoreWriter for Writer<'_> {
    fn version(&mut self, key: &str) -> ProviderResult<Option<u64>> {
        Ok(self.store.version(key))
    }

    fn put(&mut self, key: &str, value: &[u8], version: u64) -> ProviderResult<Option<u64>> {
        Ok(self.store.put(key, value, version))
    }

    fn delete(&mut self, key: &str) -> ProviderResult<Option<u64>> {
        Ok(self.store.remove(key))
    }

    fn clear(&mut self, removed: &mut dyn FnMut(&str, u64)) -> ProviderResult<()> {
        self.store.clear(removed);
        Ok(())
    }

    fn revision(&mut self) -> ProviderResult<u64> {
        let revisions = self.revisions;
        Ok(*self
            .revision
            .get_or_insert_with(|| revisions.fetch_add(1, Ordering::Relaxed) + 1))
    }
}

#[cfg(test)]
mod tests {
    use stateplug_provider_api::{ErrorKind, Expected};

    use super::*;

    /// One write; its revision and how many keys it changed.
    fn write(
        p: &MemoryProvider,
        store_id: &str,
        ops: &[WriteOp<'_>],
    ) -> ProviderResult<(u64, u64)> {
        let mut changed = 0;
        let revision = p.write(store_id, ops, &mut |_| changed += 1)?;
        Ok((revision, changed))
    }

    #[test]
    fn emptied_stores_are_dropped() {
        let p = MemoryProvider::new();
        write(&p, "s", &[WriteOp::put("a", b"1")]).unwrap();
        write(&p, "t", &[WriteOp::put("a", b"1"), WriteOp::put("b", b"2")]).unwrap();
        assert_eq!(write(&p, "s", &[WriteOp::delete("a")]).unwrap().1, 1);
        let deletes = [
            WriteOp::delete("a"),
            WriteOp::delete("b"),
            WriteOp::delete("c"),
        ];
        assert_eq!(write(&p, "t", &deletes).unwrap().1, 2);
        assert!(p.stores.is_empty());
        assert_eq!(
            write(&p, "unknown", &[WriteOp::delete("a")]).unwrap(),
            (0, 0)
        );
        assert_eq!(write(&p, "unknown", &[WriteOp::Clear]).unwrap(), (0, 0));
        assert!(p.get_entry("unknown", "a").unwrap().is_none());
        assert!(
            p.stores.is_empty(),
            "reads and deletes of unknown stores leave nothing"
        );
    }

    #[test]
    fn failed_cas_on_a_new_store_leaves_nothing() {
        let p = MemoryProvider::new();
        let ops = [
            WriteOp::check("a", Expected::Version(3)),
            WriteOp::put("a", b"x"),
        ];
        let err = write(&p, "s", &ops).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::VERSION_CONFLICT);
        assert!(p.stores.is_empty());
    }

    #[test]
    fn a_write_that_changes_nothing_consumes_no_revision() {
        let p = MemoryProvider::new();
        write(&p, "s", &[WriteOp::put("a", b"1")]).unwrap();
        assert_eq!(
            write(&p, "s", &[WriteOp::delete("missing")]).unwrap(),
            (0, 0)
        );
        assert_eq!(write(&p, "s", &[WriteOp::put("b", b"1")]).unwrap(), (2, 1));
    }

    #[test]
    fn unknown_config_fields_are_refused() {
        let err = MemoryProvider::open(r#"{"size": 3}"#).unwrap_err();
        assert!(err.message().contains("unknown field `size`"), "{err}");
        assert!(MemoryProvider::open("").is_ok());
    }
}
