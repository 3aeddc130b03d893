//! `ScopedStore`: a plugin's view of the state store, bound to its own store_id.

use std::{collections::HashMap, fmt, sync::Arc};

use serde::{de::DeserializeOwned, Serialize};

use crate::{
    layers::{Layered, WatchLayer, Watcher},
    plugin::PluginResult,
    store::{
        is_reserved_store_id,
        reserved::{is_reserved_key, RESERVED_KEY_REASON},
        CapabilityFlags, Entry, ErrorKind, Expected, Operation, Page, RowPage, Scan, StateStore,
        StoreError, StoreResult, TxnOp, RESERVED_STORE_ID_REASON,
    },
};

/// The state store as one plugin sees it: every call is bound to the
/// plugin's own store_id, which the plugin cannot change, so it can neither
/// read nor change another plugin's data, whatever keys it passes.
///
/// Keys beginning with `$` hold the host's records of the plugin (its owner
/// record `$owner`, its checkpoints `$checkpoint...`), on which exactly-once
/// delivery rests. The plugin can read one by name but cannot change it: a
/// write naming one is refused with `INVALID_ARGUMENT` and changes nothing,
/// and [`ScopedStore::clear`] keeps them. Walks of the plugin's keys leave
/// them out: [`list_keys`](ScopedStore::list_keys),
/// [`key_count`](ScopedStore::key_count), [`scan`](ScopedStore::scan) and
/// [`scan_rows`](ScopedStore::scan_rows) show only the plugin's own keys.
#[derive(Clone)]
pub struct ScopedStore {
    store: Arc<dyn StateStore>,
    store_id: Arc<str>,
    watch: Option<Arc<Layered<WatchLayer>>>,
    /// Whether this view may change the `$` keys (the host's view).
    host_records: bool,
}

impl fmt::Debug for ScopedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedStore")
            .field("store_id", &self.store_id)
            .finish()
    }
}

impl ScopedStore {
    /// A view of `store` bound to `store_id`; a reserved store_id (see
    /// [`is_reserved_store_id`]) is refused with `INVALID_ARGUMENT`.
    pub fn new(store: Arc<dyn StateStore>, store_id: impl Into<Arc<str>>) -> StoreResult<Self> {
        let store_id = store_id.into();
        if is_reserved_store_id(&store_id) {
            return Err(StoreError::host(
                Operation::Open,
                &store.info().name,
                &store_id,
                ErrorKind::INVALID_ARGUMENT,
                format!("a plugin's store cannot be made: {RESERVED_STORE_ID_REASON}"),
            ));
        }
        Ok(ScopedStore {
            store,
            store_id,
            watch: None,
            host_records: false,
        })
    }

    /// The same store as the host sees it: able to change the `$` keys.
    pub(crate) fn with_host_records(&self) -> Self {
        ScopedStore {
            host_records: true,
            ..self.clone()
        }
    }

    /// Refuses a transaction `ops` that would change a key of the host's.
    pub(crate) fn check_transaction(&self, ops: &[TxnOp]) -> StoreResult<()> {
        self.check_keys(Operation::Transaction, changed_keys(ops))
    }

    /// Refuses a write of `operation` to `keys` if one is the host's.
    fn check_keys<'k>(
        &self,
        operation: Operation,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> StoreResult<()> {
        if self.host_records {
            return Ok(());
        }
        match keys.into_iter().find(|k| is_reserved_key(k)) {
            None => Ok(()),
            Some(key) => Err(StoreError::host(
                operation,
                &self.store.info().name,
                &self.store_id,
                ErrorKind::INVALID_ARGUMENT,
                format!("cannot change key {key:?}: {RESERVED_KEY_REASON}"),
            )),
        }
    }

    /// The same view, able to watch through `layer` (which must wrap `store`).
    pub fn with_watch(mut self, layer: Arc<Layered<WatchLayer>>) -> Self {
        self.watch = Some(layer);
        self
    }

    /// Change events of this plugin's keys under `prefix`; `None` if the
    /// store has no watch layer (a host always adds one).
    pub fn watch(&self, prefix: &str) -> Option<Watcher> {
        self.watch
            .as_ref()
            .map(|w| w.layer().watch(&self.store_id, prefix))
    }

    /// The store_id every call is bound to.
    pub fn store_id(&self) -> &str {
        &self.store_id
    }

    /// Whether writes survive a crash.
    pub fn is_durable(&self) -> bool {
        self.store.is_durable()
    }

    /// The value of `key`.
    pub async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.store.get(&self.store_id, key).await
    }

    /// The value and version of `key`.
    pub async fn get_entry(&self, key: &str) -> StoreResult<Option<Entry>> {
        self.store.get_entry(&self.store_id, key).await
    }

    /// Writes `value` under `key`; returns the new version.
    pub async fn set(&self, key: &str, value: impl Into<Vec<u8>>) -> StoreResult<u64> {
        self.check_keys(Operation::Set, [key])?;
        self.store.set(&self.store_id, key, value.into()).await
    }

    /// Writes `value` under `key` to expire after `ttl` (needs `TTL`; see
    /// `set_with_ttl` on [`StateStore`]).
    pub async fn set_with_ttl(
        &self,
        key: &str,
        value: impl Into<Vec<u8>>,
        ttl: std::time::Duration,
    ) -> StoreResult<u64> {
        self.check_keys(Operation::Set, [key])?;
        self.store
            .set_with_ttl(&self.store_id, key, value.into(), ttl)
            .await
    }

    /// Removes `key`; returns whether it existed.
    pub async fn delete(&self, key: &str) -> StoreResult<bool> {
        self.check_keys(Operation::Delete, [key])?;
        self.store.delete(&self.store_id, key).await
    }

    /// Whether `key` exists.
    pub async fn contains_key(&self, key: &str) -> StoreResult<bool> {
        self.store.contains_key(&self.store_id, key).await
    }

    /// The values of the `keys` that exist.
    pub async fn get_many(&self, keys: &[&str]) -> StoreResult<HashMap<String, Vec<u8>>> {
        self.store.get_many(&self.store_id, keys).await
    }

    /// Writes every pair as one batch.
    pub async fn set_many(&self, entries: Vec<(String, Vec<u8>)>) -> StoreResult<u64> {
        self.check_keys(Operation::SetMany, entries.iter().map(|(k, _)| k.as_str()))?;
        self.store.set_many(&self.store_id, entries).await
    }

    /// Removes `keys` as one batch; returns how many existed.
    pub async fn delete_many(&self, keys: &[&str]) -> StoreResult<u64> {
        self.check_keys(Operation::DeleteMany, keys.iter().copied())?;
        self.store.delete_many(&self.store_id, keys).await
    }

    /// Removes every key of this plugin but the host's `$` records;
    /// returns how many it removed. The keys go in batches of the provider's
    /// `max_batch_ops`, each all-or-nothing.
    pub async fn clear(&self) -> StoreResult<u64> {
        if self.host_records {
            return self.store.clear_store(&self.store_id).await;
        }
        let keys = self.store.list_keys(&self.store_id).await?;
        let batch = self.store.capabilities().limits.max_batch_ops.max(1) as usize;
        let plugin_keys: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .filter(|k| !is_reserved_key(k))
            .collect();
        let mut removed = 0;
        for chunk in plugin_keys.chunks(batch) {
            removed += self.store.delete_many(&self.store_id, chunk).await?;
        }
        Ok(removed)
    }

    /// Every key of this plugin, ascending (the host's `$` records left out).
    pub async fn list_keys(&self) -> StoreResult<Vec<String>> {
        let mut keys = self.store.list_keys(&self.store_id).await?;
        if !self.host_records {
            keys.retain(|k| !is_reserved_key(k));
        }
        Ok(keys)
    }

    /// How many keys this plugin has (the host's `$` records left out).
    pub async fn key_count(&self) -> StoreResult<u64> {
        let all = self.store.key_count(&self.store_id).await?;
        if self.host_records {
            return Ok(all);
        }
        Ok(all.saturating_sub(self.host_record_count().await?))
    }

    /// How many of the host's `$` records the store holds: a walk of the
    /// `$` prefix where the provider scans in order, else a listing.
    async fn host_record_count(&self) -> StoreResult<u64> {
        if !self
            .store
            .capabilities()
            .has(CapabilityFlags::ORDERED_SCANS)
        {
            let keys = self.store.list_keys(&self.store_id).await?;
            return Ok(keys.iter().filter(|k| is_reserved_key(k)).count() as u64);
        }
        let mut count = 0;
        let mut scan = Scan::prefix("$").limit(1000);
        loop {
            let page = self.store.scan_rows(&self.store_id, &scan).await?;
            count += page.len() as u64;
            match page.next() {
                Some(next) => scan = scan.after(next),
                None => return Ok(count),
            }
        }
    }

    /// Writes `value` only if `key` is in the `expected` state.
    pub async fn compare_and_set(
        &self,
        key: &str,
        expected: Expected,
        value: impl Into<Vec<u8>>,
    ) -> StoreResult<u64> {
        self.check_keys(Operation::CompareAndSet, [key])?;
        self.store
            .compare_and_set(&self.store_id, key, expected, value.into())
            .await
    }

    /// Removes `key` only if it is at `version`.
    pub async fn compare_and_delete(&self, key: &str, version: u64) -> StoreResult<()> {
        self.check_keys(Operation::CompareAndDelete, [key])?;
        self.store
            .compare_and_delete(&self.store_id, key, version)
            .await
    }

    /// Applies `ops` all-or-nothing. A check may name a `$` key; a put or
    /// delete may not.
    pub async fn transaction(&self, ops: Vec<TxnOp>) -> StoreResult<u64> {
        self.check_transaction(&ops)?;
        self.store.transaction(&self.store_id, ops).await
    }

    /// One page of an ordered walk, the host's `$` records left out (so a
    /// page may hold fewer rows than the limit; it is empty only when the
    /// walk is done).
    pub async fn scan(&self, scan: &Scan) -> StoreResult<Page> {
        let mut scan = scan.clone();
        loop {
            let mut page = self.store.scan(&self.store_id, &scan).await?;
            if self.host_records {
                return Ok(page);
            }
            page.entries.retain(|e| !is_reserved_key(&e.key));
            match (&page.next, page.entries.is_empty()) {
                // A page of `$` records only: walk on past it.
                (Some(next), true) => scan.after = Some(next.clone()),
                _ => return Ok(page),
            }
        }
    }

    /// The same page with its rows lent out of one buffer (see
    /// [`StateStore::scan_rows`]): the fast way to walk many keys. As for
    /// [`scan`](ScopedStore::scan), the host's `$` records are left out.
    pub async fn scan_rows(&self, scan: &Scan) -> StoreResult<RowPage> {
        let mut scan = scan.clone();
        loop {
            let page = self.store.scan_rows(&self.store_id, &scan).await?;
            if self.host_records || !page.iter().any(|row| is_reserved_key(row.key)) {
                return Ok(page);
            }
            let mut plugin_rows = RowPage::with_capacity(page.len());
            for row in page.iter().filter(|row| !is_reserved_key(row.key)) {
                plugin_rows.push(row.key, row.version, row.value);
            }
            plugin_rows.set_next(page.next().map(str::to_string));
            match page.next() {
                // A page of `$` records only: walk on past it.
                Some(next) if plugin_rows.is_empty() => scan.after = Some(next.to_string()),
                _ => return Ok(plugin_rows),
            }
        }
    }

    /// The value of `key` parsed from JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> PluginResult<Option<T>> {
        match self.get(key).await? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Writes `value` as JSON under `key`.
    pub async fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> PluginResult<u64> {
        Ok(self.set(key, serde_json::to_vec(value)?).await?)
    }
}

/// The keys `ops` would change (a check changes nothing).
fn changed_keys(ops: &[TxnOp]) -> impl Iterator<Item = &str> {
    ops.iter().filter_map(|op| match op {
        TxnOp::Put { key, .. } | TxnOp::PutWithTtl { key, .. } | TxnOp::Delete { key } => {
            Some(key.as_str())
        }
        TxnOp::Check { .. } => None,
    })
}
