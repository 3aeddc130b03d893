//! `WatchLayer`: change events (created / updated / deleted) for subscribers.

use std::{
    collections::{HashMap, HashSet},
    hash::{DefaultHasher, Hash, Hasher},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Weak,
    },
    time::Duration,
};

use async_trait::async_trait;
use futures::{
    stream::{self, BoxStream},
    StreamExt, TryStreamExt,
};
use tokio::sync::{
    broadcast::{self, error::RecvError, error::TryRecvError},
    watch, Mutex, MutexGuard, Notify,
};

use crate::store::{
    Capabilities, CapabilityFlags, ChangePage, ChangeRecord, Entry, Expected, HistoryEntry,
    Operation, Page, RowPage, Scan, StateStore, StoreError, StoreFuture, StoreInfo, StoreResult,
    TxnOp,
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
/// Most changes one read of a provider's change feed returns.
const FEED_PAGE: u32 = 1000;
/// How long one read of a provider's change feed waits for a change.
const FEED_WAIT: Duration = Duration::from_secs(1);
/// First and longest pause after a failed read of the change feed.
const FEED_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));
/// Longest a write waits for the layer to start following the change feed.
const FEED_READY_WAIT: Duration = Duration::from_secs(10);

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
    /// begun while no watcher existed; see [`WatchLayer`]). When the layer
    /// follows a provider's change feed: the revision of the deleting write
    /// (what the feed reports), shared by every change of that write.
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
    /// re-read the watched keys to resynchronise. When the layer itself
    /// lost its place in a provider's change feed (the provider no longer
    /// retained it), every watcher gets this, with `missed` the number of
    /// feed positions skipped.
    Lagged {
        /// How many batches were dropped.
        missed: u64,
    },
}

/// What the layer sends its watchers.
#[derive(Debug)]
enum Published {
    /// One write call's changes, all of one store_id.
    Changes(Vec<Change>),
    /// The layer lost its place in the provider's change feed and skipped
    /// this many positions.
    Missed(u64),
}

/// One message, shared by every watcher.
type Batch = Arc<Published>;

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
///
/// # With a provider's change feed
///
/// When the wrapped store declares [`CapabilityFlags::CHANGE_FEED`] (its
/// provider reports every committed change, also those made by other hosts
/// sharing its storage), the layer does not observe writes itself: while at
/// least one watcher exists, a background task reads the feed from the
/// position it had when the first watcher appeared, groups consecutive
/// changes of one store_id and version (one write call) into one batch, and
/// publishes them in feed order. Changes made through this layer, through
/// another layer, or by another host arrive alike, each exactly once; writes
/// pass straight through, with no lock and no extra read.
///
/// - A batch arrives shortly after its write commits (the feed wakes on the
///   commit), not necessarily before the write returns. A write through
///   this layer that begins after [`WatchLayer::watch`] returns waits, if
///   needed, until the task has taken its starting position, so it is
///   never missed; [`WatchLayer::ready`] waits for the same, for writes made
///   elsewhere.
/// - A deletion's version is the revision of the deleting write.
/// - A failed read of the feed is retried with backoff; if the provider no
///   longer retains the layer's position, every watcher gets
///   [`WatchEvent::Lagged`] and the task continues from the feed's head.
/// - The task needs a tokio runtime: it starts on the first watcher, write
///   or `next` call made inside one, and ends soon after the layer is dropped.
pub struct WatchLayer {
    inner: Arc<dyn StateStore>,
    sender: Arc<broadcast::Sender<Batch>>,
    watchers: Arc<AtomicUsize>,
    stripes: Box<[Mutex<()>]>,
    feed: Option<Arc<Feed>>,
}

/// Receives the changes of a [`WatchLayer`], filtered to one store_id (or
/// all) and one key prefix.
pub struct Watcher {
    rx: broadcast::Receiver<Batch>,
    store_id: Option<String>,
    prefix: String,
    feed: Option<Arc<Feed>>,
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
        let sender = Arc::new(sender);
        let watchers = Arc::new(AtomicUsize::new(0));
        let feed = inner
            .capabilities()
            .has(CapabilityFlags::CHANGE_FEED)
            .then(|| {
                Arc::new(Feed {
                    store: Arc::downgrade(&inner),
                    sender: Arc::downgrade(&sender),
                    watchers: Arc::clone(&watchers),
                    started: AtomicBool::new(false),
                    following: watch::Sender::new(false),
                    wake: Notify::new(),
                    stopped: AtomicBool::new(false),
                    stop: Notify::new(),
                })
            });
        WatchLayer {
            inner,
            sender,
            watchers,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            feed,
        }
    }

    /// Whether the layer reports changes from the provider's change feed
    /// (see [the type's doc](WatchLayer#with-a-providers-change-feed)).
    pub fn follows_change_feed(&self) -> bool {
        self.feed.is_some()
    }

    /// When following a change feed with at least one watcher: waits until
    /// the layer has taken its starting position in the feed, so that every
    /// change committed afterwards, by any host, reaches the watchers.
    /// Returns at once otherwise. Gives up after 10 s (the feed may be
    /// unreachable) and returns whether the layer follows the feed.
    pub async fn ready(&self) -> bool {
        match &self.feed {
            Some(feed) => feed.wait_following().await,
            None => true,
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
        if let Some(feed) = &self.feed {
            feed.wake.notify_one();
            feed.start();
        }
        Watcher {
            rx,
            store_id,
            prefix,
            feed: self.feed.clone(),
            _live: LiveWatcher(Arc::clone(&self.watchers)),
        }
    }

    /// The write lock of `store_id`, or `None` when nobody watches or the
    /// layer follows a change feed (the write then goes straight through;
    /// with a feed, once the layer follows it).
    async fn lock(&self, store_id: &str) -> Option<MutexGuard<'_, ()>> {
        if let Some(feed) = &self.feed {
            if self.watchers.load(Ordering::SeqCst) > 0 {
                feed.wait_following().await;
            }
            return None;
        }
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
            let _ = self.sender.send(Arc::new(Published::Changes(changes)));
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

impl Drop for WatchLayer {
    fn drop(&mut self) {
        if let Some(feed) = &self.feed {
            feed.stopped.store(true, Ordering::SeqCst);
            feed.stop.notify_waiters();
        }
    }
}

/// Follows a provider's change feed for a [`WatchLayer`]: the state shared
/// by the layer, its watchers and the background task.
struct Feed {
    store: Weak<dyn StateStore>,
    /// The layer's sender: the channel closes when the layer drops it.
    sender: Weak<broadcast::Sender<Batch>>,
    watchers: Arc<AtomicUsize>,
    /// Whether the task was spawned.
    started: AtomicBool,
    /// Whether the task has a position in the feed taken while a watcher
    /// existed (reset when the last watcher goes).
    following: watch::Sender<bool>,
    /// A watcher appeared.
    wake: Notify,
    /// The layer was dropped.
    stopped: AtomicBool,
    stop: Notify,
}

impl Feed {
    /// Spawns the task once, if a tokio runtime is running here.
    fn start(self: &Arc<Self>) {
        if self.started.load(Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Some(store) = self.store.upgrade() else {
            return;
        };
        if !self.started.swap(true, Ordering::SeqCst) {
            runtime.spawn(follow(store, Arc::clone(self)));
        }
    }

    /// Waits (at most [`FEED_READY_WAIT`]) until the task follows the feed.
    async fn wait_following(self: &Arc<Self>) -> bool {
        if *self.following.borrow() || self.watchers.load(Ordering::SeqCst) == 0 {
            return true;
        }
        self.start();
        let mut following = self.following.subscribe();
        tokio::time::timeout(FEED_READY_WAIT, following.wait_for(|f| *f))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Resolves once the layer is dropped.
    async fn stopped(&self) {
        loop {
            let stop = self.stop.notified();
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            stop.await;
        }
    }

    /// Sends to the watchers; false once the layer is gone.
    fn send(&self, published: Published) -> bool {
        match self.sender.upgrade() {
            Some(sender) => {
                // Fails only when every watcher is gone: nobody to tell.
                let _ = sender.send(Arc::new(published));
                true
            }
            None => false,
        }
    }
}

fn from_record(record: ChangeRecord) -> Change {
    let kind = match record.kind {
        crate::ChangeKind::Created => ChangeKind::Created,
        crate::ChangeKind::Updated => ChangeKind::Updated,
        crate::ChangeKind::Deleted => ChangeKind::Deleted,
    };
    change(&record.store_id, record.key, kind, record.version)
}

/// Logs a failed feed call and sleeps `backoff` (doubling it, up to the
/// limit); returns false if the layer was dropped meanwhile.
async fn pause(feed: &Feed, backoff: &mut Duration, what: &str, err: &StoreError) -> bool {
    tracing::warn!(target: "stateplug::layers", error = %err, "watch layer: {what} failed; retrying in {backoff:?}");
    let wait = *backoff;
    *backoff = (*backoff * 2).min(FEED_BACKOFF.1);
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = feed.stopped() => false,
    }
}

/// The task that follows the change feed while watchers exist; see
/// [`WatchLayer`]. Consecutive changes of one store_id and version are one
/// write call's and are published together; a page that ends with a full
/// read may continue that call, so its last group waits for the next page.
async fn follow(store: Arc<dyn StateStore>, feed: Arc<Feed>) {
    let mut cursor: Option<u64> = None;
    let mut lost_at: Option<u64> = None;
    let mut group: Vec<Change> = Vec::new();
    let mut backoff = FEED_BACKOFF.0;
    loop {
        if feed.stopped.load(Ordering::SeqCst) || feed.sender.strong_count() == 0 {
            return;
        }
        if feed.watchers.load(Ordering::SeqCst) == 0 {
            cursor = None;
            group.clear();
            feed.following.send_replace(false);
            let woken = feed.wake.notified();
            if feed.watchers.load(Ordering::SeqCst) == 0 {
                tokio::select! {
                    _ = woken => {}
                    _ = feed.stopped() => return,
                }
            }
            continue;
        }
        let Some(at) = cursor else {
            let head = tokio::select! {
                head = store.change_head() => head,
                _ = feed.stopped() => return,
            };
            match head {
                Ok(head) => {
                    if let Some(old) = lost_at.take() {
                        if !feed.send(Published::Missed(head.saturating_sub(old).max(1))) {
                            return;
                        }
                    }
                    cursor = Some(head);
                    backoff = FEED_BACKOFF.0;
                    feed.following.send_replace(true);
                }
                Err(e) => {
                    if !pause(&feed, &mut backoff, "reading the change feed's head", &e).await {
                        return;
                    }
                }
            }
            continue;
        };
        let page = tokio::select! {
            page = store.wait_changes(at, FEED_PAGE, FEED_WAIT) => page,
            _ = feed.stopped() => return,
        };
        match page {
            Ok(page) => {
                backoff = FEED_BACKOFF.0;
                let full = page.changes.len() >= FEED_PAGE as usize;
                for record in page.changes {
                    let same_call = group.last().is_some_and(|last: &Change| {
                        last.version == record.version && last.store_id == record.store_id
                    });
                    if !same_call
                        && !group.is_empty()
                        && !feed.send(Published::Changes(std::mem::take(&mut group)))
                    {
                        return;
                    }
                    group.push(from_record(record));
                }
                if !full
                    && !group.is_empty()
                    && !feed.send(Published::Changes(std::mem::take(&mut group)))
                {
                    return;
                }
                cursor = Some(page.cursor.max(at));
            }
            Err(e) if e.temporary => {
                if !pause(&feed, &mut backoff, "reading the change feed", &e).await {
                    return;
                }
            }
            Err(e) => {
                // The provider cannot continue from here (it no longer
                // retains the position): start again from the head.
                tracing::warn!(target: "stateplug::layers", error = %e, "watch layer lost its place in the change feed; watchers get Lagged");
                lost_at = Some(at);
                cursor = None;
                group.clear();
                if !pause(&feed, &mut backoff, "reading the change feed", &e).await {
                    return;
                }
            }
        }
    }
}

impl Watcher {
    /// The next event, waiting for it; `None` once the layer is dropped
    /// and every event before that was received.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        if let Some(feed) = &self.feed {
            feed.start();
        }
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
    /// soon as the call has returned (when the layer follows a change feed,
    /// only once the feed has delivered them: use [`Watcher::next`]).
    pub fn try_next(&mut self) -> Option<WatchEvent> {
        if let Some(feed) = &self.feed {
            feed.start();
        }
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
    fn pick(&self, batch: &Published) -> Option<WatchEvent> {
        let batch = match batch {
            Published::Changes(changes) => changes,
            Published::Missed(missed) => return Some(WatchEvent::Lagged { missed: *missed }),
        };
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

    fn get<'a>(&'a self, store_id: &'a str, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        // Reads change nothing: the inner store's future, as it is.
        self.inner.get(store_id, key)
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

    async fn scan_rows(&self, store_id: &str, scan: &Scan) -> StoreResult<RowPage> {
        self.inner.scan_rows(store_id, scan).await
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
