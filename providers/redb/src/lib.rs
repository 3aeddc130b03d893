#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

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

pub use config::RedbConfig;
pub use errors::map_error;
pub use provider::RedbProvider;

stateplug_provider_api::export_provider!(RedbProvider);
