//! The tables of the database file, and the key intervals a store occupies.
//!
//! Invariants, kept by every write transaction:
//! - `ENTRIES` holds `(store_id, key) -> (version, value)`.
//! - `STORES` holds `store_id -> number of its keys in ENTRIES`, and has no row
//!   for a store with no keys.
//! - `META[REVISION]` is the largest version ever given; it only grows.
//! - `META[HISTORY_VERSIONS]` is the history retention the file was opened
//!   with (absent or 0: history is off and `HISTORY` does not exist).
//! - `HISTORY` holds, per `(store_id, key)`, the last `HISTORY_VERSIONS`
//!   versions written (a deletion as `None`), written in the same transaction
//!   as the entry; a cleared store has no rows in it.

use std::ops::Bound;

use redb::TableDefinition;

/// `(store_id, key)`, as stored in [`ENTRIES`].
pub(crate) type EntryKey<'a> = (&'a str, &'a str);

/// Every entry of every store: `(store_id, key) -> (version, value)`.
pub(crate) const ENTRIES: TableDefinition<(&str, &str), (u64, &[u8])> =
    TableDefinition::new("stateplug_entries");

/// `store_id -> key count`; the row is absent when the count is 0.
pub(crate) const STORES: TableDefinition<&str, u64> = TableDefinition::new("stateplug_stores");

/// Provider-wide counters; see [`REVISION`].
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("stateplug_meta");

/// The `META` row holding the last revision given (0 before the first write).
pub(crate) const REVISION: &str = "revision";

/// The `META` row holding the number of versions kept per key in [`HISTORY`]
/// (0 or absent: history is off).
pub(crate) const HISTORY_VERSIONS: &str = "history_versions";

/// `(store_id, key, version)`, as stored in [`HISTORY`].
pub(crate) type HistoryKey<'a> = (&'a str, &'a str, u64);

/// Retained versions: `(store_id, key, version) -> value`, `None` for a deletion.
pub(crate) const HISTORY: TableDefinition<(&str, &str, u64), Option<&[u8]>> =
    TableDefinition::new("stateplug_history");

/// The interval of `ENTRIES` that one store occupies.
///
/// Tuple keys compare element-wise and no string lies strictly between `S`
/// and `S + "\0"`, so the keys of store `S` are exactly
/// `[(S, ""), (S + "\0", ""))`.
pub(crate) struct StoreSpan<'s> {
    store_id: &'s str,
    next_store: String,
}

impl<'s> StoreSpan<'s> {
    /// The span of `store_id`.
    pub(crate) fn new(store_id: &'s str) -> Self {
        StoreSpan {
            store_id,
            next_store: format!("{store_id}\0"),
        }
    }

    /// Every key of the store.
    pub(crate) fn all(&self) -> (Bound<EntryKey<'_>>, Bound<EntryKey<'_>>) {
        self.within(&(Bound::Unbounded, Bound::Unbounded))
    }

    /// The keys of the store inside `keys` (bounds on the key alone, as
    /// `ScanRef::key_range` gives them); unbounded sides stop at the store's edges.
    pub(crate) fn within<'b>(
        &'b self,
        keys: &'b (Bound<String>, Bound<String>),
    ) -> (Bound<EntryKey<'b>>, Bound<EntryKey<'b>>) {
        let lower = match &keys.0 {
            Bound::Included(k) => Bound::Included((self.store_id, k.as_str())),
            Bound::Excluded(k) => Bound::Excluded((self.store_id, k.as_str())),
            Bound::Unbounded => Bound::Included((self.store_id, "")),
        };
        let upper = match &keys.1 {
            Bound::Included(k) => Bound::Included((self.store_id, k.as_str())),
            Bound::Excluded(k) => Bound::Excluded((self.store_id, k.as_str())),
            Bound::Unbounded => Bound::Excluded((self.next_store.as_str(), "")),
        };
        (lower, upper)
    }

    /// Every row of the store in [`HISTORY`]: from `(S, "", 0)` up to, not
    /// including, `(S + "\0", "", 0)`, by the same reasoning as for `ENTRIES`.
    pub(crate) fn history(&self) -> (Bound<HistoryKey<'_>>, Bound<HistoryKey<'_>>) {
        (
            Bound::Included((self.store_id, "", 0)),
            Bound::Excluded((self.next_store.as_str(), "", 0)),
        )
    }
}

/// Every retained version of one key in [`HISTORY`], oldest first.
pub(crate) fn key_history<'a>(
    store_id: &'a str,
    key: &'a str,
) -> (Bound<HistoryKey<'a>>, Bound<HistoryKey<'a>>) {
    (
        Bound::Included((store_id, key, 0)),
        Bound::Included((store_id, key, u64::MAX)),
    )
}
