//! The tables of the database file, and the key intervals a store occupies.
//!
//! Invariants, kept by every write transaction:
//! - `ENTRIES` holds `(store_id, key) -> (version, value)`, encoded as
//!   described in [`crate::encoding`].
//! - `STORES` holds `store_id -> number of its keys in ENTRIES`, and has no row
//!   for a store with no keys.
//! - `META[REVISION]` is at least the largest version ever given (a
//!   reservation, see `writer::Revisions`); it only grows.
//! - `META[HISTORY_VERSIONS]` is the history retention the file was opened
//!   with (absent or 0: history is off and `HISTORY` does not exist).
//! - `META[JOURNAL_SEQ]` is the `seq` of the last journal record whose
//!   effects the file holds durably; `META[JOURNAL_ID]` ties the journal to
//!   the file (see [`crate::journal`]).
//! - `EXPIRING` holds `(expires_at_ms, store_id, key)` of exactly the
//!   entries that carry an expiry (see [`crate::encoding`]); the store's
//!   count in `STORES` includes its expired keys until they are removed
//!   (by a group commit, or by the background sweeper's group).
//! - `HISTORY` holds, per `(store_id, key)`, the last `HISTORY_VERSIONS`
//!   versions written (a deletion as `None`), written in the same transaction
//!   as the entry; a cleared store has no rows in it.

use std::ops::Bound;

use redb::TableDefinition;

/// Every entry of every store: `(store_id, key) -> (version, value)`,
/// encoded by [`crate::encoding`].
pub(crate) const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("stateplug_entries");

/// `store_id -> key count`; the row is absent when the count is 0.
pub(crate) const STORES: TableDefinition<&str, u64> = TableDefinition::new("stateplug_stores");

/// The keys that expire, in expiry order: `(expires_at_ms, store_id, key)`.
pub(crate) const EXPIRING: TableDefinition<(u64, &str, &str), ()> =
    TableDefinition::new("stateplug_expiring");

/// Provider-wide counters; see [`REVISION`].
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("stateplug_meta");

/// The `META` row holding the last revision given (0 before the first write).
pub(crate) const REVISION: &str = "revision";

/// The `META` row holding the number of versions kept per key in [`HISTORY`]
/// (0 or absent: history is off).
pub(crate) const HISTORY_VERSIONS: &str = "history_versions";

/// The `META` row holding the `seq` of the last journal record the file
/// contains (written by every checkpoint; absent: none).
pub(crate) const JOURNAL_SEQ: &str = "journal_seq";

/// The `META` row holding the id that ties the journal's records to this
/// file (made at the first open).
pub(crate) const JOURNAL_ID: &str = "journal_id";

/// `(store_id, key, version)`, as stored in [`HISTORY`].
pub(crate) type HistoryKey<'a> = (&'a str, &'a str, u64);

/// Retained versions: `(store_id, key, version) -> value`, `None` for a deletion.
pub(crate) const HISTORY: TableDefinition<(&str, &str, u64), Option<&[u8]>> =
    TableDefinition::new("stateplug_history");

/// Every row of `store_id` in [`HISTORY`]: tuple keys compare element-wise
/// and no string lies strictly between `S` and `S + "\0"`, so the rows of
/// store `S` are exactly those from `(S, "", 0)` up to, not including,
/// `(S + "\0", "", 0)`. Returns the second store_id to borrow from.
pub(crate) fn next_store(store_id: &str) -> String {
    format!("{store_id}\0")
}

/// The [`HISTORY`] interval of one store; `next` is [`next_store`] of it.
pub(crate) fn store_history<'a>(
    store_id: &'a str,
    next: &'a str,
) -> (Bound<HistoryKey<'a>>, Bound<HistoryKey<'a>>) {
    (
        Bound::Included((store_id, "", 0)),
        Bound::Excluded((next, "", 0)),
    )
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
