//! Store ids reserved for stateplug's own records.

/// Why a reserved store id is refused, for the messages that refuse one.
pub const RESERVED_STORE_ID_REASON: &str =
    "store ids beginning with $ are reserved for stateplug's own records (locks); pick another name";

/// Whether `store_id` is reserved for stateplug's own records (it begins
/// with `$`; the locks of [`ops`](crate::ops) live in `$locks`).
///
/// Every write path an operator or a plugin reaches refuses a reserved id
/// with [`RESERVED_STORE_ID_REASON`]: the `stateplug state` commands, the
/// `ops` functions, [`HostBuilder::build`](crate::HostBuilder::build) for a
/// plugin id and [`ScopedStore::new`](crate::ScopedStore::new). Operations
/// on "every store" leave reserved ones out.
pub fn is_reserved_store_id(store_id: &str) -> bool {
    store_id.starts_with('$')
}
