#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod provider;
mod store;

pub use provider::MemoryProvider;

stateplug_provider_api::export_provider!(MemoryProvider);
