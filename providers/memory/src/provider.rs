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
    conflict, parse_config, Capabilities, CapabilityFlags, Entry, Expected, Page, Provider,
    ProviderResult, ScanRef, TxnOpRef,
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

    fn next_revision(&self) -> u64 {
        self.revision.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Runs `f` on the store's map with its shard write-locked, creating the
    /// map if needed and dropping it again if `f` leaves it empty.
    fn write<T>(
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

    /// Like [`Self::write`] but never creates a map (for deletes).
    fn write_existing<T: Default>(
        &self,
        store_id: &str,
        f: impl FnOnce(&mut Store) -> ProviderResult<T>,
    ) -> ProviderResult<T> {
        let (result, empty) = match self.stores.get_mut(store_id) {
            Some(mut store) => {
                let result = f(store.value_mut());
                (result, store.is_empty())
            }
            None => return Ok(T::default()),
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

    fn get(&self, store_id: &str, key: &str) -> ProviderResult<Option<Vec<u8>>> {
        Ok(self.with_store(
            store_id,
            |s| s.get(key).map(|slot| slot.value.to_vec()),
            None,
        ))
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

    fn contains_key(&self, store_id: &str, key: &str) -> ProviderResult<bool> {
        Ok(self.with_store(store_id, |s| s.get(key).is_some(), false))
    }

    fn set(&self, store_id: &str, key: &str, value: &[u8]) -> ProviderResult<u64> {
        self.write(store_id, |store| {
            let version = self.next_revision();
            store.put(key, value, version);
            Ok(version)
        })
    }

    fn delete(&self, store_id: &str, key: &str) -> ProviderResult<bool> {
        self.write_existing(store_id, |store| Ok(store.remove(key)))
    }

    fn get_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<Entry>>> {
        Ok(self.with_store(
            store_id,
            |s| keys.iter().map(|k| s.get(k).map(Slot::entry)).collect(),
            vec![None; keys.len()],
        ))
    }

    fn set_many(&self, store_id: &str, entries: &[(&str, &[u8])]) -> ProviderResult<u64> {
        if entries.is_empty() {
            return Ok(0);
        }
        self.write(store_id, |store| {
            let version = self.next_revision();
            for (key, value) in entries {
                store.put(key, value, version);
            }
            Ok(version)
        })
    }

    fn delete_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<u64> {
        self.write_existing(store_id, |store| {
            Ok(keys.iter().filter(|k| store.remove(k)).count() as u64)
        })
    }

    fn clear_store(&self, store_id: &str) -> ProviderResult<u64> {
        Ok(self
            .stores
            .remove(store_id)
            .map_or(0, |(_, store)| store.len() as u64))
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

    fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: &[u8],
    ) -> ProviderResult<u64> {
        self.write(store_id, |store| {
            let current = store.version(key);
            if !expected.matches(current) {
                return Err(conflict(key, expected, current));
            }
            let version = self.next_revision();
            store.put(key, value, version);
            Ok(version)
        })
    }

    fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> ProviderResult<()> {
        let expected = Expected::Version(version);
        let done = self.write_existing(store_id, |store| {
            let current = store.version(key);
            if !expected.matches(current) {
                return Err(conflict(key, expected, current));
            }
            Ok(store.remove(key))
        })?;
        if !done {
            return Err(conflict(key, expected, None));
        }
        Ok(())
    }

    fn transaction(&self, store_id: &str, ops: &[TxnOpRef<'_>]) -> ProviderResult<u64> {
        let writes = ops.iter().any(|op| !matches!(op, TxnOpRef::Check { .. }));
        self.write(store_id, |store| {
            for op in ops {
                if let TxnOpRef::Check { key, expected } = op {
                    let current = store.version(key);
                    if !expected.matches(current) {
                        return Err(conflict(key, *expected, current));
                    }
                }
            }
            if !writes {
                return Ok(0);
            }
            let version = self.next_revision();
            for op in ops {
                match op {
                    TxnOpRef::Put { key, value } => store.put(key, value, version),
                    TxnOpRef::Delete { key } => {
                        store.remove(key);
                    }
                    TxnOpRef::Check { .. } => {}
                }
            }
            Ok(version)
        })
    }

    fn scan(&self, store_id: &str, scan: ScanRef<'_>) -> ProviderResult<Page> {
        Page::collect(|visit| self.scan_visit(store_id, scan, visit))
    }

    fn scan_visit(
        &self,
        store_id: &str,
        scan: ScanRef<'_>,
        visit: &mut dyn FnMut(&str, u64, &[u8]),
    ) -> ProviderResult<Option<String>> {
        Ok(self.with_store(store_id, |store| store.scan_visit(&scan, visit), None))
    }

    fn list_stores(&self) -> ProviderResult<Vec<String>> {
        let mut ids: Vec<String> = self.stores.iter().map(|s| s.key().to_string()).collect();
        ids.sort_unstable();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emptied_stores_are_dropped() {
        let p = MemoryProvider::new();
        p.set("s", "a", b"1").unwrap();
        p.set_many("t", &[("a", b"1"), ("b", b"2")]).unwrap();
        assert!(p.delete("s", "a").unwrap());
        assert_eq!(p.delete_many("t", &["a", "b", "c"]).unwrap(), 2);
        assert!(p.stores.is_empty());
        assert!(!p.delete("unknown", "a").unwrap());
        assert_eq!(p.clear_store("unknown").unwrap(), 0);
        assert!(p.get_entry("unknown", "a").unwrap().is_none());
        assert!(
            p.stores.is_empty(),
            "reads and deletes of unknown stores leave nothing"
        );
    }

    #[test]
    fn failed_cas_on_a_new_store_leaves_nothing() {
        let p = MemoryProvider::new();
        assert!(p
            .compare_and_set("s", "a", Expected::Version(3), b"x")
            .is_err());
        assert!(p.stores.is_empty());
    }

    #[test]
    fn unknown_config_fields_are_refused() {
        let err = MemoryProvider::open(r#"{"size": 3}"#).unwrap_err();
        assert!(err.message().contains("unknown field `size`"), "{err}");
        assert!(MemoryProvider::open("").is_ok());
    }
}
