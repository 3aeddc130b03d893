//! `WatchLayer`: change events (created / updated / deleted / expired) for
//! subscribers.

mod event;
mod feed;
mod sequence;
mod watcher;

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use tokio::sync::broadcast;

pub use self::event::WatchEvent;
pub use self::watcher::{Watcher, WATCHERS, WATCH_LAGGED, WATCH_MISSED};
use self::{
    event::{Batch, Published},
    feed::Feed,
    sequence::{Sequencer, Ticket},
    watcher::LiveWatcher,
};
use crate::{
    layers::{Call, Layer},
    store::{CapabilityFlags, ChangeRecord, StateStore, StoreFuture, StoreResult, Written},
    ChangeKind,
};

/// Batches the channel holds for the slowest watcher by default.
const DEFAULT_CAPACITY: usize = 1024;

/// Publishes every write's changes to [`Watcher`]s (wrap a store in it
/// with [`Layered`](crate::layers::Layered)).
///
/// Every write goes through the layer, and its answer says what it changed
/// (each key's version before and after), so the layer knows created from
/// updated from deleted without reading anything. Writes running at once
/// return in any order; the layer releases their changes in commit order,
/// as soon as no earlier write can still be running, so for each key the
/// events arrive in version order. A write's changes are published before
/// it returns to its caller, or just after when it overlapped a write still
/// running.
///
/// - Only successful writes publish: a refused or failed write, a
///   compare-and-set that loses, a transaction whose check fails publish
///   nothing. A write that changes no key (deleting a missing key, an empty
///   batch) publishes nothing.
/// - Each change carries the write's revision as its version, a deletion
///   too; checks publish nothing; a transaction's changes come in its
///   order; `clear_store` publishes one `Deleted` per key it removed.
/// - A watcher sees every write that begins after [`WatchLayer::watch`]
///   returns. While no watcher exists, writes go straight to the wrapped
///   store, untouched. A write whose caller stops waiting for it (its
///   future dropped) publishes nothing, even if it was applied.
/// - Reads pass straight through.
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
/// changes of one store_id and version (one write) into one batch, and
/// publishes them in feed order. Changes made through this layer, through
/// another layer, or by another host arrive alike, each exactly once.
///
/// - A batch arrives shortly after its write commits (the feed wakes on the
///   commit), not necessarily before the write returns. A write through
///   this layer that begins after [`WatchLayer::watch`] returns waits, if
///   needed, until the task has taken its starting position, so it is
///   never missed; [`WatchLayer::ready`] waits for the same, for writes made
///   elsewhere.
/// - A failed read of the feed is retried with backoff; if the provider no
///   longer retains the layer's position, every watcher gets
///   [`WatchEvent::Lagged`] and the task continues from the feed's head.
/// - The task needs a tokio runtime: it starts on the first watcher, write
///   or `next` call made inside one, and ends soon after the layer is dropped.
pub struct WatchLayer {
    sender: Arc<broadcast::Sender<Batch>>,
    watchers: Arc<AtomicUsize>,
    sequencer: Arc<Sequencer>,
    feed: Option<Arc<Feed>>,
}

impl WatchLayer {
    /// A layer for `inner` (the store it will wrap); the channel holds 1024
    /// batches for the slowest watcher.
    pub fn new(inner: &Arc<dyn StateStore>) -> Self {
        Self::with_capacity(inner, DEFAULT_CAPACITY)
    }

    /// A layer for `inner`; the channel holds `capacity` batches (at least
    /// 1) for the slowest watcher before it gets [`WatchEvent::Lagged`].
    pub fn with_capacity(inner: &Arc<dyn StateStore>, capacity: usize) -> Self {
        // broadcast::channel panics on 0 and on more than usize::MAX / 2.
        let capacity = capacity.clamp(1, usize::MAX / 2);
        let sender = Arc::new(broadcast::channel(capacity).0);
        let watchers = Arc::new(AtomicUsize::new(0));
        let publish_to = Arc::clone(&sender);
        let sequencer = Sequencer::new(move |changes| {
            // Fails only when every watcher is gone: nobody to tell.
            let _ = publish_to.send(Arc::new(Published::Changes(changes)));
        });
        let caps = inner.capabilities();
        let feed = if caps.has(CapabilityFlags::CHANGE_FEED) {
            Some(Feed::new(inner, &sender, &watchers, None))
        } else if caps.has(CapabilityFlags::EXPIRY_FEED) {
            Some(Feed::new(inner, &sender, &watchers, Some(&sequencer)))
        } else {
            None
        };
        WatchLayer {
            sender,
            watchers,
            sequencer,
            feed,
        }
    }

    /// Whether the layer reports changes from the provider's change feed
    /// (see [the type's doc](WatchLayer#with-a-providers-change-feed)); an
    /// expiry feed does not count: the layer observes writes itself.
    pub fn follows_change_feed(&self) -> bool {
        self.feed.as_ref().is_some_and(|feed| !feed.expiries_only())
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
        metrics::gauge!(watcher::WATCHERS).increment(1.0);
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
}

/// The changes of `written`, a write to `store_id`, as watchers see them.
fn changes_of(store_id: &str, written: &Written) -> Vec<ChangeRecord> {
    written
        .changes()
        .map(|change| ChangeRecord {
            store_id: store_id.to_string(),
            key: change.key.to_string(),
            kind: change.kind(),
            // A deletion has the write's revision; a provider built against
            // provider-api 0.1 cannot say it, and the key's last version stands in.
            version: change
                .version
                .or((written.revision() > 0).then_some(written.revision()))
                .or(change.prior)
                .unwrap_or(0),
        })
        .collect()
}

/// Hands the answer of a write to `store_id` to the sequencer, beside a
/// feed of expiries. A write that creates a key first drains the expiries
/// that came before it, so that a removal of that key is published before
/// the write. One that only updates or deletes keys needs not: each key it
/// touched existed, so its last removal came before the write that created
/// it again, which drained it.
async fn observe(
    feed: &Feed,
    ticket: Ticket,
    store_id: &str,
    answer: StoreFuture<'_, Written>,
) -> StoreResult<Written> {
    let written = answer.await?;
    if written.changes().any(|c| c.kind() == ChangeKind::Created) {
        feed.drain().await;
    }
    ticket.finish(written.revision(), changes_of(store_id, &written));
    Ok(written)
}

impl Drop for WatchLayer {
    fn drop(&mut self) {
        if let Some(feed) = &self.feed {
            feed.stop();
        }
    }
}

impl Layer for WatchLayer {
    const WRAPS_READS: bool = false;

    fn around_write<'a>(
        &'a self,
        call: Call<'a>,
        mut run: impl FnMut() -> StoreFuture<'a, Written> + Send + 'a,
    ) -> StoreFuture<'a, Written> {
        if self.watchers.load(Ordering::SeqCst) == 0 {
            return run();
        }
        match &self.feed {
            Some(feed) if feed.expiries_only() => {
                if feed.is_following() {
                    let ticket = self.sequencer.start();
                    return StoreFuture::boxed(observe(feed, ticket, call.store_id, run()));
                }
                return StoreFuture::boxed(async move {
                    feed.wait_following().await;
                    let ticket = self.sequencer.start();
                    observe(feed, ticket, call.store_id, run()).await
                });
            }
            Some(feed) => {
                // The feed reports the write; wait until the layer follows it.
                return StoreFuture::boxed(async move {
                    feed.wait_following().await;
                    run().await
                });
            }
            None => {}
        }
        let ticket = self.sequencer.start();
        let answer = run();
        StoreFuture::boxed(async move {
            let written = answer.await?;
            ticket.finish(written.revision(), changes_of(call.store_id, &written));
            Ok(written)
        })
    }
}
