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
//!   which the sweep skips). Reads never return an expired key.
//! - Expired keys are removed two ways, neither under a lock a writer waits
//!   long behind: each write removes up to [`SWEEP_PER_WRITE`] of them after
//!   its own work, with no shard lock held (so memory stays bounded under
//!   constant writes at no more than a bounded cost per write); and a
//!   background sweeper removes every key expired by the clock's "now" once
//!   per `sweep_interval`, [`SWEEP_CHUNK`] keys per hold of the index lock
//!   and one key per hold of a shard lock (so memory is freed when writes
//!   stop too). A key expired by the clock is thus gone after at most one
//!   `sweep_interval` (plus the sweep's own time), writes or not, unless
//!   the thread could not be spawned (then writes alone remove them).
//! - The sweeper thread exists only once a put carried an expiry, at most
//!   one per provider. It holds the provider's state (`Shared`) only by
//!   `Weak`, and strongly only for one chunk at a time, so it never keeps
//!   the provider alive; it never owns a `MemoryProvider`, so the
//!   provider's drop never runs on it. Dropping the provider drops the
//!   sweeper's `Sender`, which wakes its `recv_timeout` at once and ends it
//!   between two chunks, and then joins it: once the drop returns, no code
//!   of this crate runs on that thread (the library may be unloaded).
//! - Every removal of an expired key takes the next revision and is
//!   recorded in `expired` (the expiry feed) while the key's shard lock is
//!   still held, so it is in the feed before any later write to that key
//!   returns.

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc::{self, RecvTimeoutError, TryRecvError},
        Arc, Mutex, OnceLock, PoisonError, Weak,
    },
    thread::JoinHandle,
    time::Duration,
};

use dashmap::DashMap;
use hashbrown::DefaultHashBuilder;
use serde::Deserialize;
use smol_str::SmolStr;
use stateplug_provider_api::{
    apply, parse_config, Capabilities, CapabilityFlags, ChangePage, ChangeSink, Clock, Entry,
    ExpiryLog, KeyBytesVisitor, OpenContext, Page, Provider, ProviderError, ProviderResult,
    ScanRef, StoreWriter, WriteOp,
};

use crate::store::{Slot, Store};

/// The default of `sweep_interval_ms`: how often the background sweeper
/// removes expired keys, in milliseconds.
pub const DEFAULT_SWEEP_INTERVAL_MS: u64 = 1000;
/// The largest `sweep_interval_ms` accepted (one hour): a longer one would
/// hold expired keys in memory for longer than any use needs.
pub const MAX_SWEEP_INTERVAL_MS: u64 = 3_600_000;

/// The memory provider's configuration; unknown fields are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemoryConfig {
    /// How often, in milliseconds, the background sweeper removes expired
    /// keys; 1 to [`MAX_SWEEP_INTERVAL_MS`], default
    /// [`DEFAULT_SWEEP_INTERVAL_MS`].
    #[serde(default)]
    sweep_interval_ms: Option<u64>,
}

impl MemoryConfig {
    /// The sweep interval, or `INVALID_ARGUMENT` naming the setting and the
    /// fix when it is out of range.
    fn sweep_interval(&self) -> ProviderResult<Duration> {
        let ms = self.sweep_interval_ms.unwrap_or(DEFAULT_SWEEP_INTERVAL_MS);
        if !(1..=MAX_SWEEP_INTERVAL_MS).contains(&ms) {
            return Err(ProviderError::invalid_argument(format!(
                "memory provider configuration: `sweep_interval_ms` is {ms}; set it between 1 \
                 and {MAX_SWEEP_INTERVAL_MS} milliseconds (default {DEFAULT_SWEEP_INTERVAL_MS}), \
                 or leave it out"
            )));
        }
        Ok(Duration::from_millis(ms))
    }
}

/// A volatile provider: a `DashMap` from store_id to that store's keys
/// (a hash map for point operations plus an ordered set for scans), and a
/// background sweeper of expired keys once a key was put with an expiry.
#[derive(Debug)]
pub struct MemoryProvider {
    /// The state; the sweeper thread holds it by `Weak` only.
    shared: Arc<Shared>,
    /// How long the sweeper sleeps between two sweeps.
    sweep_interval: Duration,
    /// The sweeper, set by the first put with an expiry (`None` inside:
    /// the thread could not be spawned, and writes alone remove expired
    /// keys).
    sweeper: OnceLock<Option<Sweeper>>,
}

/// The provider's state, shared with its sweeper thread.
#[derive(Debug, Default)]
struct Shared {
    stores: DashMap<Box<str>, Store, DefaultHashBuilder>,
    revision: AtomicU64,
    clock: Clock,
    expiries: Mutex<BTreeSet<(u64, Box<str>, SmolStr)>>,
    /// The expiry feed: every removal of an expired key.
    expired: ExpiryLog,
}

/// The running sweeper thread.
#[derive(Debug)]
struct Sweeper {
    /// Never sent on: dropping it disconnects the thread's receiver, which
    /// ends the thread.
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

/// How many expired keys a write removes, at most, after its own work.
pub const SWEEP_PER_WRITE: usize = 64;

/// How many expired keys the background sweeper takes from the index per
/// hold of its lock; it sweeps chunk after chunk while they come back full.
pub const SWEEP_CHUNK: usize = 64;

/// The name of the background sweeper thread.
const SWEEPER_NAME: &str = "stateplug-memory-sweep";

impl Default for MemoryProvider {
    fn default() -> Self {
        Self::with_clock(Clock::default())
    }
}

impl Drop for MemoryProvider {
    /// Disconnects the sweeper and waits for it to end, which it does
    /// within one chunk.
    fn drop(&mut self) {
        if let Some(Some(Sweeper { stop, thread })) = self.sweeper.take() {
            drop(stop);
            // The thread never panics; an error here would only repeat it.
            let _ = thread.join();
        }
    }
}

impl MemoryProvider {
    /// An empty provider on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty provider reading the time from `clock`.
    pub fn with_clock(clock: Clock) -> Self {
        Self::with_settings(clock, Duration::from_millis(DEFAULT_SWEEP_INTERVAL_MS))
    }

    fn with_settings(clock: Clock, sweep_interval: Duration) -> Self {
        MemoryProvider {
            shared: Arc::new(Shared {
                clock,
                ..Shared::default()
            }),
            sweep_interval,
            sweeper: OnceLock::new(),
        }
    }

    /// Starts the sweeper thread unless it runs already (or could not be
    /// spawned: then writes alone remove expired keys).
    fn start_sweeper(&self) {
        self.sweeper.get_or_init(|| {
            let (stop, stopped) = mpsc::channel();
            let shared = Arc::downgrade(&self.shared);
            let interval = self.sweep_interval;
            std::thread::Builder::new()
                .name(SWEEPER_NAME.into())
                .spawn(move || sweep_in_background(&shared, interval, &stopped))
                .ok()
                .map(|thread| Sweeper { stop, thread })
        });
    }
}

/// The sweeper thread's loop: every `interval`, removes every key expired
/// by the clock's "now"; ends as soon as the provider is dropped
/// (`stopped` disconnects, or `shared` is gone).
fn sweep_in_background(shared: &Weak<Shared>, interval: Duration, stopped: &mpsc::Receiver<()>) {
    loop {
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if !sweep_expired(shared, stopped) {
            return;
        }
    }
}

/// Removes every key expired by the clock's "now", [`SWEEP_CHUNK`] at a
/// time, holding `shared` strongly for one chunk at a time; returns whether
/// the provider is still there (`false`: `shared` is gone or `stopped`
/// disconnected, checked between chunks, and the sweeper ends).
fn sweep_expired(shared: &Weak<Shared>, stopped: &mpsc::Receiver<()>) -> bool {
    // "Now" is read once, at the first chunk, so a sweep ends even while
    // keys keep expiring.
    let mut swept_until = None;
    loop {
        let Some(state) = shared.upgrade() else {
            return false;
        };
        let now = *swept_until.get_or_insert_with(|| state.clock.now_ms());
        if state.sweep(now, SWEEP_CHUNK) < SWEEP_CHUNK {
            return true;
        }
        drop(state);
        match stopped.try_recv() {
            Err(TryRecvError::Empty) => {}
            Ok(()) | Err(TryRecvError::Disconnected) => return false,
        }
    }
}

impl Shared {
    /// Removes up to `limit` keys expired by `now`, each only if it still
    /// carries the expiry it was indexed with; returns how many index
    /// entries it took (stale ones included), so `limit` means there may
    /// be more. Takes no shard lock while holding the index lock.
    fn sweep(&self, now: u64, limit: usize) -> usize {
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
        let taken = due.len();
        for (at, store_id, key) in due {
            let emptied = match self.stores.get_mut(&*store_id) {
                Some(mut store) => {
                    let removed = store.expire(&key, at);
                    if removed {
                        let revision = self.revision.fetch_add(1, Ordering::Relaxed) + 1;
                        self.expired.record(&store_id, &key, revision);
                    }
                    removed && store.is_empty()
                }
                None => false,
            };
            if emptied {
                self.remove_if_empty(&store_id);
            }
        }
        taken
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
    /// Everything but durability, history and a change feed (its feed
    /// reports only the removals of expired keys); every call is a few
    /// hash-map or tree operations, so all run inline.
    const CAPABILITIES: Capabilities = Capabilities::new(
        CapabilityFlags::ATOMIC_BATCHES
            .union(CapabilityFlags::COMPARE_AND_SET)
            .union(CapabilityFlags::TRANSACTIONS)
            .union(CapabilityFlags::ORDERED_SCANS)
            .union(CapabilityFlags::LIST_STORES)
            .union(CapabilityFlags::INLINE_READS)
            .union(CapabilityFlags::INLINE_WRITES)
            .union(CapabilityFlags::TTL)
            .union(CapabilityFlags::EXPIRY_FEED),
    );

    fn open(config_json: &str) -> ProviderResult<Self> {
        Self::open_with(config_json, &OpenContext::READ_WRITE)
    }

    fn open_with(config_json: &str, context: &OpenContext) -> ProviderResult<Self> {
        let config: MemoryConfig = parse_config(Self::NAME, config_json)?;
        Ok(Self::with_settings(
            context.clock.clone(),
            config.sweep_interval()?,
        ))
    }

    fn get_entry(&self, store_id: &str, key: &str) -> ProviderResult<Option<Entry>> {
        let clock = &self.shared.clock;
        Ok(self
            .shared
            .with_store(store_id, |s| s.get_live(key, clock).map(Slot::entry), None))
    }

    fn read(
        &self,
        store_id: &str,
        key: &str,
        visit: &mut dyn FnMut(&[u8]),
    ) -> ProviderResult<bool> {
        let clock = &self.shared.clock;
        Ok(self.shared.with_store(
            store_id,
            |s| {
                s.get_live(key, clock)
                    .map(|slot| visit(slot.value()))
                    .is_some()
            },
            false,
        ))
    }

    fn get_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<Entry>>> {
        let now = self.shared.clock.now_ms();
        Ok(self.shared.with_store(
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
    /// starts the sweeper if the write put an expiry, and sweeps up to
    /// [`SWEEP_PER_WRITE`] expired keys, with no lock held.
    fn write(
        &self,
        store_id: &str,
        ops: &[WriteOp<'_>],
        changed: ChangeSink<'_>,
    ) -> ProviderResult<u64> {
        let now = self.shared.clock.now_ms();
        let mut expiring = Vec::new();
        let revision = self.shared.write_store(store_id, |store| {
            let mut writer = Writer {
                store,
                revisions: &self.shared.revision,
                revision: None,
                now,
                expiring: &mut expiring,
            };
            Ok(apply(ops, &mut writer, changed)?)
        });
        if !expiring.is_empty() {
            {
                let mut expiries = self
                    .shared
                    .expiries
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                for (at, key) in expiring {
                    expiries.insert((at, store_id.into(), key));
                }
            }
            self.start_sweeper();
        }
        self.shared.sweep(now, SWEEP_PER_WRITE);
        revision
    }

    fn change_head(&self) -> ProviderResult<u64> {
        Ok(self.shared.expired.head())
    }

    /// Removals of expired keys only; waits on the calling thread.
    fn wait_changes(&self, after: u64, limit: u32, timeout_ms: u32) -> ProviderResult<ChangePage> {
        self.shared.expired.wait(after, limit, timeout_ms)
    }

    fn expiries(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<u64>>> {
        Ok(self.shared.with_store(
            store_id,
            |s| keys.iter().map(|k| s.expiry(k)).collect(),
            vec![None; keys.len()],
        ))
    }

    fn list_keys(&self, store_id: &str) -> ProviderResult<Vec<String>> {
        let now = self.shared.clock.now_ms();
        Ok(self
            .shared
            .with_store(store_id, |s| s.keys(now), Vec::new()))
    }

    fn store_exists(&self, store_id: &str) -> ProviderResult<bool> {
        let now = self.shared.clock.now_ms();
        Ok(self.shared.with_store(store_id, |s| s.len(now) > 0, false))
    }

    fn key_count(&self, store_id: &str) -> ProviderResult<u64> {
        let now = self.shared.clock.now_ms();
        Ok(self.shared.with_store(store_id, |s| s.len(now) as u64, 0))
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
        let now = self.shared.clock.now_ms();
        Ok(self
            .shared
            .with_store(store_id, |store| store.scan_visit(&scan, visit, now), None))
    }

    fn list_stores(&self) -> ProviderResult<Vec<String>> {
        let now = self.shared.clock.now_ms();
        let mut ids: Vec<String> = self
            .shared
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
        assert!(p.shared.stores.is_empty());
        assert_eq!(
            write(&p, "unknown", &[WriteOp::delete("a")]).unwrap(),
            (0, 0)
        );
        assert_eq!(write(&p, "unknown", &[WriteOp::Clear]).unwrap(), (0, 0));
        assert!(p.get_entry("unknown", "a").unwrap().is_none());
        assert!(
            p.shared.stores.is_empty(),
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
        assert!(p.shared.stores.is_empty());
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

    /// A provider on a clock the test sets, sweeping in the background
    /// every `sweep_interval_ms`, and the clock's hand.
    fn on_moved_clock(sweep_interval_ms: u64) -> (MemoryProvider, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(1_000));
        let hand = now.clone();
        let p = MemoryProvider::with_settings(
            Clock::from_fn(move || hand.load(Ordering::SeqCst)),
            Duration::from_millis(sweep_interval_ms),
        );
        (p, now)
    }

    #[test]
    fn expired_keys_read_as_absent_and_the_next_writes_remove_them() {
        let (p, now) = on_moved_clock(MAX_SWEEP_INTERVAL_MS);
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
            p.shared.stores.get("t").is_none(),
            "the write swept the other store"
        );
        assert_eq!(
            p.shared.stores.get("s").map(|s| s.len(u64::MAX)),
            Some(2),
            "b is gone, a (rewritten without expiry) and c stay"
        );
    }

    #[test]
    fn a_put_without_ttl_clears_the_expiry() {
        let (p, now) = on_moved_clock(MAX_SWEEP_INTERVAL_MS);
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

    /// Polls `done` every millisecond until it holds; whether it did
    /// within `within`.
    fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
        let deadline = std::time::Instant::now() + within;
        while !done() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// `count` keys `{prefix}{i}` each put expiring at `at`, in one write.
    fn put_expiring_keys(p: &MemoryProvider, store_id: &str, prefix: &str, count: usize, at: u64) {
        let keys: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
        let ops: Vec<WriteOp<'_>> = keys
            .iter()
            .map(|k| WriteOp::put_expiring(k, b"v", at))
            .collect();
        write(p, store_id, &ops).unwrap();
    }

    /// The `(expiry, store_id, key)` entries of the index.
    fn indexed(p: &MemoryProvider) -> Vec<(u64, String, String)> {
        let expiries = p.shared.expiries.lock().unwrap();
        expiries
            .iter()
            .map(|(at, s, k)| (*at, s.to_string(), k.to_string()))
            .collect()
    }

    #[test]
    fn the_sweeper_removes_expired_keys_with_no_writes() {
        let (p, now) = on_moved_clock(5);
        let ops = [
            WriteOp::put_expiring("a", b"1", 2_000),
            WriteOp::put_expiring("b", b"1", 3_000),
            WriteOp::put("c", b"1"),
        ];
        write(&p, "s", &ops).unwrap();
        write(&p, "t", &[WriteOp::put_expiring("x", b"1", 2_000)]).unwrap();
        put_expiring_keys(&p, "bulk", "k", 3 * SWEEP_CHUNK + 5, 1_500);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            indexed(&p).len(),
            3 * SWEEP_CHUNK + 8,
            "nothing expired yet"
        );
        assert_eq!(p.shared.stores.len(), 3);
        now.store(2_500, Ordering::SeqCst);
        let swept = eventually(Duration::from_secs(5), || {
            p.shared.stores.len() == 1 && indexed(&p).len() == 1
        });
        assert!(
            swept,
            "with no writes, the sweeper removes every expired key: stores {:?}, index {:?}",
            p.list_stores(),
            indexed(&p).len()
        );
        assert_eq!(indexed(&p), [(3_000, "s".into(), "b".into())]);
        let s = p.shared.stores.get("s").expect("s holds live keys");
        assert_eq!(s.len(0), 2, "a is gone, b (not expired) and c stay");
        assert!(s.get("a", 0).is_none());
        assert_eq!(s.expiry("b"), Some(3_000));
        assert!(s.get("c", u64::MAX).is_some());
    }

    #[test]
    fn one_sweep_removes_every_expired_key_chunk_by_chunk() {
        let (p, now) = on_moved_clock(MAX_SWEEP_INTERVAL_MS);
        let count = 3 * SWEEP_CHUNK + 5;
        put_expiring_keys(&p, "bulk", "k", count, 1_500);
        put_expiring_keys(&p, "later", "k", 2, 9_000);
        now.store(2_000, Ordering::SeqCst);
        let shared = Arc::downgrade(&p.shared);
        let (stop, stopped) = mpsc::channel();
        assert!(sweep_expired(&shared, &stopped));
        assert!(p.shared.stores.get("bulk").is_none(), "all chunks swept");
        assert_eq!(indexed(&p).len(), 2, "the later keys stay indexed");
        put_expiring_keys(&p, "bulk", "k", count, 2_500);
        now.store(3_000, Ordering::SeqCst);
        drop(stop);
        assert!(!sweep_expired(&shared, &stopped), "disconnected: it stops");
        assert_eq!(
            p.shared.stores.get("bulk").map(|s| s.len(0)),
            Some(count - SWEEP_CHUNK),
            "it stopped after one chunk"
        );
    }

    #[test]
    fn dropping_the_provider_ends_its_sweeper_at_once() {
        let (p, _now) = on_moved_clock(MAX_SWEEP_INTERVAL_MS);
        write(&p, "s", &[WriteOp::put_expiring("a", b"1", 2_000)]).unwrap();
        let shared = Arc::downgrade(&p.shared);
        let sweeper = p.sweeper.get().and_then(Option::as_ref).expect("started");
        assert_eq!(sweeper.thread.thread().name(), Some(SWEEPER_NAME));
        std::thread::sleep(Duration::from_millis(20));
        let (dropped, done) = mpsc::channel();
        std::thread::spawn(move || {
            drop(p);
            let _ = dropped.send(());
        });
        done.recv_timeout(Duration::from_secs(5))
            .expect("the drop joins the sweeper long before its hour-long sleep ends");
        assert!(
            shared.upgrade().is_none(),
            "the sweeper keeps no hold on the state"
        );
    }

    #[test]
    fn no_sweeper_runs_until_a_put_carries_an_expiry() {
        let p = MemoryProvider::new();
        write(&p, "s", &[WriteOp::put("a", b"1"), WriteOp::put("b", b"1")]).unwrap();
        write(&p, "s", &[WriteOp::delete("a")]).unwrap();
        write(&p, "s", &[WriteOp::Clear]).unwrap();
        assert!(p.sweeper.get().is_none(), "no TTL seen, no thread");
        write(&p, "s", &[WriteOp::put_expiring("a", b"1", u64::MAX)]).unwrap();
        assert!(matches!(p.sweeper.get(), Some(Some(_))), "started");
    }

    #[test]
    fn sweep_interval_ms_is_read_and_out_of_range_values_are_refused() {
        let p = MemoryProvider::open(r#"{"sweep_interval_ms": 5}"#).unwrap();
        assert_eq!(p.sweep_interval, Duration::from_millis(5));
        let p = MemoryProvider::open("{}").unwrap();
        assert_eq!(
            p.sweep_interval,
            Duration::from_millis(DEFAULT_SWEEP_INTERVAL_MS)
        );
        for ms in [0, MAX_SWEEP_INTERVAL_MS + 1, u64::MAX] {
            let json = format!(r#"{{"sweep_interval_ms": {ms}}}"#);
            let err = MemoryProvider::open(&json).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT, "{json}");
            assert!(err.message().contains("`sweep_interval_ms`"), "{err}");
            assert!(err.message().contains("set it between 1 and"), "{err}");
        }
    }
}
