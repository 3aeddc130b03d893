//! `StateStore`: the host's one async API over every provider.

use std::collections::HashMap;

use async_trait::async_trait;
use stateplug_provider_api::WriteOp;

use crate::{
    clock::Clock,
    store::{
        Capabilities, ChangePage, Entry, HistoryEntry, Operation, RowPage, Scan, StoreFuture,
        StoreResult, Written,
    },
};

/// Name and versions of the provider behind a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// The provider's name, e.g. `redb`.
    pub name: String,
    /// The provider's own version.
    pub version: String,
    /// The provider-api version the provider was built against.
    pub interface_version: String,
}

/// The host's async state store API, partitioned by `store_id`.
///
/// Every provider, loaded from a library or in-process, and every layer
/// that wraps one, implements it with the same behaviour: the contract of
/// [`stateplug_provider_api::Provider`], proved by the conformance suite.
/// A missing key is `Ok(None)`; errors carry the operation, provider and
/// store_id.
///
/// The trait holds the calls a store answers; the everyday operations
/// built on them (`set`, `delete`, `set_many`, `delete_many`,
/// `clear_store`, `compare_and_set`, `compare_and_delete`, `transaction`,
/// `scan`, `is_durable`) are methods of `dyn StateStore`, so a layer that
/// wraps [`StateStore::write`] sees every write whatever its form.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// Name and versions of the provider.
    fn info(&self) -> &StoreInfo;

    /// What the provider declares it can do.
    fn capabilities(&self) -> Capabilities;

    /// The store's clock: a put with a time to live expires this long
    /// after this clock's now, and the provider reads the same clock to
    /// tell expired keys. Moving it (a test) moves the provider's too.
    fn clock(&self) -> &Clock;

    /// The value of `key`, or `None`.
    ///
    /// Not an `async fn`, so that an implementation can answer without
    /// boxing a future: [`StoreFuture::ready`] when the answer is known at
    /// once, [`StoreFuture::boxed`] otherwise (or the inner store's future,
    /// in a layer that only forwards).
    fn get<'a>(&'a self, store_id: &'a str, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// The value and version of `key`, or `None`.
    async fn get_entry(&self, store_id: &str, key: &str) -> StoreResult<Option<Entry>>;

    /// Whether `key` exists.
    async fn contains_key(&self, store_id: &str, key: &str) -> StoreResult<bool>;

    /// The values of those `keys` that exist; missing keys are absent from the map.
    async fn get_many(
        &self,
        store_id: &str,
        keys: &[&str],
    ) -> StoreResult<HashMap<String, Vec<u8>>>;

    /// Applies `ops` to `store_id` as one atomic write (every check first,
    /// then the puts, deletes and clears in order) and answers what it
    /// changed: its revision and each changed key's version before and
    /// after (see [`Written`]). Every write of every form goes through
    /// here. A check with one put or delete of its key needs
    /// `COMPARE_AND_SET`, any other mix of kinds `TRANSACTIONS`; what the
    /// provider does not declare is refused with `UNSUPPORTED`.
    ///
    /// `operation` names what the caller does (`Operation::Set` for `set`,
    /// `Operation::Transaction` for `transaction`, `Operation::Write` for a
    /// direct call): errors, logs, metrics and layers label the write with it.
    fn write<'a>(
        &'a self,
        operation: Operation,
        store_id: &'a str,
        ops: &'a [WriteOp<'a>],
    ) -> StoreFuture<'a, Written>;

    /// The expiry (unix milliseconds) of each of `keys`, in order: `None`
    /// where the key is missing or never expires; a key whose expiry has
    /// passed but which is not removed yet answers it (needs `TTL`).
    async fn expiries(&self, store_id: &str, keys: &[&str]) -> StoreResult<Vec<Option<u64>>>;

    /// Every key of the store, ascending.
    async fn list_keys(&self, store_id: &str) -> StoreResult<Vec<String>>;

    /// Whether the store holds at least one key.
    async fn store_exists(&self, store_id: &str) -> StoreResult<bool>;

    /// How many keys the store holds.
    async fn key_count(&self, store_id: &str) -> StoreResult<u64>;

    /// Makes every acknowledged write durable.
    async fn sync(&self) -> StoreResult<()>;

    /// One page of an ordered walk, its rows lent out of one buffer
    /// (needs `ORDERED_SCANS`); `scan` gives the same page with owned rows.
    async fn scan_rows(&self, store_id: &str, scan: &Scan) -> StoreResult<RowPage>;

    /// Every store_id holding at least one key, ascending.
    async fn list_stores(&self) -> StoreResult<Vec<String>>;

    /// The retained versions of `key`, newest first, at most `limit` (needs `HISTORY`).
    async fn history(
        &self,
        store_id: &str,
        key: &str,
        limit: u32,
    ) -> StoreResult<Vec<HistoryEntry>>;

    /// The value `key` had at `version`, if retained (needs `HISTORY`).
    async fn get_version(
        &self,
        store_id: &str,
        key: &str,
        version: u64,
    ) -> StoreResult<Option<Entry>>;

    /// The change feed's current position (needs `CHANGE_FEED` or
    /// `EXPIRY_FEED`).
    async fn change_head(&self) -> StoreResult<u64>;

    /// Changes committed after `after`, waiting up to `timeout` for the
    /// first (needs `CHANGE_FEED` or `EXPIRY_FEED`). A wait runs on the
    /// blocking pool; a zero `timeout` runs like any read.
    async fn wait_changes(
        &self,
        after: u64,
        limit: u32,
        timeout: std::time::Duration,
    ) -> StoreResult<ChangePage>;
}
