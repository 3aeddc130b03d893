//! `RetryLayer`: retries calls that failed with a temporary error, a
//! bounded number of times with exponential backoff.
//!
//! Only calls that are safe to repeat are retried: reads, and writes whose
//! repetition leaves the same state (`set`, `set_many`, `delete`,
//! `delete_many`, `clear_store`, `sync`). Conditional writes
//! (`compare_and_set`, `compare_and_delete`, `transaction`) are not: a
//! temporary error there can mean "outcome unknown" (a lost connection
//! during commit), and repeating the call could apply it twice or report a
//! conflict with itself. Their errors reach the caller unchanged.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::store::{
    Capabilities, ChangePage, Entry, Expected, HistoryEntry, Operation, Page, RowPage, Scan,
    StateStore, StoreFuture, StoreInfo, StoreResult, TxnOp,
};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the first retry; doubled for each further one.
    pub first_backoff: Duration,
    /// The longest single wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// Retries temporary failures of the wrapped store.
pub struct RetryLayer {
    inner: Arc<dyn StateStore>,
    policy: RetryPolicy,
}

impl RetryLayer {
    /// Wraps `inner` with `policy`.
    pub fn new(inner: Arc<dyn StateStore>, policy: RetryPolicy) -> Self {
        RetryLayer { inner, policy }
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the attempts
    /// run out; the last error says how many attempts were made.
    async fn retried<T, F, Fut>(&self, op: Operation, mut attempt: F) -> StoreResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        let attempts = self.policy.attempts.max(1);
        let mut backoff = self.policy.first_backoff;
        let mut tried = 0;
        loop {
            tried += 1;
            match attempt().await {
                Err(e) if e.temporary && tried < attempts => {
                    tracing::debug!(operation = %op, provider = %e.provider, store_id = %e.store_id,
                        attempt = tried, error = %e.message, "temporary failure; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.policy.max_backoff);
                }
                Err(mut e) if e.temporary => {
                    e.message = format!("{} (gave up after {tried} attempts)", e.message);
                    return Err(e);
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl StateStore for RetryLayer {
    fn info(&self) -> &StoreInfo {
        self.inner.info()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn is_durable(&self) -> bool {
        self.inner.is_durable()
    }

    fn get<'a>(&'a self, store_id: &'a str, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        StoreFuture::boxed(self.retried(Operation::Get, || self.inner.get(store_id, key)))
    }

    async fn get_entry(&self, store_id: &str, key: &str) -> StoreResult<Option<Entry>> {
        self.retried(Operation::GetEntry, || self.inner.get_entry(store_id, key))
            .await
    }

    async fn set(&self, store_id: &str, key: &str, value: Vec<u8>) -> StoreResult<u64> {
        self.retried(Operation::Set, || {
            self.inner.set(store_id, key, value.clone())
        })
        .await
    }

    async fn delete(&self, store_id: &str, key: &str) -> StoreResult<bool> {
        self.retried(Operation::Delete, || self.inner.delete(store_id, key))
            .await
    }

    async fn contains_key(&self, store_id: &str, key: &str) -> StoreResult<bool> {
        self.retried(Operation::ContainsKey, || {
            self.inner.contains_key(store_id, key)
        })
        .await
    }

    async fn get_many(
        &self,
        store_id: &str,
        keys: &[&str],
    ) -> StoreResult<HashMap<String, Vec<u8>>> {
        self.retried(Operation::GetMany, || self.inner.get_many(store_id, keys))
            .await
    }

    async fn set_many(&self, store_id: &str, entries: Vec<(String, Vec<u8>)>) -> StoreResult<u64> {
        self.retried(Operation::SetMany, || {
            self.inner.set_many(store_id, entries.clone())
        })
        .await
    }

    async fn delete_many(&self, store_id: &str, keys: &[&str]) -> StoreResult<u64> {
        self.retried(Operation::DeleteMany, || {
            self.inner.delete_many(store_id, keys)
        })
        .await
    }

    async fn clear_store(&self, store_id: &str) -> StoreResult<u64> {
        self.retried(Operation::ClearStore, || self.inner.clear_store(store_id))
            .await
    }

    async fn list_keys(&self, store_id: &str) -> StoreResult<Vec<String>> {
        self.retried(Operation::ListKeys, || self.inner.list_keys(store_id))
            .await
    }

    async fn store_exists(&self, store_id: &str) -> StoreResult<bool> {
        self.retried(Operation::StoreExists, || self.inner.store_exists(store_id))
            .await
    }

    async fn key_count(&self, store_id: &str) -> StoreResult<u64> {
        self.retried(Operation::KeyCount, || self.inner.key_count(store_id))
            .await
    }

    async fn sync(&self) -> StoreResult<()> {
        self.retried(Operation::Sync, || self.inner.sync()).await
    }

    /// Not retried: see the module documentation.
    async fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: Vec<u8>,
    ) -> StoreResult<u64> {
        self.inner
            .compare_and_set(store_id, key, expected, value)
            .await
    }

    /// Not retried: see the module documentation.
    async fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> StoreResult<()> {
        self.inner.compare_and_delete(store_id, key, version).await
    }

    /// Not retried: see the module documentation.
    async fn transaction(&self, store_id: &str, ops: Vec<TxnOp>) -> StoreResult<u64> {
        self.inner.transaction(store_id, ops).await
    }

    async fn scan(&self, store_id: &str, scan: &Scan) -> StoreResult<Page> {
        self.retried(Operation::Scan, || self.inner.scan(store_id, scan))
            .await
    }

    async fn scan_rows(&self, store_id: &str, scan: &Scan) -> StoreResult<RowPage> {
        self.retried(Operation::Scan, || self.inner.scan_rows(store_id, scan))
            .await
    }

    async fn list_stores(&self) -> StoreResult<Vec<String>> {
        self.retried(Operation::ListStores, || self.inner.list_stores())
            .await
    }

    async fn history(
        &self,
        store_id: &str,
        key: &str,
        limit: u32,
    ) -> StoreResult<Vec<HistoryEntry>> {
        self.retried(Operation::History, || {
            self.inner.history(store_id, key, limit)
        })
        .await
    }

    async fn get_version(
        &self,
        store_id: &str,
        key: &str,
        version: u64,
    ) -> StoreResult<Option<Entry>> {
        self.retried(Operation::GetVersion, || {
            self.inner.get_version(store_id, key, version)
        })
        .await
    }

    async fn change_head(&self) -> StoreResult<u64> {
        self.retried(Operation::ChangeHead, || self.inner.change_head())
            .await
    }

    async fn wait_changes(
        &self,
        after: u64,
        limit: u32,
        timeout: Duration,
    ) -> StoreResult<ChangePage> {
        self.retried(Operation::WaitChanges, || {
            self.inner.wait_changes(after, limit, timeout)
        })
        .await
    }
}
