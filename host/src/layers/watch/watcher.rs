//! [`Watcher`]: one subscriber of a [`WatchLayer`](super::WatchLayer).

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use futures::{
    stream::{self, BoxStream},
    StreamExt,
};
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};

use super::{
    event::{Batch, Published, WatchEvent},
    feed::Feed,
};
use crate::store::ChangeRecord;

/// Live watchers of every watch layer (gauge).
pub const WATCHERS: &str = "stateplug_watchers";
/// Times a watcher fell behind and had batches dropped (counter).
pub const WATCH_LAGGED: &str = "stateplug_watch_lagged_total";
/// Write batches dropped for watchers that fell behind (counter).
pub const WATCH_MISSED: &str = "stateplug_watch_missed_batches_total";

/// Receives the changes of a [`WatchLayer`](super::WatchLayer), filtered to one store_id (or
/// all) and one key prefix.
pub struct Watcher {
    pub(super) rx: broadcast::Receiver<Batch>,
    pub(super) store_id: Option<String>,
    pub(super) prefix: String,
    pub(super) feed: Option<Arc<Feed>>,
    pub(super) _live: LiveWatcher,
}

/// Counts a watcher as live until it is dropped.
pub(super) struct LiveWatcher(pub(super) Arc<AtomicUsize>);

impl Drop for LiveWatcher {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!(WATCHERS).decrement(1.0);
    }
}

/// A [`WatchEvent::Lagged`], counted in [`WATCH_LAGGED`] and [`WATCH_MISSED`].
fn lagged(missed: u64) -> WatchEvent {
    metrics::counter!(WATCH_LAGGED).increment(1);
    metrics::counter!(WATCH_MISSED).increment(missed);
    WatchEvent::Lagged { missed }
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
                Err(RecvError::Lagged(missed)) => return Some(lagged(missed)),
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
                Err(TryRecvError::Lagged(missed)) => return Some(lagged(missed)),
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
            Published::Missed(missed) => return Some(lagged(*missed)),
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
        let picked: Vec<ChangeRecord> = batch
            .iter()
            .filter(|c| c.key.starts_with(&self.prefix))
            .cloned()
            .collect();
        (!picked.is_empty()).then_some(WatchEvent::Changes(picked))
    }
}
