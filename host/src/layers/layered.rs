//! [`Layered`]: a store wrapped in a [`Layer`], forwarding every call
//! through it. This is the one place that lists every method of
//! [`StateStore`] for layers.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::{
    clock::Clock,
    layers::{Call, Layer},
    store::{
        Capabilities, ChangePage, Entry, HistoryEntry, Operation, RowPage, Scan, StateStore,
        StoreFuture, StoreInfo, StoreResult, WriteOp, Written,
    },
};

/// A store wrapped in layer `L`: every call of the inner store goes through
/// the layer ([`Layer::around`], [`Layer::around_write`]).
pub struct Layered<L> {
    inner: Arc<dyn StateStore>,
    layer: L,
    /// `inner`'s provider name, read once: every call names it.
    provider: String,
}

impl<L: Layer> Layered<L> {
    /// `inner` wrapped in `layer`.
    pub fn new(inner: Arc<dyn StateStore>, layer: L) -> Self {
        let provider = inner.info().name.clone();
        Layered {
            inner,
            layer,
            provider,
        }
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn StateStore> {
        &self.inner
    }

    fn call<'a>(&'a self, operation: Operation, store_id: &'a str) -> Call<'a> {
        Call {
            operation,
            store_id,
            provider: &self.provider,
            ops: &[],
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<L: Layer> StateStore for Layered<L> {
    fn info(&self) -> &StoreInfo {
        self.inner.info()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn clock(&self) -> &Clock {
        self.inner.clock()
    }

    fn get<'a>(&'a self, store_id: &'a str, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        if !L::WRAPS_READS {
            return self.inner.get(store_id, key);
        }
        let call = self.call(Operation::Get, store_id);
        self.layer
            .around_get(call, || self.inner.get(store_id, key))
    }

    async fn get_entry(&self, store_id: &str, key: &str) -> StoreResult<Option<Entry>> {
        if !L::WRAPS_READS {
            return self.inner.get_entry(store_id, key).await;
        }
        let call = self.call(Operation::GetEntry, store_id);
        let entry = self
            .layer
            .around(call, || self.inner.get_entry(store_id, key))
            .await;
        if let Ok(Some(entry)) = &entry {
            self.layer.read_bytes(&call, entry.value.len() as u64);
        }
        entry
    }

    async fn contains_key(&self, store_id: &str, key: &str) -> StoreResult<bool> {
        if !L::WRAPS_READS {
            return self.inner.contains_key(store_id, key).await;
        }
        let call = self.call(Operation::ContainsKey, store_id);
        self.layer
            .around(call, || self.inner.contains_key(store_id, key))
            .await
    }

    async fn get_many(
        &self,
        store_id: &str,
        keys: &[&str],
    ) -> StoreResult<HashMap<String, Vec<u8>>> {
        if !L::WRAPS_READS {
            return self.inner.get_many(store_id, keys).await;
        }
        let call = self.call(Operation::GetMany, store_id);
        let found = self
            .layer
            .around(call, || self.inner.get_many(store_id, keys))
            .await;
        if let Ok(found) = &found {
            let bytes = found.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
            self.layer.read_bytes(&call, bytes as u64);
        }
        found
    }

    async fn expiries(&self, store_id: &str, keys: &[&str]) -> StoreResult<Vec<Option<u64>>> {
        if !L::WRAPS_READS {
            return self.inner.expiries(store_id, keys).await;
        }
        let call = self.call(Operation::Expiries, store_id);
        self.layer
            .around(call, || self.inner.expiries(store_id, keys))
            .await
    }

    fn write<'a>(
        &'a self,
        operation: Operation,
        store_id: &'a str,
        ops: &'a [WriteOp<'a>],
    ) -> StoreFuture<'a, Written> {
        let call = Call {
            ops,
            ..self.call(operation, store_id)
        };
        self.layer
            .around_write(call, move || self.inner.write(operation, store_id, ops))
    }

    async fn list_keys(&self, store_id: &str) -> StoreResult<Vec<String>> {
        if !L::WRAPS_READS {
            return self.inner.list_keys(store_id).await;
        }
        let call = self.call(Operation::ListKeys, store_id);
        self.layer
            .around(call, || self.inner.list_keys(store_id))
            .await
    }

    async fn store_exists(&self, store_id: &str) -> StoreResult<bool> {
        if !L::WRAPS_READS {
            return self.inner.store_exists(store_id).await;
        }
        let call = self.call(Operation::StoreExists, store_id);
        self.layer
            .around(call, || self.inner.store_exists(store_id))
            .await
    }

    async fn key_count(&self, store_id: &str) -> StoreResult<u64> {
        if !L::WRAPS_READS {
            return self.inner.key_count(store_id).await;
        }
        let call = self.call(Operation::KeyCount, store_id);
        self.layer
            .around(call, || self.inner.key_count(store_id))
            .await
    }

    async fn sync(&self) -> StoreResult<()> {
        let call = self.call(Operation::Sync, "");
        self.layer.around(call, || self.inner.sync()).await
    }

    async fn scan_rows(&self, store_id: &str, scan: &Scan) -> StoreResult<RowPage> {
        if !L::WRAPS_READS {
            return self.inner.scan_rows(store_id, scan).await;
        }
        let call = self.call(Operation::Scan, store_id);
        let page = self
            .layer
            .around(call, || self.inner.scan_rows(store_id, scan))
            .await;
        if let Ok(page) = &page {
            self.layer.read_bytes(&call, page.bytes() as u64);
        }
        page
    }

    async fn list_stores(&self) -> StoreResult<Vec<String>> {
        if !L::WRAPS_READS {
            return self.inner.list_stores().await;
        }
        let call = self.call(Operation::ListStores, "");
        self.layer.around(call, || self.inner.list_stores()).await
    }

    async fn history(
        &self,
        store_id: &str,
        key: &str,
        limit: u32,
    ) -> StoreResult<Vec<HistoryEntry>> {
        if !L::WRAPS_READS {
            return self.inner.history(store_id, key, limit).await;
        }
        let call = self.call(Operation::History, store_id);
        let history = self
            .layer
            .around(call, || self.inner.history(store_id, key, limit))
            .await;
        if let Ok(history) = &history {
            let bytes = history
                .iter()
                .map(|h| h.value.as_ref().map_or(0, Vec::len))
                .sum::<usize>();
            self.layer.read_bytes(&call, bytes as u64);
        }
        history
    }

    async fn get_version(
        &self,
        store_id: &str,
        key: &str,
        version: u64,
    ) -> StoreResult<Option<Entry>> {
        if !L::WRAPS_READS {
            return self.inner.get_version(store_id, key, version).await;
        }
        let call = self.call(Operation::GetVersion, store_id);
        let entry = self
            .layer
            .around(call, || self.inner.get_version(store_id, key, version))
            .await;
        if let Ok(Some(entry)) = &entry {
            self.layer.read_bytes(&call, entry.value.len() as u64);
        }
        entry
    }

    async fn change_head(&self) -> StoreResult<u64> {
        if !L::WRAPS_READS {
            return self.inner.change_head().await;
        }
        let call = self.call(Operation::ChangeHead, "");
        self.layer.around(call, || self.inner.change_head()).await
    }

    async fn wait_changes(
        &self,
        after: u64,
        limit: u32,
        timeout: Duration,
    ) -> StoreResult<ChangePage> {
        if !L::WRAPS_READS {
            return self.inner.wait_changes(after, limit, timeout).await;
        }
        let call = self.call(Operation::WaitChanges, "");
        self.layer
            .around(call, || self.inner.wait_changes(after, limit, timeout))
            .await
    }
}
