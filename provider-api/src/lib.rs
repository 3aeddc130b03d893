//! # stateplug-provider-api
//!
//! The only crate both the stateplug host and a state store provider link.
//! A provider author implements the synchronous [`Provider`] trait with
//! ordinary Rust types and exports it with one line:
//!
//! ```ignore
//! stateplug_provider_api::export_provider!(MyProvider);
//! ```
//!
//! in a crate with `crate-type = ["cdylib", "rlib"]`. The host loads the
//! built library by path and checks that it was built against a compatible
//! version of this crate ([`ffi`] lists the evolution rules).
//!
//! Nothing here does I/O or needs an async runtime.
#![warn(missing_docs)]

mod capabilities;
mod config;
mod error;
pub mod export;
pub mod ffi;
mod limits;
pub mod log_bridge;
mod provider;
mod types;

pub use capabilities::{Capabilities, CapabilityFlags, ProviderInfo};
pub use config::parse_config;
pub use error::{ErrorKind, ProviderError, ProviderResult};
pub use limits::{
    Limits, MAX_BATCH_OPS, MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_STORE_ID_BYTES, MAX_VALUE_BYTES,
};
pub use provider::{conflict, KeyBytesVisitor, Provider};
pub use types::{
    prefix_successor, ChangeKind, ChangePage, ChangeRecord, Entry, Expected, HistoryEntry,
    KeyEntry, KeyWrite, Page, ScanRef, TxnOpRef,
};

/// Items the exported macro needs; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::LibHeader;
}
