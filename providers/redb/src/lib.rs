#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod backend;
mod committer;
mod config;
mod encoding;
mod errors;
mod history;
mod ops;
mod provider;
mod schema;
mod writer;

#[cfg(test)]
mod tests;

#[doc(hidden)]
pub use backend::open_with_backend;
pub use config::RedbConfig;
pub use errors::map_error;
pub use provider::RedbProvider;

stateplug_provider_api::export_provider!(RedbProvider);
