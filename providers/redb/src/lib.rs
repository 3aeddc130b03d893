#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod backend;
mod committer;
mod config;
mod crc;
mod deferred;
mod encoding;
mod errors;
mod history;
mod journal;
mod ops;
mod polled_sync;
mod provider;
mod record;
mod replay;
mod schema;
mod snapshot;
mod sweeper;
mod unapplied;
mod walk;
mod writer;

#[cfg(test)]
mod deferred_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod ttl_tests;

#[doc(hidden)]
pub use backend::{open_with_backend, open_with_backends};
pub use config::{
    RedbConfig, DEFAULT_CHECKPOINT_BYTES, DEFAULT_CHECKPOINT_INTERVAL_MS, DEFAULT_JOURNAL_BYTES,
    DEFAULT_SWEEP_INTERVAL_MS, MIN_JOURNAL_BYTES,
};
pub use errors::map_error;
pub use provider::RedbProvider;

stateplug_provider_api::export_provider!(RedbProvider);
