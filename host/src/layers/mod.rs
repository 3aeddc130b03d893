//! Layers: cross-cutting work around every call of a store.
//!
//! A [`Layer`] says what it does around one call; [`Layered`] wraps a store
//! with a layer and is itself a [`StateStore`], so layers stack. `Layered`
//! forwards every method of the trait through the layer, written once here
//! (`#[deny(clippy::missing_trait_methods)]` on it, so no method skips a
//! layer); each layer is then only what it adds, and passes the whole
//! conformance suite.
//!
//! - [`TracingLayer`]: one `tracing` event per call with operation, provider,
//!   store_id, outcome and duration.
//! - [`MetricsLayer`]: latency, errors, bytes and durable commits per
//!   provider and operation, through the `metrics` facade.
//! - [`RetryLayer`]: bounded retries with backoff of temporary failures of
//!   calls that are safe to repeat.
//! - [`FaultLayer`]: injected failures and delays, for tests.
//! - [`WatchLayer`]: change events (created / updated / deleted, with
//!   versions) for subscribers, one batch per write, from each write's answer.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn stateplug::StateStore>) -> stateplug::StoreResult<()> {
//! use std::sync::Arc;
//! use stateplug::layers::{Layered, TracingLayer, WatchEvent, WatchLayer};
//! use stateplug::StateStore;
//!
//! let watched = Arc::new(Layered::new(store.clone(), WatchLayer::new(&store)));
//! let store: Arc<dyn StateStore> = Arc::new(Layered::new(watched.clone(), TracingLayer));
//! let mut watcher = watched.layer().watch("my-source", "offset");
//! store.set("my-source", "offset", b"42").await?;
//! if let Some(WatchEvent::Changes(changes)) = watcher.next().await {
//!     println!("{changes:?}");
//! }
//! # Ok(()) }
//! ```

mod fault;
mod layered;
pub mod metrics;
mod retry;
mod tracing;
mod watch;

use std::future::Future;

pub use self::fault::{Fault, FaultLayer};
pub use self::layered::Layered;
pub use self::metrics::MetricsLayer;
pub use self::retry::{RetryLayer, RetryPolicy};
pub use self::tracing::TracingLayer;
pub use self::watch::{WatchEvent, WatchLayer, Watcher, WATCHERS, WATCH_LAGGED, WATCH_MISSED};
use crate::store::{Operation, StoreFuture, StoreResult, WriteOp, Written};

/// A shared layer: the same state for every store it wraps.
impl<L: Layer> Layer for std::sync::Arc<L> {
    const WRAPS_READS: bool = L::WRAPS_READS;

    fn around<'a, T, F>(
        &'a self,
        call: Call<'a>,
        run: impl FnMut() -> F + Send + 'a,
    ) -> impl Future<Output = StoreResult<T>> + Send + 'a
    where
        T: Send + 'a,
        F: Future<Output = StoreResult<T>> + Send + 'a,
    {
        L::around(self, call, run)
    }

    fn around_write<'a>(
        &'a self,
        call: Call<'a>,
        run: impl FnMut() -> StoreFuture<'a, Written> + Send + 'a,
    ) -> StoreFuture<'a, Written> {
        L::around_write(self, call, run)
    }

    fn around_get<'a>(
        &'a self,
        call: Call<'a>,
        run: impl FnMut() -> StoreFuture<'a, Option<Vec<u8>>> + Send + 'a,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        L::around_get(self, call, run)
    }

    fn read_bytes(&self, call: &Call<'_>, bytes: u64) {
        L::read_bytes(self, call, bytes)
    }
}

/// What a layer learns of one call.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Call<'a> {
    /// The operation (for a write, the one its caller names: `set`,
    /// `transaction`, ...).
    pub operation: Operation,
    /// The store_id the call names (empty for whole-provider calls).
    pub store_id: &'a str,
    /// The wrapped store's provider.
    pub provider: &'a str,
    /// A write's operations (empty for other calls).
    pub ops: &'a [WriteOp<'a>],
}

impl Call<'_> {
    /// Whether running the call again leaves the same state as running it
    /// once: every read, and every write without a version check (a
    /// conditional write repeated after an unknown outcome could conflict
    /// with itself).
    pub fn is_repeatable(&self) -> bool {
        !self
            .ops
            .iter()
            .any(|op| matches!(op, WriteOp::Check { .. }))
    }
}

/// Cross-cutting work around each call of a wrapped store (see
/// [`Layered`]). Every method has a default that passes the call through;
/// a layer overrides what it changes.
pub trait Layer: Send + Sync + 'static {
    /// Whether reads go through [`Layer::around`]. A layer concerned with
    /// writes only sets it to `false`, and reads go straight to the wrapped
    /// store (an inline read then stays an unboxed, ready answer).
    const WRAPS_READS: bool = true;

    /// Runs one call of the wrapped store, `run`, with the layer's work
    /// around it. `run` starts the call; calling it again repeats the call
    /// (a retry).
    fn around<'a, T, F>(
        &'a self,
        call: Call<'a>,
        run: impl FnMut() -> F + Send + 'a,
    ) -> impl Future<Output = StoreResult<T>> + Send + 'a
    where
        T: Send + 'a,
        F: Future<Output = StoreResult<T>> + Send + 'a,
    {
        let _ = call;
        let mut run = run;
        run()
    }

    /// Runs one `get`, `run`, and sees its answer. Defaults to
    /// [`Layer::around`]; a layer that can work on a ready answer without
    /// a future of its own overrides it (returning `run()`'s answer itself
    /// keeps an inline read's ready answer unboxed).
    fn around_get<'a>(
        &'a self,
        call: Call<'a>,
        run: impl FnMut() -> StoreFuture<'a, Option<Vec<u8>>> + Send + 'a,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        StoreFuture::boxed(self.around(call, run))
    }

    /// Sees how many key and value bytes a read of values answered with
    /// (`get_entry`, `get_many`, `scan`, `history`, `get_version`; a
    /// `get`'s answer is [`Layer::around_get`]'s to see). Does nothing by
    /// default.
    fn read_bytes(&self, call: &Call<'_>, bytes: u64) {
        let _ = (call, bytes);
    }

    /// Runs one write, `run`, and sees its answer. Defaults to
    /// [`Layer::around`]; a layer that needs what a write changed overrides
    /// it (returning `run()` itself keeps an inline write's ready answer).
    fn around_write<'a>(
        &'a self,
        call: Call<'a>,
        run: impl FnMut() -> StoreFuture<'a, Written> + Send + 'a,
    ) -> StoreFuture<'a, Written> {
        StoreFuture::boxed(self.around(call, run))
    }
}
