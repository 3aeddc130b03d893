//! Following a provider's change feed: the task that reads it while
//! watchers exist and publishes each write's changes to them, and, for a
//! provider whose feed reports only its removals of expired keys, the
//! drain each write runs before its own changes are published.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Weak,
    },
    time::Duration,
};

use tokio::sync::{broadcast, watch, Mutex, Notify};

use super::{
    event::{Batch, Published},
    sequence::Sequencer,
};
use crate::store::{ChangeRecord, StateStore, StoreError};

/// Most changes one read of a provider's change feed returns.
const FEED_PAGE: u32 = 1000;
/// How long one read of a provider's change feed waits for a change.
const FEED_WAIT: Duration = Duration::from_secs(1);
/// The same for a feed of expiries: shorter, since the waiting read holds
/// the provider open (a redb file stays locked until it returns) and the
/// local provider answers it cheaply.
const EXPIRY_FEED_WAIT: Duration = Duration::from_millis(200);
/// First and longest pause after a failed read of the change feed.
const FEED_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));
/// Longest a write waits for the layer to start following the change feed.
const FEED_READY_WAIT: Duration = Duration::from_secs(10);

/// Follows a provider's change feed for a [`WatchLayer`](super::WatchLayer): the state shared
/// by the layer, its watchers and the background task.
///
/// Invariant: `cursor` is the feed position up to which every change has
/// been handed on (published, or given to the sequencer); only its
/// holder reads the feed from it and moves it, so no change is handed on
/// twice or skipped.
pub(super) struct Feed {
    store: Weak<dyn StateStore>,
    /// `Some` when the feed reports only expiries (`EXPIRY_FEED`): they go
    /// through the layer's sequencer, ordered with the writes by revision
    /// (held weakly: its publisher holds the layer's sender).
    expiries: Option<Weak<Sequencer>>,
    /// Where reading resumes (`None`: no position taken).
    cursor: Mutex<Option<u64>>,
    /// The layer's sender: the channel closes when the layer drops it.
    sender: Weak<broadcast::Sender<Batch>>,
    watchers: Arc<AtomicUsize>,
    /// Whether the task was spawned.
    started: AtomicBool,
    /// Whether the task has a position in the feed taken while a watcher
    /// existed (reset when the last watcher goes).
    following: watch::Sender<bool>,
    /// The value of `following`, read without its lock by every write.
    following_now: AtomicBool,
    /// A watcher appeared.
    pub(super) wake: Notify,
    /// The layer was dropped.
    stopped: AtomicBool,
    stop: Notify,
}

impl Feed {
    /// The feed state of a layer over `store`, publishing through `sender`,
    /// or for a feed of expiries only, through `expiries`.
    pub(super) fn new(
        store: &Arc<dyn StateStore>,
        sender: &Arc<broadcast::Sender<Batch>>,
        watchers: &Arc<AtomicUsize>,
        expiries: Option<&Arc<Sequencer>>,
    ) -> Arc<Self> {
        Arc::new(Feed {
            store: Arc::downgrade(store),
            expiries: expiries.map(Arc::downgrade),
            cursor: Mutex::new(None),
            sender: Arc::downgrade(sender),
            watchers: Arc::clone(watchers),
            started: AtomicBool::new(false),
            following: watch::Sender::new(false),
            following_now: AtomicBool::new(false),
            wake: Notify::new(),
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
        })
    }

    /// Whether the feed reports only expiries (`EXPIRY_FEED`).
    pub(super) fn expiries_only(&self) -> bool {
        self.expiries.is_some()
    }

    /// Ends the task: the layer is gone.
    pub(super) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
    }

    /// Spawns the task once, if a tokio runtime is running here.
    pub(super) fn start(self: &Arc<Self>) {
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

    /// Whether a write needs not wait for the task: it follows the feed,
    /// or no watcher exists.
    pub(super) fn is_following(&self) -> bool {
        self.following_now.load(Ordering::SeqCst) || self.watchers.load(Ordering::SeqCst) == 0
    }

    /// Records whether the task follows the feed, waking writes waiting for it.
    fn set_following(&self, following: bool) {
        self.following_now.store(following, Ordering::SeqCst);
        self.following.send_replace(following);
    }

    /// Waits (at most [`FEED_READY_WAIT`]) until the task follows the feed;
    /// outside a tokio runtime, where the task cannot run, returns false
    /// at once.
    pub(super) async fn wait_following(self: &Arc<Self>) -> bool {
        if self.is_following() {
            return true;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return false;
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

    /// Hands on one write's changes (one store_id and version): to the
    /// sequencer for a feed of expiries, else to the watchers; false once
    /// the layer is gone.
    fn hand_on(&self, changes: Vec<ChangeRecord>) -> bool {
        match &self.expiries {
            Some(sequencer) => match sequencer.upgrade() {
                Some(sequencer) => {
                    let revision = changes.first().map_or(0, |c| c.version);
                    sequencer.observed(revision, changes);
                    true
                }
                None => false,
            },
            None => self.send(Published::Changes(changes)),
        }
    }

    /// For a feed of expiries: hands on every expiry the provider has
    /// recorded so far. A write runs it after its answer and before its
    /// changes go to the sequencer, so a removal that came before the
    /// write is published before it. Reads without waiting; a failed read
    /// is left to the task, which reports it.
    pub(super) async fn drain(&self) {
        if self.expiries.is_none() {
            return;
        }
        let Some(store) = self.store.upgrade() else {
            return;
        };
        let mut cursor = self.cursor.lock().await;
        let Some(mut at) = *cursor else {
            return;
        };
        loop {
            let Ok(page) = store.wait_changes(at, FEED_PAGE, Duration::ZERO).await else {
                return;
            };
            let full = page.changes.len() >= FEED_PAGE as usize;
            for group in by_write(page.changes) {
                self.hand_on(group);
            }
            at = page.cursor.max(at);
            *cursor = Some(at);
            if !full {
                return;
            }
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

/// Splits a page of changes into runs of one store_id and version (one
/// write's changes each), in order.
fn by_write(changes: Vec<ChangeRecord>) -> Vec<Vec<ChangeRecord>> {
    let mut groups: Vec<Vec<ChangeRecord>> = Vec::new();
    for record in changes {
        match groups.last_mut() {
            Some(group) if same_write(group, &record) => group.push(record),
            _ => groups.push(vec![record]),
        }
    }
    groups
}

/// Whether `record` belongs to the write whose changes `group` holds.
fn same_write(group: &[ChangeRecord], record: &ChangeRecord) -> bool {
    group
        .last()
        .is_some_and(|last| last.version == record.version && last.store_id == record.store_id)
}

/// The task that follows the change feed while watchers exist; see
/// [`WatchLayer`]. Consecutive changes of one store_id and version are one
/// write call's and are published together; a page that ends with a full
/// read may continue that call, so its last group waits for the next page
/// (for a feed of expiries, each page's groups go to the sequencer at once,
/// since a write's drain may read the next page first).
async fn follow(store: Arc<dyn StateStore>, feed: Arc<Feed>) {
    let mut lost_at: Option<u64> = None;
    let mut group: Vec<ChangeRecord> = Vec::new();
    let mut backoff = FEED_BACKOFF.0;
    loop {
        if feed.stopped.load(Ordering::SeqCst) || feed.sender.strong_count() == 0 {
            return;
        }
        if feed.watchers.load(Ordering::SeqCst) == 0 {
            *feed.cursor.lock().await = None;
            group.clear();
            feed.set_following(false);
            let woken = feed.wake.notified();
            if feed.watchers.load(Ordering::SeqCst) == 0 {
                tokio::select! {
                    _ = woken => {}
                    _ = feed.stopped() => return,
                }
            }
            continue;
        }
        let position = *feed.cursor.lock().await;
        let Some(at) = position else {
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
                    *feed.cursor.lock().await = Some(head);
                    backoff = FEED_BACKOFF.0;
                    feed.set_following(true);
                }
                Err(e) => {
                    if !pause(&feed, &mut backoff, "reading the change feed's head", &e).await {
                        return;
                    }
                }
            }
            continue;
        };
        let wait = if feed.expiries.is_some() {
            EXPIRY_FEED_WAIT
        } else {
            FEED_WAIT
        };
        let page = tokio::select! {
            page = store.wait_changes(at, FEED_PAGE, wait) => page,
            _ = feed.stopped() => return,
        };
        match page {
            Ok(page) => {
                backoff = FEED_BACKOFF.0;
                let mut cursor = feed.cursor.lock().await;
                if *cursor != Some(at) {
                    // A write's drain handed these on already.
                    continue;
                }
                let carry = page.changes.len() >= FEED_PAGE as usize && feed.expiries.is_none();
                for record in page.changes {
                    if !group.is_empty()
                        && !same_write(&group, &record)
                        && !feed.hand_on(std::mem::take(&mut group))
                    {
                        return;
                    }
                    group.push(record);
                }
                if !carry && !group.is_empty() && !feed.hand_on(std::mem::take(&mut group)) {
                    return;
                }
                *cursor = Some(page.cursor.max(at));
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
                *feed.cursor.lock().await = None;
                group.clear();
                if !pause(&feed, &mut backoff, "reading the change feed", &e).await {
                    return;
                }
            }
        }
    }
}
