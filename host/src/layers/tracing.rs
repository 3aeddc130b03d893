//! `TracingLayer`: one `tracing` event per store call.

use std::{
    collections::HashMap,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use ::tracing::{Instrument, Level, Span};
use async_trait::async_trait;

use crate::store::{
    Capabilities, ChangePage, Entry, Expected, HistoryEntry, Operation, Page, RowPage, Scan,
    StateStore, StoreFuture, StoreInfo, StoreResult, TxnOp,
};

/// Logs every call of the wrapped store through `tracing`.
///
/// Each data call (every method except `info`, `capabilities` and
/// `is_durable`, which do no I/O) ends with one event carrying the fields
/// `operation` ([`Operation::as_str`]), `provider` (the provider's name),
/// `store_id` (empty for whole-provider calls), `outcome` (`ok`, or the
/// error kind's label such as `version conflict`) and `duration_us`
/// (microseconds). Failed calls also carry `error` (the provider's message).
///
/// - A call that succeeds is logged at TRACE and runs inside a TRACE span
///   `store_op` with the operation, provider and store_id, so that events
///   the provider emits during the call are attributed to it.
/// - A call that fails is logged at DEBUG, not WARN: conflicts and refused
///   input are normal outcomes that the caller handles.
/// - When neither level is enabled for this module, the call goes straight
///   to the wrapped store: no clock read, no span, no allocation.
///
/// Events use the target `stateplug::layers::tracing`, so
/// `RUST_LOG=stateplug::layers=trace` shows every call.
pub struct TracingLayer {
    inner: Arc<dyn StateStore>,
}

impl TracingLayer {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn StateStore>) -> Self {
        TracingLayer { inner }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn StateStore> {
        &self.inner
    }

    /// Runs `call` (the wrapped store's future for `op` on `store_id`) and
    /// logs its outcome and duration.
    async fn traced<T, F>(&self, op: Operation, store_id: &str, call: F) -> StoreResult<T>
    where
        F: Future<Output = StoreResult<T>>,
    {
        let trace_on = ::tracing::enabled!(Level::TRACE);
        if !trace_on && !::tracing::enabled!(Level::DEBUG) {
            return call.await;
        }
        let provider = self.inner.info().name.as_str();
        let span = if trace_on {
            ::tracing::trace_span!("store_op", operation = op.as_str(), provider, store_id)
        } else {
            Span::none()
        };
        let start = Instant::now();
        let result = call.instrument(span).await;
        let duration_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        match &result {
            Ok(_) => ::tracing::trace!(
                operation = op.as_str(),
                provider,
                store_id,
                outcome = "ok",
                duration_us,
                "store call"
            ),
            Err(e) => ::tracing::debug!(
                operation = op.as_str(),
                provider,
                store_id,
                outcome = e.kind().as_str(),
                duration_us,
                error = e.message.as_str(),
                "store call failed"
            ),
        }
        result
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl StateStore for TracingLayer {
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
        StoreFuture::boxed(self.traced(Operation::Get, store_id, self.inner.get(store_id, key)))
    }

    async fn get_entry(&self, store_id: &str, key: &str) -> StoreResult<Option<Entry>> {
        self.traced(
            Operation::GetEntry,
            store_id,
            self.inner.get_entry(store_id, key),
        )
        .await
    }

    async fn set(&self, store_id: &str, key: &str, value: Vec<u8>) -> StoreResult<u64> {
        self.traced(
            Operation::Set,
            store_id,
            self.inner.set(store_id, key, value),
        )
        .await
    }

    async fn delete(&self, store_id: &str, key: &str) -> StoreResult<bool> {
        self.traced(
            Operation::Delete,
            store_id,
            self.inner.delete(store_id, key),
        )
        .await
    }

    async fn contains_key(&self, store_id: &str, key: &str) -> StoreResult<bool> {
        self.traced(
            Operation::ContainsKey,
            store_id,
            self.inner.contains_key(store_id, key),
        )
        .await
    }

    async fn get_many(
        &self,
        store_id: &str,
        keys: &[&str],
    ) -> StoreResult<HashMap<String, Vec<u8>>> {
        self.traced(
            Operation::GetMany,
            store_id,
            self.inner.get_many(store_id, keys),
        )
        .await
    }

    async fn set_many(&self, store_id: &str, entries: Vec<(String, Vec<u8>)>) -> StoreResult<u64> {
        self.traced(
            Operation::SetMany,
            store_id,
            self.inner.set_many(store_id, entries),
        )
        .await
    }

    async fn delete_many(&self, store_id: &str, keys: &[&str]) -> StoreResult<u64> {
        self.traced(
            Operation::DeleteMany,
            store_id,
            self.inner.delete_many(store_id, keys),
        )
        .await
    }

    async fn clear_store(&self, store_id: &str) -> StoreResult<u64> {
        self.traced(
            Operation::ClearStore,
            store_id,
            self.inner.clear_store(store_id),
        )
        .await
    }

    async fn list_keys(&self, store_id: &str) -> StoreResult<Vec<String>> {
        self.traced(
            Operation::ListKeys,
            store_id,
            self.inner.list_keys(store_id),
        )
        .await
    }

    async fn store_exists(&self, store_id: &str) -> StoreResult<bool> {
        self.traced(
            Operation::StoreExists,
            store_id,
            self.inner.store_exists(store_id),
        )
        .await
    }

    async fn key_count(&self, store_id: &str) -> StoreResult<u64> {
        self.traced(
            Operation::KeyCount,
            store_id,
            self.inner.key_count(store_id),
        )
        .await
    }

    async fn sync(&self) -> StoreResult<()> {
        self.traced(Operation::Sync, "", self.inner.sync()).await
    }

    async fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: Vec<u8>,
    ) -> StoreResult<u64> {
        self.traced(
            Operation::CompareAndSet,
            store_id,
            self.inner.compare_and_set(store_id, key, expected, value),
        )
        .await
    }

    async fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> StoreResult<()> {
        self.traced(
            Operation::CompareAndDelete,
            store_id,
            self.inner.compare_and_delete(store_id, key, version),
        )
        .await
    }

    async fn transaction(&self, store_id: &str, ops: Vec<TxnOp>) -> StoreResult<u64> {
        self.traced(
            Operation::Transaction,
            store_id,
            self.inner.transaction(store_id, ops),
        )
        .await
    }

    async fn scan(&self, store_id: &str, scan: &Scan) -> StoreResult<Page> {
        self.traced(Operation::Scan, store_id, self.inner.scan(store_id, scan))
            .await
    }

    async fn scan_rows(&self, store_id: &str, scan: &Scan) -> StoreResult<RowPage> {
        self.traced(
            Operation::Scan,
            store_id,
            self.inner.scan_rows(store_id, scan),
        )
        .await
    }

    async fn list_stores(&self) -> StoreResult<Vec<String>> {
        self.traced(Operation::ListStores, "", self.inner.list_stores())
            .await
    }

    async fn history(
        &self,
        store_id: &str,
        key: &str,
        limit: u32,
    ) -> StoreResult<Vec<HistoryEntry>> {
        self.traced(
            Operation::History,
            store_id,
            self.inner.history(store_id, key, limit),
        )
        .await
    }

    async fn get_version(
        &self,
        store_id: &str,
        key: &str,
        version: u64,
    ) -> StoreResult<Option<Entry>> {
        self.traced(
            Operation::GetVersion,
            store_id,
            self.inner.get_version(store_id, key, version),
        )
        .await
    }

    async fn change_head(&self) -> StoreResult<u64> {
        self.traced(Operation::ChangeHead, "", self.inner.change_head())
            .await
    }

    async fn wait_changes(
        &self,
        after: u64,
        limit: u32,
        timeout: Duration,
    ) -> StoreResult<ChangePage> {
        self.traced(
            Operation::WaitChanges,
            "",
            self.inner.wait_changes(after, limit, timeout),
        )
        .await
    }
}
