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
//! - `expiries` holds `(expiry, store_id, key)` of every key put with an
//!   expiry (and may hold stale ones, of keys since rewritten or removed,
//!   which the sweep skips). Reads never return an expired key; each write
//!   then removes up to [`SWEEP_PER_WRITE`] expired keys, outside any shard
//!   lock, so removal costs a writer a bounded amount of work.

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, PoisonError,
    },
};

use dashmap::DashMap;
use hashbrown::DefaultHashBuilder;
use serde::Deserialize;
use smol_str::SmolStr;
use stateplug_provider_api::{
    apply, parse_config, Capabilities, CapabilityFlags, ChangeSink, Clock, Entry, KeyBytesVisitor,
    OpenContext, Page, Provider, ProviderResult, ScanRef, StoreWriter, WriteOp,
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
    clock: Clock,
    expiries: Mutex<BTreeSet<(u64, Box<str>, SmolStr)>>,
}

/// How many expired keys a write removes, at most, after its own work.
pub const SWEEP_PER_WRITE: usize = 64;

impl MemoryProvider {
    /// An empty provider on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty provider reading the time from `clock`.
    pub fn with_clock(clock: Clock) -> Self {
        MemoryProvider {
            clock,
            ..Self::default()
        }
    }

    /// Removes up to `limit` keys expired by `now`, each only if it still
    /// carries the expiry it was indexed with. Takes no shard lock while
    /// holding the index lock.
    fn sweep(&self, now: u64, limit: usize) {
        let due: Vec<(u64, Box<str>, SmolStr)> = {
            let mut expiries = self.expiries.lock().unwrap_or_else(PoisonError::into_inner);
            let mut due = Vec::new();
            while due.len() < limit {
                match expiries.first() {
                    Some((at, _, _)) if *at <= now => due.extend(expiries.pop_first()),
                    _ => break,
                }
            }
            due
        };
        for (at, store_id, key) in due {
            let emptied = match self.stores.get_mut(&*store_id) {
                Some(mut store) => store.expire(&key, at) && store.is_empty(),
                None => false,
            };
            if emptied {
                self.remove_if_empty(&store_id);
            }
        }
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
            .union(CapabilityFlags::INLINE_WRITES)
            .union(CapabilityFlags::TTL),
    );

    fn open(config_json: &str) -> ProviderResult<Self> {
        Self::open_with(config_json, &OpenContext::READ_WRITE)
    }

    fn open_with(config_json: &str, context: &OpenContext) -> ProviderResult<Self> {
        let MemoryConfig {} = parse_config(Self::NAME, config_json)?;
        Ok(Self::with_clock(context.clock.clone()))
    }

    fn get_entry(&self, store_id: &str, key: &str) -> ProviderResult<Option<Entry>> {
        let now = self.clock.now_ms();
        Ok(self.with_store(store_id, |s| s.get(key, now).map(Slot::entry), None))
    }

    fn read(
        &self,
        store_id: &str,
        key: &str,
        visit: &mut dyn FnMut(&[u8]),
    ) -> ProviderResult<bool> {
        let now = self.clock.now_ms();
        Ok(self.with_store(
            store_id,
            |s| s.get(key, now).map(|slot| visit(&slot.value)).is_some(),
            false,
        ))
    }

    fn get_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<Entry>>> {
        let now = self.clock.now_ms();
        Ok(self.with_store(
            store_id,
            |s| {
                keys.iter()
                    .map(|k| s.get(k, now).map(Slot::entry))
                    .collect()
            },
            vec![None; keys.len()],
        ))
    }

    /// Runs under the store's shard lock, so the write is atomic and
    /// isolated; a write that changes nothing consumes no revision. Then
    /// sweeps expired keys, with no lock held.
    fn write(
        &self,
        store_id: &str,
        ops: &[WriteOp<'_>],
        changed: ChangeSink<'_>,
    ) -> ProviderResult<u64> {
        let now = self.clock.now_ms();
        let mut expiring = Vec::new();
        let revision = self.write_store(store_id, |store| {
            let mut writer = Writer {
                store,
                revisions: &self.revision,
                revision: None,
                now,
                expiring: &mut expiring,
            };
            Ok(apply(ops, &mut writer, changed)?)
        });
        if !expiring.is_empty() {
            let mut expiries = self.expiries.lock().unwrap_or_else(PoisonError::into_inner);
            for (at, key) in expiring {
                expiries.insert((at, store_id.into(), key));
            }
        }
        self.sweep(now, SWEEP_PER_WRITE);
        revision
    }

    fn expiries(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<u64>>> {
        Ok(self.with_store(
            store_id,
            |s| keys.iter().map(|k| s.expiry(k)).collect(),
            vec![None; keys.len()],
        ))
    }

    fn list_keys(&self, store_id: &str) -> ProviderResult<Vec<String>> {
        let now = self.clock.now_ms();
        Ok(self.with_store(store_id, |s| s.keys(now), Vec::new()))
    }

    fn store_exists(&self, store_id: &str) -> ProviderResult<bool> {
        let now = self.clock.now_ms();
        Ok(self.with_store(store_id, |s| s.len(now) > 0, false))
    }

    fn key_count(&self, store_id: &str) -> ProviderResult<u64> {
        let now = self.clock.now_ms();
        Ok(self.with_store(store_id, |s| s.len(now) as u64, 0))
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
        let now = self.clock.now_ms();
        Ok(self.with_store(store_id, |store| store.scan_visit(&scan, visit, now), None))
    }

    fn list_stores(&self) -> ProviderResult<Vec<String>> {
        let now = self.clock.now_ms();
        let mut ids: Vec<String> = self
            .stores
            .iter()
            .filter(|s| s.value().len(now) > 0)
            .map(|s| s.key().to_string())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }
}

/// One write on one store's map, under its shard lock, at time `now`.
struct Writer<'s> {
    store: &'s mut Store,
    revisions: &'s AtomicU64,
    revision: Option<u64>,
    now: u64,
    /// The expiry and key of every expiring put, for the sweep's index.
    expiring: &'s mut Vec<(u64, SmolStr)>,
}

impl StoreWriter for Writer<'_> {
    fn version(&mut self, key: &str) -> ProviderResult<Option<u64>> {
        Ok(self.store.version(key, self.now))
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
        if let Some(at) = expires_at_ms {
            self.expiring.push((at, SmolStr::new(key)));
        }
        Ok(self.store.put(key, value, version, expires_at_ms, self.now))
    }

    fn delete(&mut self, key: &str) -> ProviderResult<Option<u64>> {
        Ok(self.store.remove(key, self.now))
    }

    fn clear(&mut self, removed: &mut dyn FnMut(&str, u64)) -> ProviderResult<()> {
        self.store.clear(removed, self.now);
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

    /// A provider on a clock the test sets, and the clock's hand.
    fn on_moved_clock() -> (MemoryProvider, std::sync::Arc<AtomicU64>) {
        let now = std::sync::Arc::new(AtomicU64::new(1_000));
        let hand = now.clone();
        let p = MemoryProvider::with_clock(Clock::from_fn(move || hand.load(Ordering::SeqCst)));
        (p, now)
    }

    #[test]
    fn expired_keys_read_as_absent_and_the_next_writes_remove_them() {
        let (p, now) = on_moved_clock();
        let ops = [
            WriteOp::put_expiring("a", b"1", 2_000),
            WriteOp::put_expiring("b", b"1", 2_000),
            WriteOp::put("c", b"1"),
        ];
        write(&p, "s", &ops).unwrap();
        write(&p, "t", &[WriteOp::put_expiring("x", b"1", 2_000)]).unwrap();
        assert_eq!(p.key_count("s").unwrap(), 3);
        now.store(2_000, Ordering::SeqCst);
        assert!(p.get_entry("s", "a").unwrap().is_none());
        assert_eq!(p.key_count("s").unwrap(), 1);
        assert_eq!(p.list_keys("s").unwrap(), ["c"]);
        assert!(!p.store_exists("t").unwrap());
        assert_eq!(p.list_stores().unwrap(), ["s"]);
        let create = [
            WriteOp::check("a", Expected::Absent),
            WriteOp::put("a", b"2"),
        ];
        let (revision, _) = write(&p, "s", &create).unwrap();
        assert_eq!(p.get_entry("s", "a").unwrap().unwrap().version, revision);
        assert!(
            p.stores.get("t").is_none(),
            "the write swept the other store"
        );
        assert_eq!(
            p.stores.get("s").map(|s| s.len(u64::MAX)),
            Some(2),
            "b is gone, a (rewritten without expiry) and c stay"
        );
    }

    #[test]
    fn a_put_without_ttl_clears_the_expiry() {
        let (p, now) = on_moved_clock();
        write(&p, "s", &[WriteOp::put_expiring("a", b"1", 2_000)]).unwrap();
        write(&p, "s", &[WriteOp::put("a", b"2")]).unwrap();
        now.store(10_000, Ordering::SeqCst);
        write(&p, "s", &[WriteOp::put("z", b"")]).unwrap();
        assert_eq!(p.get_entry("s", "a").unwrap().unwrap().value, b"2");
    }

    #[test]
    fn unknown_config_fields_are_refused() {
        let err = MemoryProvider::open(r#"{"size": 3}"#).unwrap_err();
        assert!(err.message().contains("unknown field `size`"), "{err}");
        assert!(MemoryProvider::open("").is_ok());
    }
}
