//! `FaultLayer`: injects failures and delays, for testing how the host and
//! plugins behave when the store misbehaves.
//!
//! Rules are checked before each call reaches the wrapped store: fail the
//! Nth call, fail every call of one operation, delay one operation. A
//! failing rule produces an error of the chosen kind, temporary or not,
//! exactly as a provider would report it.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use async_trait::async_trait;

use crate::store::{
    Capabilities, ChangePage, Entry, ErrorKind, Expected, HistoryEntry, Operation, Page, RowPage,
    Scan, StateStore, StoreError, StoreFuture, StoreInfo, StoreResult, TxnOp,
};

/// The error a rule injects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The error kind.
    pub kind: ErrorKind,
    /// Whether the error is marked temporary.
    pub temporary: bool,
    /// The message.
    pub message: String,
}

impl Fault {
    /// A temporary `UNAVAILABLE` error.
    pub fn temporary(message: impl Into<String>) -> Self {
        Fault {
            kind: ErrorKind::UNAVAILABLE,
            temporary: true,
            message: message.into(),
        }
    }

    /// A permanent error of `kind`.
    pub fn permanent(kind: ErrorKind, message: impl Into<String>) -> Self {
        Fault {
            kind,
            temporary: false,
            message: message.into(),
        }
    }
}

#[derive(Default)]
struct Rules {
    /// Call number (from 1) -> fault, each used once.
    nth: HashMap<u64, Fault>,
    /// Operation -> (fault, remaining uses; None = every call).
    by_operation: HashMap<Operation, (Fault, Option<u32>)>,
    delays: HashMap<Operation, Duration>,
}

/// Wraps a store and injects the configured faults.
pub struct FaultLayer {
    inner: Arc<dyn StateStore>,
    calls: AtomicU64,
    rules: Mutex<Rules>,
}

impl FaultLayer {
    /// Wraps `inner` with no faults.
    pub fn new(inner: Arc<dyn StateStore>) -> Self {
        FaultLayer {
            inner,
            calls: AtomicU64::new(0),
            rules: Mutex::new(Rules::default()),
        }
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails the `n`th call from now on (1 = the next call), once.
    pub fn fail_nth(&self, n: u64, fault: Fault) {
        let at = self.calls.load(Ordering::SeqCst) + n.max(1);
        self.rules().nth.insert(at, fault);
    }

    /// Fails every call of `op` (`times: None`) or the next `times` calls.
    pub fn fail_operation(&self, op: Operation, fault: Fault, times: Option<u32>) {
        self.rules().by_operation.insert(op, (fault, times));
    }

    /// Delays every call of `op` by `delay` before it reaches the store.
    pub fn delay_operation(&self, op: Operation, delay: Duration) {
        self.rules().delays.insert(op, delay);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        *self.rules() = Rules::default();
    }

    /// How many calls reached this layer.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Applies the rules to one call of `op`.
    async fn enter(&self, op: Operation, store_id: &str) -> StoreResult<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let (fault, delay) = {
            let mut rules = self.rules();
            let mut fault = rules.nth.remove(&n);
            if fault.is_none() {
                if let Some((f, remaining)) = rules.by_operation.get_mut(&op) {
                    match remaining {
                        None => fault = Some(f.clone()),
                        Some(0) => {}
                        Some(left) => {
                            *left -= 1;
                            fault = Some(f.clone());
                        }
                    }
                }
            }
            (fault, rules.delays.get(&op).copied())
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        match fault {
            Some(f) => {
                let mut err =
                    StoreError::host(op, &self.inner.info().name, store_id, f.kind, f.message);
                err.temporary = f.temporary;
                Err(err)
            }
            None => Ok(()),
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl StateStore for FaultLayer {
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
        StoreFuture::boxed(async move {
            self.enter(Operation::Get, store_id).await?;
            self.inner.get(store_id, key).await
        })
    }

    async fn get_entry(&self, store_id: &str, key: &str) -> StoreResult<Option<Entry>> {
        self.enter(Operation::GetEntry, store_id).await?;
        self.inner.get_entry(store_id, key).await
    }

    async fn set(&self, store_id: &str, key: &str, value: Vec<u8>) -> StoreResult<u64> {
        self.enter(Operation::Set, store_id).await?;
        self.inner.set(store_id, key, value).await
    }

    async fn delete(&self, store_id: &str, key: &str) -> StoreResult<bool> {
        self.enter(Operation::Delete, store_id).await?;
        self.inner.delete(store_id, key).await
    }

    async fn contains_key(&self, store_id: &str, key: &str) -> StoreResult<bool> {
        self.enter(Operation::ContainsKey, store_id).await?;
        self.inner.contains_key(store_id, key).await
    }

    async fn get_many(
        &self,
        store_id: &str,
        keys: &[&str],
    ) -> StoreResult<HashMap<String, Vec<u8>>> {
        self.enter(Operation::GetMany, store_id).await?;
        self.inner.get_many(store_id, keys).await
    }

    async fn set_many(&self, store_id: &str, entries: Vec<(String, Vec<u8>)>) -> StoreResult<u64> {
        self.enter(Operation::SetMany, store_id).await?;
        self.inner.set_many(store_id, entries).await
    }

    async fn delete_many(&self, store_id: &str, keys: &[&str]) -> StoreResult<u64> {
        self.enter(Operation::DeleteMany, store_id).await?;
        self.inner.delete_many(store_id, keys).await
    }

    async fn clear_store(&self, store_id: &str) -> StoreResult<u64> {
        self.enter(Operation::ClearStore, store_id).await?;
        self.inner.clear_store(store_id).await
    }

    async fn list_keys(&self, store_id: &str) -> StoreResult<Vec<String>> {
        self.enter(Operation::ListKeys, store_id).await?;
        self.inner.list_keys(store_id).await
    }

    async fn store_exists(&self, store_id: &str) -> StoreResult<bool> {
        self.enter(Operation::StoreExists, store_id).await?;
        self.inner.store_exists(store_id).await
    }

    async fn key_count(&self, store_id: &str) -> StoreResult<u64> {
        self.enter(Operation::KeyCount, store_id).await?;
        self.inner.key_count(store_id).await
    }

    async fn sync(&self) -> StoreResult<()> {
        self.enter(Operation::Sync, "").await?;
        self.inner.sync().await
    }

    async fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: Vec<u8>,
    ) -> StoreResult<u64> {
        self.enter(Operation::CompareAndSet, store_id).await?;
        self.inner
            .compare_and_set(store_id, key, expected, value)
            .await
    }

    async fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> StoreResult<()> {
        self.enter(Operation::CompareAndDelete, store_id).await?;
        self.inner.compare_and_delete(store_id, key, version).await
    }

    async fn transaction(&self, store_id: &str, ops: Vec<TxnOp>) -> StoreResult<u64> {
        self.enter(Operation::Transaction, store_id).await?;
        self.inner.transaction(store_id, ops).await
    }

    async fn scan(&self, store_id: &str, scan: &Scan) -> StoreResult<Page> {
        self.enter(Operation::Scan, store_id).await?;
        self.inner.scan(store_id, scan).await
    }

    async fn scan_rows(&self, store_id: &str, scan: &Scan) -> StoreResult<RowPage> {
        self.enter(Operation::Scan, store_id).await?;
        self.inner.scan_rows(store_id, scan).await
    }

    async fn list_stores(&self) -> StoreResult<Vec<String>> {
        self.enter(Operation::ListStores, "").await?;
        self.inner.list_stores().await
    }

    async fn history(
        &self,
        store_id: &str,
        key: &str,
        limit: u32,
    ) -> StoreResult<Vec<HistoryEntry>> {
        self.enter(Operation::History, store_id).await?;
        self.inner.history(store_id, key, limit).await
    }

    async fn get_version(
        &self,
        store_id: &str,
        key: &str,
        version: u64,
    ) -> StoreResult<Option<Entry>> {
        self.enter(Operation::GetVersion, store_id).await?;
        self.inner.get_version(store_id, key, version).await
    }

    async fn change_head(&self) -> StoreResult<u64> {
        self.enter(Operation::ChangeHead, "").await?;
        self.inner.change_head().await
    }

    async fn wait_changes(
        &self,
        after: u64,
        limit: u32,
        timeout: Duration,
    ) -> StoreResult<ChangePage> {
        self.enter(Operation::WaitChanges, "").await?;
        self.inner.wait_changes(after, limit, timeout).await
    }
}
