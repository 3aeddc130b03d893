//! # stateplug
//!
//! The state-store plugin host. It loads state store providers from shared
//! libraries through a stable ABI ([`ProviderLibrary`]), adapts them to one
//! async API ([`StateStore`]), and hands every plugin a [`ScopedStore`]
//! bound to its own store_id.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stateplug::Error> {
//! let library = stateplug::ProviderLibrary::load("target/debug/deps/libstateplug_provider_redb.so")?;
//! let store = library.open(&serde_json::json!({ "path": "data/state.redb" }))?;
//! store.set("my-source", "offset", b"42".to_vec()).await?;
//! assert_eq!(store.get("my-source", "offset").await?, Some(b"42".to_vec()));
//! # Ok(()) }
//! ```
//!
//! The data path, and the module of each step:
//!
//! ```text
//! plugin (plugin::)  ->  ScopedStore (store::)  ->  layers (layers::)
//!     ->  ProviderStore (provider::)  ==ABI==  provider library
//! ```
#![warn(missing_docs)]

pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod layers;
pub mod ops;
mod plugin;
mod provider;
mod runtime;
mod store;

/// Re-exported so plugin authors implement `Source` and `Reaction` without another dependency.
pub use async_trait::async_trait;
pub use error::Error;
pub use plugin::{
    BootstrapFactory, BootstrapProvider, Event, PluginError, PluginRegistry, PluginResult,
    PluginSpec, Reaction, ReactionContext, ReactionFactory, Snapshot, Source, SourceContext,
    SourceFactory,
};
pub use provider::{
    open_in_process, LibraryCache, LoadError, LoadOptions, OpenOptions, ProviderLibrary,
};
pub use runtime::{
    BuildError, FailurePolicy, Host, HostBuilder, HostError, HostProgress, PluginFailure,
    PluginKind, PluginReport, RunReport, RunningHost, StopSignal, DEFAULT_PROVIDER_NAME,
};
pub use store::{
    is_reserved_store_id, Capabilities, CapabilityFlags, ChangeKind, ChangePage, ChangeRecord,
    Entry, ErrorKind, Expected, HistoryEntry, KeyEntry, Operation, Page, Row, RowPage, Scan,
    ScopedStore, StateStore, StoreError, StoreFuture, StoreInfo, StoreResult, TxnOp,
    RESERVED_STORE_ID_REASON,
};
