//! The data path above the providers: the one async [`StateStore`] trait,
//! what its calls take and answer, and [`ScopedStore`], a plugin's view of
//! it bound to its own store_id.

mod error;
mod future;
mod operation;
mod reserved;
mod rows;
mod scoped;
mod state_store;

pub use self::error::{ErrorKind, StoreError, StoreResult};
pub use self::future::StoreFuture;
pub use self::operation::Operation;
pub use self::reserved::{is_reserved_store_id, RESERVED_STORE_ID_REASON};
pub use self::rows::{Row, RowPage};
pub use self::scoped::ScopedStore;
pub use self::state_store::{Scan, StateStore, StoreInfo, TxnOp};
pub use stateplug_provider_api::{
    Capabilities, CapabilityFlags, ChangeKind, ChangePage, ChangeRecord, Entry, Expected,
    HistoryEntry, KeyEntry, Page,
};
