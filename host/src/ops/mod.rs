//! Operating state: the library behind `stateplug state …`.
//!
//! - [`dump`](mod@dump) and [`restore`](mod@restore): a documented, versioned, line-per-record dump
//!   format with a trailing checksum, written and read in bounded memory;
//!   restore checks the whole file before it writes anything.
//! - [`migrate`](mod@migrate): copies stores between any two providers in pages, then
//!   verifies each store (key count and content hash on both sides). Run
//!   again after an interruption, it finishes the job.
//! - [`locks`](mod@locks): named locks with owner, operation, reason and expiry, built
//!   on compare-and-set in the reserved store [`LOCKS_STORE`]; the
//!   operations above and [`clear_stores`] hold the locks of the stores
//!   they touch.
//! - [`Monitor`]: hears how these operations advance and can ask them to
//!   stop at their next batch boundary (Ctrl-C), which releases their locks.
//! - [`StoreWalk`] and [`ContentHash`]: paged, ordered reads of a whole
//!   store and the digest that verification compares.
//!
//! Store ids starting with `$` are reserved for the host's own records (the
//! locks; see [`is_reserved_store_id`](crate::is_reserved_store_id));
//! operations that take "every store" leave them out, and every operation
//! that writes refuses to name them.

mod clear;
pub mod dump;
mod error;
mod expiring;
mod hash;
pub mod locks;
pub mod migrate;
mod monitor;
pub mod restore;
mod select;
pub(crate) mod time;
mod walk;

pub use clear::clear_stores;
pub use dump::{dump, DumpSummary, DUMP_FORMAT, DUMP_VERSION, DUMP_VERSIONS_READ};
pub use error::OpsError;
pub use hash::{digest_store, ContentHash, StoreDigest};
pub use locks::{force_unlock, list_locks, LockInfo, LockRequest, LockSet, LOCKS_STORE};
pub use migrate::{migrate, MigrateOptions, MigrateReport, StoreMigration};
pub use monitor::Monitor;
pub use restore::{restore_file, spool, verify_dump, RestoreOptions, RestoreReport, VerifiedDump};
pub use select::select_stores;
pub use walk::StoreWalk;
