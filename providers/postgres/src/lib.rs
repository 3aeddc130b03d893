#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod config;
mod conninfo;
mod errors;
mod feed;
mod plan;
mod pool;
mod provider;
mod schema;
mod sweeper;
mod tls;
mod writer;

#[cfg(test)]
mod tests;

pub use config::{PostgresConfig, Target};
pub use errors::{classify, describe, map_error, map_failure, Failure, TlsProblem};
pub use provider::{PostgresProvider, MAX_KEY_BYTES};
pub use tls::SslMode;

stateplug_provider_api::export_provider!(PostgresProvider);
