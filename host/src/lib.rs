//! # stateplug
//!
//! The state-store plugin host. It loads state store providers from shared
//! libraries through a stable ABI ([`ProviderLibrary`]), adapts them to one
//! async API ([`StateStore`]), and proves every provider with one
//! [`conformance`] suite.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let library = stateplug::ProviderLibrary::load("target/debug/deps/libstateplug_provider_redb.so")?;
//! let store = library.open(&serde_json::json!({ "path": "data/state.redb" }))?;
//! store.set("my-source", "offset", b"42".to_vec()).await?;
//! assert_eq!(store.get("my-source", "offset").await?, Some(b"42".to_vec()));
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod adapter;
pub mod config;
pub mod conformance;
mod context;
mod error;
mod group_writes;
pub mod layers;
mod library_cache;
mod library_trust;
mod loader;
mod operation;
pub mod ops;
mod plugin;
mod provider_log;
mod registry;
mod rows;
mod runtime;
mod scoped;
mod store;
mod store_future;

pub use adapter::ProviderStore;
/// Re-exported so plugin authors implement `Source` and `Reaction` without another dependency.
pub use async_trait::async_trait;
pub use context::{ReactionContext, SourceContext};
pub use error::{Error, ErrorKind, LoadError, StoreError, StoreResult};
pub use library_cache::LibraryCache;
pub use loader::{open_in_process, LoadOptions, OpenOptions, ProviderLibrary};
pub use operation::Operation;
pub use plugin::{BootstrapProvider, Event, PluginError, PluginResult, Reaction, Snapshot, Source};
pub use registry::{BootstrapFactory, PluginRegistry, PluginSpec, ReactionFactory, SourceFactory};
pub use rows::{Row, RowPage};
pub use runtime::DEFAULT_PROVIDER_NAME;
pub use runtime::{
    reaction_checkpoint_key, BuildError, FailurePolicy, Host, HostBuilder, HostError, HostProgress,
    PluginFailure, PluginKind, PluginReport, PluginStats, ProviderOptions, RunReport, RunningHost,
    SOURCE_CHECKPOINT_KEY,
};
pub use scoped::ScopedStore;
pub use store::{
    Capabilities, CapabilityFlags, ChangeKind, ChangePage, ChangeRecord, Entry, Expected,
    HistoryEntry, KeyEntry, Page, Scan, StateStore, StoreInfo, TxnOp, NAMED_FLAGS,
};
pub use store_future::StoreFuture;
