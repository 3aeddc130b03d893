//! The data path above the providers: the one async [`StateStore`] trait,
//! what its calls take and answer, and [`ScopedStore`], a plugin's view of
//! it bound to its own store_id.

mod calls;
mod error;
mod future;
mod operation;
mod reserved;
mod rows;
mod scan;
mod scoped;
mod state_store;
mod txn;
mod written;

pub use self::error::{ErrorKind, StoreError, StoreResult};
pub use self::future::StoreFuture;
pub use self::operation::Operation;
pub use self::reserved::{is_reserved_store_id, RESERVED_STORE_ID_REASON};
pub use self::rows::{Row, RowPage};
pub use self::scan::Scan;
pub use self::scoped::ScopedStore;
pub use self::state_store::{StateStore, StoreInfo};
pub use self::txn::TxnOp;
pub use self::written::Written;
pub use stateplug_provider_api::{
    Capabilities, CapabilityFlags, ChangeKind, ChangePage, ChangeRecord, Entry, Expected,
    HistoryEntry, KeyEntry, Page, WriteOp,
};
