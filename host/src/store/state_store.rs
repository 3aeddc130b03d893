//! `StateStore`: the host's one async API over every provider.

use std::collections::HashMap;

use crate::store::{
    Capabilities, ChangePage, Entry, Expected, HistoryEntry, Page, RowPage, StoreFuture,
    StoreResult,
};
use async_trait::async_trait;

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

/// One operation of an atomic [`StateStore::transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Write `value` under `key`.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key` if present.
    Delete {
        /// The key.
        key: String,
    },
    /// Require `key` to be in the `expected` state; checked before any write.
    Check {
        /// The key.
        key: String,
        /// The required state.
        expected: Expected,
    },
}

impl TxnOp {
    /// A put.
    pub fn put(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        TxnOp::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    /// A delete.
    pub fn delete(key: impl Into<String>) -> Self {
        TxnOp::Delete { key: key.into() }
    }

    /// A version check.
    pub fn check(key: impl Into<String>, expected: Expected) -> Self {
        TxnOp::Check {
            key: key.into(),
            expected,
        }
    }

    /// The key the operation names.
    pub fn key(&self) -> &str {
        match self {
            TxnOp::Put { key, .. } | TxnOp::Delete { key } | TxnOp::Check { key, .. } => key,
        }
    }
}

/// Which keys a [`StateStore::scan`] page walks; see
/// [`stateplug_provider_api::ScanRef`] for the exact meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Only keys starting with this (empty: all).
    pub prefix: String,
    /// Inclusive lower bound.
    pub start: Option<String>,
    /// Exclusive upper bound.
    pub end: Option<String>,
    /// Resume strictly past this key: the previous page's `next`.
    pub after: Option<String>,
    /// Walk from the largest key down.
    pub descending: bool,
    /// Most entries in the page.
    pub limit: u32,
}

impl Scan {
    /// A walk over every key starting with `prefix`, ascending, 100 per page.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Scan {
            prefix: prefix.into(),
            ..Scan::default()
        }
    }

    /// A walk over `[start, end)`, ascending, 100 per page.
    pub fn range(start: impl Into<String>, end: impl Into<String>) -> Self {
        Scan {
            start: Some(start.into()),
            end: Some(end.into()),
            ..Scan::default()
        }
    }

    /// The same walk, `limit` per page.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The same walk, from the largest key down.
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    /// The same walk, resuming strictly past `key`.
    pub fn after(mut self, key: impl Into<String>) -> Self {
        self.after = Some(key.into());
        self
    }
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            prefix: String::new(),
            start: None,
            end: None,
            after: None,
            descending: false,
            limit: 100,
        }
    }
}

/// The host's async state store API, partitioned by `store_id`.
///
/// Every provider, loaded from a library or in-process, and every layer
/// that wraps one, implements it with the same behaviour: the contract of
/// [`stateplug_provider_api::Provider`], proved by [`crate::conformance`].
/// A missing key is `Ok(None)`; errors carry the operation, provider and
/// store_id.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// Name and versions of the provider.
    fn info(&self) -> &StoreInfo;

    /// What the provider declares it can do.
    fn capabilities(&self) -> Capabilities;

    /// Whether an acknowledged write survives a crash.
    fn is_durable(&self) -> bool {
        self.capabilities().is_durable()
    }

    /// The value of `key`, or `None`.
    ///
    /// Not an `async fn`, so that an implementation can answer without
    /// boxing a future: return [`StoreFuture::ready`] when the answer is
    /// known at once, [`StoreFuture::boxed`] otherwise (or the inner
    /// store's future, in a layer that only forwards).
    fn get<'a>(&'a self, store_id: &'a str, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// The value and version of `key`, or `None`.
    async fn get_entry(&self, store_id: &str, key: &str) -> StoreResult<Option<Entry>>;

    /// Writes `value` under `key`; returns the new version.
    async fn set(&self, store_id: &str, key: &str, value: Vec<u8>) -> StoreResult<u64>;

    /// Removes `key`; returns whether it existed.
    async fn delete(&self, store_id: &str, key: &str) -> StoreResult<bool>;

    /// Whether `key` exists.
    async fn contains_key(&self, store_id: &str, key: &str) -> StoreResult<bool>;

    /// The values of those `keys` that exist; missing keys are absent from the map.
    async fn get_many(
        &self,
        store_id: &str,
        keys: &[&str],
    ) -> StoreResult<HashMap<String, Vec<u8>>>;

    /// Writes every pair as one batch; returns the version they all get (0 for an empty batch).
    async fn set_many(&self, store_id: &str, entries: Vec<(String, Vec<u8>)>) -> StoreResult<u64>;

    /// Removes `keys` as one batch; returns how many existed.
    async fn delete_many(&self, store_id: &str, keys: &[&str]) -> StoreResult<u64>;

    /// Removes every key of the store; returns how many there were.
    async fn clear_store(&self, store_id: &str) -> StoreResult<u64>;

    /// Every key of the store, ascending.
    async fn list_keys(&self, store_id: &str) -> StoreResult<Vec<String>>;

    /// Whether the store holds at least one key.
    async fn store_exists(&self, store_id: &str) -> StoreResult<bool>;

    /// How many keys the store holds.
    async fn key_count(&self, store_id: &str) -> StoreResult<u64>;

    /// Makes every acknowledged write durable.
    async fn sync(&self) -> StoreResult<()>;

    /// Writes `value` only if `key` is in the `expected` state; returns the new version.
    async fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: Vec<u8>,
    ) -> StoreResult<u64>;

    /// Removes `key` only if it is at exactly `version`.
    async fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> StoreResult<()>;

    /// Applies `ops` all-or-nothing, checks first; returns the version of the puts.
    async fn transaction(&self, store_id: &str, ops: Vec<TxnOp>) -> StoreResult<u64>;

    /// One page of an ordered walk.
    async fn scan(&self, store_id: &str, scan: &Scan) -> StoreResult<Page>;

    /// The same page as [`scan`](Self::scan), its rows lent out of one
    /// buffer instead of owned one by one: the fast way to walk many keys.
    /// The default converts what `scan` returns; the provider adapter fills
    /// the buffer directly.
    async fn scan_rows(&self, store_id: &str, scan: &Scan) -> StoreResult<RowPage> {
        self.scan(store_id, scan).await.map(RowPage::from)
    }

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

    /// The change feed's current position (needs `CHANGE_FEED`).
    async fn change_head(&self) -> StoreResult<u64>;

    /// Changes committed after `after`, waiting up to `timeout` for the
    /// first (needs `CHANGE_FEED`). Runs on the blocking pool.
    async fn wait_changes(
        &self,
        after: u64,
        limit: u32,
        timeout: std::time::Duration,
    ) -> StoreResult<ChangePage>;
}
