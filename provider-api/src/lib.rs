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
//! in a crate with `crate-type = ["cdylib", "rlib"]`. Writes come as one
//! form, a list of [`WriteOp`]s on one store, and [`apply`] carries one
//! out over a [`StoreWriter`] of yours, with every check right. The host
//! loads the built library by path and checks that it was built against a
//! compatible version of this crate (the evolution rules are in
//! `CHANGELOG.md`).
//!
//! Nothing here does I/O or needs an async runtime. The modules [`ffi`]
//! and [`export`] are the host's side of the boundary and what the export
//! macro generates: a provider author does not use them.
#![warn(missing_docs)]

mod capabilities;
mod change;
mod clock;
mod config;
mod entry;
mod error;
mod expiry_log;
#[doc(hidden)]
pub mod export;
#[doc(hidden)]
pub mod ffi;
mod legacy;
mod limits;
#[doc(hidden)]
pub mod log_bridge;
mod open;
mod provider;
mod scan;
mod write;

pub use capabilities::{Capabilities, CapabilityFlags, ProviderInfo};
pub use change::{ChangeKind, ChangePage, ChangeRecord};
pub use clock::{system_now_ms, Clock};
pub use config::parse_config;
pub use entry::{Entry, Expected, HistoryEntry};
pub use error::{ErrorKind, ProviderError, ProviderResult};
pub use expiry_log::ExpiryLog;
#[doc(hidden)]
pub use legacy::{KeyWrite, TxnOpRef};
pub use limits::{
    Limits, MAX_BATCH_OPS, MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_STORE_ID_BYTES, MAX_VALUE_BYTES,
};
pub use open::OpenContext;
pub use provider::{conflict, KeyBytesVisitor, Provider};
pub use scan::{prefix_successor, KeyEntry, Page, ScanRef};
pub use write::{apply, ChangeSink, KeyChange, StoreWriter, WriteFailure, WriteOp, WriteUnit};

/// Items the exported macro needs; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::LibHeader;
}
