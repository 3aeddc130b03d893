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
//! The crate root holds what an embedder uses; the modules hold the rest,
//! along the data path:
//!
//! ```text
//! plugin (plugin::)  ->  ScopedStore (store::)  ->  layers (layers::)
//!     ->  ProviderStore (provider::)  ==ABI==  provider library
//! ```
#![warn(missing_docs)]

/// The README's examples compile as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;

mod clock;
pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod layers;
pub mod ops;
pub mod plugin;
pub mod provider;
pub mod runtime;
pub mod store;

/// Re-exported so plugin authors implement `Source` and `Reaction` without another dependency.
pub use async_trait::async_trait;
pub use clock::Clock;
pub use error::Error;
pub use plugin::{
    BootstrapProvider, Event, PluginError, PluginResult, Reaction, ReactionContext, Snapshot,
    Source, SourceContext,
};
pub use provider::{LoadError, LoadOptions, OpenOptions, ProviderLibrary};
pub use runtime::{
    BuildError, FailurePolicy, Host, HostBuilder, HostError, PluginFailure, PluginKind,
    PluginReport, RunReport, RunningHost,
};
pub use store::{
    CapabilityFlags, ChangeKind, ChangeRecord, Entry, ErrorKind, Expected, Scan, ScopedStore,
    StateStore, StoreError, StoreResult, TxnOp, WriteOp, Written,
};
