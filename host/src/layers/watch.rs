//! `WatchLayer`: change events (created / updated / deleted) for subscribers.

use std::{
    collections::{HashMap, HashSet},
    hash::{DefaultHasher, Hash, Hasher},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use async_trait::async_trait;
use futures::{
    stream::{self, BoxStream},
    StreamExt, TryStreamExt,
};
use tokio::sync::{
    broadcast::{self, error::RecvError, error::TryRecvError},
    Mutex, MutexGuard,
};

use crate::{
    Capabilities, CapabilityFlags, ChangePage, Entry, Expected, HistoryEntry, Operation, Page,
    Scan, StateStore, StoreInfo, StoreResult, TxnOp,
};

/// How many write locks the store_ids share: a store_id takes the lock its
/// hash selects, so memory does not grow with the number of store_ids.
const STRIPES: usize = 64;
/// Batches the channel holds for the slowest watcher by default.
const DEFAULT_CAPACITY: usize = 1024;
/// Read-before-write calls in flight at once for a batch.
const READ_CONCURRENCY: usize = 8;
/// Page size of the walk that lists a store before `clear_store`.
const CLEAR_PAGE: u32 = 1000;

/// What a write did to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// The key did not exist and now does.
    Created,
    /// The key existed and got a new value.
    Updated,
    /// The key existed and was removed.
    Deleted,
}

/// One key changed by a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The store the key belongs to.
    pub store_id: String,
    /// The key.
    pub key: String,
    /// What happened to it.
    pub kind: ChangeKind,
    /// For `Created` and `Updated`: the version the write gave the key.
    /// For `Deleted`: the version the key had when it was deleted, or 0 if
    /// the layer could not know it (only for a write that raced a write
    /// begun while no watcher existed; see [`WatchLayer`]).
    pub version: u64,
}

/// What a [`Watcher`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// The changes of one write call (a `set`, a `set_many`, a transaction,
    /// a `clear_store`...) that match the watcher, in the call's order;
    /// never empty. A call's changes always arrive together.
    Changes(Vec<Change>),
    /// The watcher fell behind and `missed` write calls' batches were
    /// dropped for it (counted over the whole layer, so some of them may be
    /// batches the watcher would have filtered out). Later events follow;
    /// re-read the watched keys to resynchronise.
    Lagged {
        /// How many batches were dropped.
        missed: u64,
    },
}

/// One write call's changes, all of one store_id, shared by every watcher.
type Batch = Arc<Vec<Change>>;

/// Publishes every write's changes to [`Watcher`]s.
///
/// Every write goes through the layer, so it knows created from updated
/// from deleted by reading the keys just before writing them. The
/// read-before, the write and the publishing of one store_id are serialised
/// by a lock (one of a fixed set, chosen by the store_id's hash), so for
/// each store_id the events arrive in commit order and each key's versions
/// increase. A write call is published before it returns to its caller.
///
/// - Only successful writes publish: a refused or failed write, a
///   compare-and-set that loses, a transaction whose check fails publish
///   nothing. A write that changes no key (deleting a missing key, an empty
///   batch) publishes nothing.
/// - In a transaction, check operations publish nothing; each put is
///   `Created` or `Updated` at the transaction's version; each delete is
///   `Deleted` if the key existed at that point of the transaction (earlier
///   operations of the same transaction count).
/// - `clear_store` publishes one `Deleted` per key it removes.
/// - A watcher sees every write that begins after [`WatchLayer::watch`]
///   returns. While no watcher exists, writes go straight to the wrapped
///   store with no lock and no extra read; a write still running when the
///   first watcher appears is not reported, and the first write to the
///   same key after it may then report `Created` for `Updated`.
/// - Reads pass straight through.
/// - If the read before a write fails, the write is not attempted and the
///   read's error is returned, labelled with the write's operation.
///
/// Fan-out is a bounded `tokio::sync::broadcast` channel: a watcher that
/// falls more than the capacity behind gets [`WatchEvent::Lagged`] and then
/// continues with later events.
pub struct WatchLayer {
    inner: Arc<dyn StateStore>,
    sender: broadcast::Sender<Batch>,
    watchers: Arc<AtomicUsize>,
    stripes: Box<[Mutex<()>]>,
}

/// Receives the changes of a [`WatchLayer`], filtered to one store_id (or
/// all) and one key prefix.
pub struct Watcher {
    rx: broadcast::Receiver<Batch>,
    store_id: Option<String>,
    prefix: String,
    _live: LiveWatcher,
}

/// Counts a watcher as live until it is dropped.
struct LiveWatcher(Arc<AtomicUsize>);

impl Drop for LiveWatcher {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Labels the error of a read done before a write with the write's operation.
fn before<T>(op: Operation, result: StoreResult<T>) -> StoreResult<T> {
    result.map_err(|mut e| {
        e.operation = op;
        e
    })
}

/// `keys` without repeats, in order of first appearance.
fn distinct<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    keys.into_iter().filter(|k| seen.insert(*k)).collect()
}

fn change(store_id: &str, key: String, kind: ChangeKind, version: u64) -> Change {
    Change {
        store_id: store_id.to_string(),
        key,
        kind,
        version,
    }
}

impl WatchLayer {
    /// Wraps `inner`; the channel holds 1024 batches for the slowest watcher.
    pub fn new(inner: Arc<dyn StateStore>) -> Self {
        Self::with_capacity(inner, DEFAULT_CAPACITY)
    }

    /// Wraps `inner`; the channel holds `capacity` batches (at least 1) for
    /// the slowest watcher before it gets [`WatchEvent::Lagged`].
    pub fn with_capacity(inner: Arc<dyn StateStore>, capacity: usize) -> Self {
        // broadcast::channel panics on 0 and on more than usize::MAX / 2.
        let capacity = capacity.clamp(1, usize::MAX / 2);
        let (sender, _) = broadcast::channel(capacity);
        WatchLayer {
            inner,
            sender,
            watchers: Arc::new(AtomicUsize::new(0)),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn StateStore> {
        &self.inner
    }

    /// A watcher of the keys of `store_id` that start with `prefix` (empty:
    /// every key of the store).
    pub fn watch(&self, store_id: &str, prefix: &str) -> Watcher {
        self.subscribe(Some(store_id.to_string()), prefix.to_string())
    }

    /// A watcher of every change of every store.
    pub fn watch_all(&self) -> Watcher {
        self.subscribe(None, String::new())
    }

    /// How many watchers are live.
    pub fn watcher_count(&self) -> usize {
        self.watchers.load(Ordering::SeqCst)
    }

    fn subscribe(&self, store_id: Option<String>, prefix: String) -> Watcher {
        // Subscribe first: a write that sees the count publishes after
        // the receiver exists.
        let rx = self.sender.subscribe();
        self.watchers.fetch_add(1, Ordering::SeqCst);
        Watcher {
            rx,
            store_id,
            prefix,
            _live: LiveWatcher(Arc::clone(&self.watchers)),
        }
    }

    /// The write lock of `store_id`, or `None` when nobody watches (the
    /// write then goes straight through).
    async fn lock(&self, store_id: &str) -> Option<MutexGuard<'_, ()>> {
        if self.watchers.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut hasher = DefaultHasher::new();
        store_id.hash(&mut hasher);
        let stripe = (hasher.finish() % STRIPES as u64) as usize;
        Some(self.stripes[stripe].lock().await)
    }

    fn publish(&self, changes: Vec<Change>) {
        if !changes.is_empty() {
            // Fails only when every watcher is gone: nobody to tell.
            let _ = self.sender.send(Arc::new(changes));
        }
    }

    /// Whether a batch of `n` operations is over the provider's declared
    /// limit. Such a call goes straight to the provider, which refuses it
    /// (the conformance suite proves that), instead of costing `n` reads.
    fn over_batch_limit(&self, n: usize) -> bool {
        n > self.inner.capabilities().limits().max_batch_ops as usize
    }

    /// The current versions of `keys` (`None`: absent), read concurrently.
    async fn versions(
        &self,
        op: Operation,
        store_id: &str,
        keys: &[&str],
    ) -> StoreResult<Vec<Option<u64>>> {
        // Collected first: a lazy `Map` over borrowed keys held across the
        // await makes the future's `Send` proof fail (higher-ranked lifetimes).
        let reads: Vec<_> = keys
            .iter()
            .map(|k| self.inner.get_entry(store_id, k))
            .collect();
        let versions = stream::iter(reads)
            .buffered(READ_CONCURRENCY)
            .map_ok(|e| e.map(|e| e.version))
            .try_collect()
            .await;
        before(op, versions)
    }

    /// Every key of `store_id` with its version.
    async fn entries(&self, store_id: &str) -> StoreResult<Vec<(String, u64)>> {
        let caps = self.inner.capabilities();
        if !caps.has(CapabilityFlags::ORDERED_SCANS) {
            let keys = before(Operation::ClearStore, self.inner.list_keys(store_id).await)?;
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let versions = self
                .versions(Operation::ClearStore, store_id, &refs)
                .await?;
            return Ok(keys
                .into_iter()
                .zip(versions)
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect());
        }
        let mut scan = Scan::prefix("").limit(CLEAR_PAGE.min(caps.limits().max_scan_limit).max(1));
        let mut found = Vec::new();
        loop {
            let page = before(
                Operation::ClearStore,
                self.inner.scan(store_id, &scan).await,
            )?;
            found.extend(page.entries.into_iter().map(|e| (e.key, e.version)));
            match page.next {
                Some(next) => scan.after = Some(next),
                None => return Ok(found),
            }
        }
    }
}

impl Watcher {
    /// The next event, waiting for it; `None` once the layer is dropped
    /// and every event before that was received.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        loop {
            match self.rx.recv().await {
                Ok(batch) => {
                    if let Some(event) = self.pick(&batch) {
                        return Some(event);
                    }
                }
                Err(RecvError::Lagged(missed)) => return Some(WatchEvent::Lagged { missed }),
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is already waiting, without waiting. A write
    /// call publishes before it returns, so its changes are waiting here as
    /// soon as the call has returned.
    pub fn try_next(&mut self) -> Option<WatchEvent> {
        loop {
            match self.rx.try_recv() {
                Ok(batch) => {
                    if let Some(event) = self.pick(&batch) {
                        return Some(event);
                    }
                }
                Err(TryRecvError::Lagged(missed)) => return Some(WatchEvent::Lagged { missed }),
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            }
        }
    }

    /// The events as a stream, ending when the layer is dropped.
    pub fn into_stream(self) -> BoxStream<'static, WatchEvent> {
        stream::unfold(self, |mut watcher| async move {
            watcher.next().await.map(|event| (event, watcher))
        })
        .boxed()
    }

    /// The part of `batch` this watcher wants, as an event, if any.
    fn pick(&self, batch: &[Change]) -> Option<WatchEvent> {
        // A batch holds changes of one store_id.
        let first = batch.first()?;
        if self
            .store_id
            .as_deref()
            .is_some_and(|s| s != first.store_id)
        {
            return None;
        }
        let picked: Vec<Change> = batch
            .iter()
            .filter(|c| c.key.starts_with(&self.prefix))
            .cloned()
            .collect();
        (!picked.is_empty()).then_some(WatchEvent::Changes(picked))
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl StateStore for WatchLayer {
    fn info(&self) -> &StoreInfo {
        self.inner.info()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn is_durable(&self) -> bool {
        self.inner.is_durable()
    }

    async fn get(&self, store_id: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get(store_id, key).await
    }

    async fn get_entry(&self, store_id: &str, key: &str) -> StoreResult<Option<Entry>> {
        self.inner.get_entry(store_id, key).await
    }

    async fn set(&self, store_id: &str, key: &str, value: Vec<u8>) -> StoreResult<u64> {
        let Some(_guard) = self.lock(store_id).await else {
            return self.inner.set(store_id, key, value).await;
        };
        let existed = before(Operation::Set, self.inner.contains_key(store_id, key).await)?;
        let version = self.inner.set(store_id, key, value).await?;
        let kind = if existed {
            ChangeKind::Updated
        } else {
            ChangeKind::Created
        };
        self.publish(vec![change(store_id, key.to_string(), kind, version)]);
        Ok(version)
    }

    async fn delete(&self, store_id: &str, key: &str) -> StoreResult<bool> {
        let Some(_guard) = self.lock(store_id).await else {
            return self.inner.delete(store_id, key).await;
        };
        let prior = before(Operation::Delete, self.inner.get_entry(store_id, key).await)?;
        let existed = self.inner.delete(store_id, key).await?;
        if existed {
            let version = prior.map_or(0, |e| e.version);
            self.publish(vec![change(
                store_id,
                key.to_string(),
                ChangeKind::Deleted,
                version,
            )]);
        }
        Ok(existed)
    }

    async fn contains_key(&self, store_id: &str, key: &str) -> StoreResult<bool> {
        self.inner.contains_key(store_id, key).await
    }

    async fn get_many(
        &self,
        store_id: &str,
        keys: &[&str],
    ) -> StoreResult<HashMap<String, Vec<u8>>> {
        self.inner.get_many(store_id, keys).await
    }

    async fn set_many(&self, store_id: &str, entries: Vec<(String, Vec<u8>)>) -> StoreResult<u64> {
        let guard = self.lock(store_id).await;
        if guard.is_none() || entries.is_empty() || self.over_batch_limit(entries.len()) {
            return self.inner.set_many(store_id, entries).await;
        }
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let refs = distinct(keys.iter().map(String::as_str));
        let found = before(
            Operation::SetMany,
            self.inner.get_many(store_id, &refs).await,
        )?;
        let version = self.inner.set_many(store_id, entries).await?;
        let mut written = HashSet::new();
        let changes = keys
            .into_iter()
            .map(|key| {
                let kind = if found.contains_key(&key) || written.contains(&key) {
                    ChangeKind::Updated
                } else {
                    ChangeKind::Created
                };
                written.insert(key.clone());
                change(store_id, key, kind, version)
            })
            .collect();
        self.publish(changes);
        Ok(version)
    }

    async fn delete_many(&self, store_id: &str, keys: &[&str]) -> StoreResult<u64> {
        let guard = self.lock(store_id).await;
        if guard.is_none() || keys.is_empty() || self.over_batch_limit(keys.len()) {
            return self.inner.delete_many(store_id, keys).await;
        }
        let unique = distinct(keys.iter().copied());
        let versions = self
            .versions(Operation::DeleteMany, store_id, &unique)
            .await?;
        let count = self.inner.delete_many(store_id, keys).await?;
        let changes = unique
            .iter()
            .zip(versions)
            .filter_map(|(key, version)| {
                version.map(|v| change(store_id, key.to_string(), ChangeKind::Deleted, v))
            })
            .collect();
        self.publish(changes);
        Ok(count)
    }

    async fn clear_store(&self, store_id: &str) -> StoreResult<u64> {
        let Some(_guard) = self.lock(store_id).await else {
            return self.inner.clear_store(store_id).await;
        };
        let entries = self.entries(store_id).await?;
        let count = self.inner.clear_store(store_id).await?;
        let changes = entries
            .into_iter()
            .map(|(key, version)| change(store_id, key, ChangeKind::Deleted, version))
            .collect();
        self.publish(changes);
        Ok(count)
    }

    async fn list_keys(&self, store_id: &str) -> StoreResult<Vec<String>> {
        self.inner.list_keys(store_id).await
    }

    async fn store_exists(&self, store_id: &str) -> StoreResult<bool> {
        self.inner.store_exists(store_id).await
    }

    async fn key_count(&self, store_id: &str) -> StoreResult<u64> {
        self.inner.key_count(store_id).await
    }

    async fn sync(&self) -> StoreResult<()> {
        self.inner.sync().await
    }

    async fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: Vec<u8>,
    ) -> StoreResult<u64> {
        let Some(_guard) = self.lock(store_id).await else {
            return self
                .inner
                .compare_and_set(store_id, key, expected, value)
                .await;
        };
        let version = self
            .inner
            .compare_and_set(store_id, key, expected, value)
            .await?;
        let kind = match expected {
            Expected::Absent => ChangeKind::Created,
            Expected::Version(_) => ChangeKind::Updated,
        };
        self.publish(vec![change(store_id, key.to_string(), kind, version)]);
        Ok(version)
    }

    async fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> StoreResult<()> {
        let Some(_guard) = self.lock(store_id).await else {
            return self.inner.compare_and_delete(store_id, key, version).await;
        };
        self.inner
            .compare_and_delete(store_id, key, version)
            .await?;
        self.publish(vec![change(
            store_id,
            key.to_string(),
            ChangeKind::Deleted,
            version,
        )]);
        Ok(())
    }

    async fn transaction(&self, store_id: &str, ops: Vec<TxnOp>) -> StoreResult<u64> {
        let guard = self.lock(store_id).await;
        // Each write op as (key, is_put), in order; checks publish nothing.
        let plan: Vec<(String, bool)> = if guard.is_none() || self.over_batch_limit(ops.len()) {
            Vec::new()
        } else {
            ops.iter()
                .filter_map(|op| match op {
                    TxnOp::Put { key, .. } => Some((key.clone(), true)),
                    TxnOp::Delete { key } => Some((key.clone(), false)),
                    TxnOp::Check { .. } => None,
                })
                .collect()
        };
        if plan.is_empty() {
            return self.inner.transaction(store_id, ops).await;
        }
        let keys = distinct(plan.iter().map(|(k, _)| k.as_str()));
        let versions = self
            .versions(Operation::Transaction, store_id, &keys)
            .await?;
        let mut state: HashMap<&str, Option<u64>> = keys.into_iter().zip(versions).collect();
        let version = self.inner.transaction(store_id, ops).await?;
        let mut changes = Vec::with_capacity(plan.len());
        for (key, is_put) in &plan {
            let current = state.entry(key.as_str()).or_insert(None);
            if *is_put {
                let kind = if current.is_some() {
                    ChangeKind::Updated
                } else {
                    ChangeKind::Created
                };
                *current = Some(version);
                changes.push(change(store_id, key.clone(), kind, version));
            } else if let Some(v) = current.take() {
                changes.push(change(store_id, key.clone(), ChangeKind::Deleted, v));
            }
        }
        self.publish(changes);
        Ok(version)
    }

    async fn scan(&self, store_id: &str, scan: &Scan) -> StoreResult<Page> {
        self.inner.scan(store_id, scan).await
    }

    async fn list_stores(&self) -> StoreResult<Vec<String>> {
        self.inner.list_stores().await
    }

    async fn history(
        &self,
        store_id: &str,
        key: &str,
        limit: u32,
    ) -> StoreResult<Vec<HistoryEntry>> {
        self.inner.history(store_id, key, limit).await
    }

    async fn get_version(
        &self,
        store_id: &str,
        key: &str,
        version: u64,
    ) -> StoreResult<Option<Entry>> {
        self.inner.get_version(store_id, key, version).await
    }

    async fn change_head(&self) -> StoreResult<u64> {
        self.inner.change_head().await
    }

    async fn wait_changes(
        &self,
        after: u64,
        limit: u32,
        timeout: std::time::Duration,
    ) -> StoreResult<ChangePage> {
        self.inner.wait_changes(after, limit, timeout).await
    }
}
