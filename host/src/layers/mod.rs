//! Layers: [`StateStore`](crate::store::StateStore)s that wrap another store and add
//! one cross-cutting concern to every call.
//!
//! A layer takes an `Arc<dyn StateStore>`, implements the same trait, and
//! forwards every method (its impl carries
//! `#[deny(clippy::missing_trait_methods)]`, so no method silently skips it).
//! Layers stack: wrap a layer in another. Each layer passes the whole
//! [`conformance`](crate::conformance) suite.
//!
//! - [`TracingLayer`]: one `tracing` event per call with operation, provider,
//!   store_id, outcome and duration.
//! - [`RetryLayer`]: bounded retries with backoff of temporary failures of
//!   calls that are safe to repeat.
//! - [`FaultLayer`]: injected failures and delays, for tests.
//! - [`WatchLayer`]: change events (created / updated / deleted, with
//!   versions) for subscribers, one batch per write call.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn stateplug::StateStore>) -> stateplug::StoreResult<()> {
//! use std::sync::Arc;
//! use stateplug::layers::{TracingLayer, WatchEvent, WatchLayer};
//! use stateplug::StateStore;
//!
//! let watched = Arc::new(WatchLayer::new(store));
//! let store: Arc<dyn StateStore> = Arc::new(TracingLayer::new(watched.clone()));
//! let mut watcher = watched.watch("my-source", "offset");
//! store.set("my-source", "offset", b"42".to_vec()).await?;
//! if let Some(WatchEvent::Changes(changes)) = watcher.next().await {
//!     println!("{changes:?}");
//! }
//! # Ok(()) }
//! ```

mod fault;
mod retry;
mod tracing;
mod watch;

pub use self::fault::{Fault, FaultLayer};
pub use self::retry::{RetryLayer, RetryPolicy};
pub use self::tracing::TracingLayer;
pub use self::watch::{Change, ChangeKind, WatchEvent, WatchLayer, Watcher};
