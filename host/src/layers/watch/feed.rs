//! Following a provider's change feed: the task that reads it while
//! watchers exist and publishes each write's changes to them.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Weak,
    },
    time::Duration,
};

use tokio::sync::{broadcast, watch, Notify};

use super::event::{Batch, Published};
use crate::store::{ChangeRecord, StateStore, StoreError};

/// Most changes one read of a provider's change feed returns.
const FEED_PAGE: u32 = 1000;
/// How long one read of a provider's change feed waits for a change.
const FEED_WAIT: Duration = Duration::from_secs(1);
/// First and longest pause after a failed read of the change feed.
const FEED_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));
/// Longest a write waits for the layer to start following the change feed.
const FEED_READY_WAIT: Duration = Duration::from_secs(10);

/// Follows a provider's change feed for a [`WatchLayer`](super::WatchLayer): the state shared
/// by the layer, its watchers and the background task.
pub(super) struct Feed {
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
    pub(super) wake: Notify,
    /// The layer was dropped.
    stopped: AtomicBool,
    stop: Notify,
}

impl Feed {
    /// The feed state of a layer over `store`, publishing through `sender`.
    pub(super) fn new(
        store: &Arc<dyn StateStore>,
        sender: &Arc<broadcast::Sender<Batch>>,
        watchers: &Arc<AtomicUsize>,
    ) -> Arc<Self> {
        Arc::new(Feed {
            store: Arc::downgrade(store),
            sender: Arc::downgrade(sender),
            watchers: Arc::clone(watchers),
            started: AtomicBool::new(false),
            following: watch::Sender::new(false),
            wake: Notify::new(),
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
        })
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

    /// Waits (at most [`FEED_READY_WAIT`]) until the task follows the feed.
    pub(super) async fn wait_following(self: &Arc<Self>) -> bool {
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
    let mut group: Vec<ChangeRecord> = Vec::new();
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
                    let same_call = group.last().is_some_and(|last: &ChangeRecord| {
                        last.version == record.version && last.store_id == record.store_id
                    });
                    if !same_call
                        && !group.is_empty()
                        && !feed.send(Published::Changes(std::mem::take(&mut group)))
                    {
                        return;
                    }
                    group.push(record);
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
