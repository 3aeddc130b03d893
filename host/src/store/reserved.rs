//! Store ids and keys reserved for stateplug's own records.

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

/// Why a reserved key is refused, for the messages that refuse one.
pub(crate) const RESERVED_KEY_REASON: &str =
    "keys beginning with $ are reserved for the host's records of the plugin \
     (its owner record $owner, its checkpoints $checkpoint...); pick another key";

/// Whether `key` is reserved for the host's records in a plugin's store (it
/// begins with `$`). A plugin's [`ScopedStore`](crate::ScopedStore) refuses
/// to change one, and its `clear` keeps them.
pub(crate) fn is_reserved_key(key: &str) -> bool {
    key.starts_with('$')
}
