//! `ProviderStore`: the async `StateStore` over a provider object.
//!
//! Calls the provider declares cheap (`INLINE_READS`, `INLINE_WRITES`) run
//! on the calling task; calls of a provider that waits only on local disk
//! (`LOCAL_IO`) run on the calling worker via `block_in_place`; all others
//! run on tokio's blocking pool so that a slow fsync or network round trip
//! never stalls the async workers. The writes of a provider that commits
//! groups (`GROUP_WRITES`) go through the [`GroupWriter`].

use std::{collections::HashMap, sync::Arc, time::Duration};

use abi_stable::std_types::{RResult, RSlice, RStr, RString, RVec};
use async_trait::async_trait;
use stateplug_provider_api::{
    ffi::{visit_framed_rows, FfiEntry, FfiProviderBox, FfiScan},
    Capabilities, CapabilityFlags, Entry, ErrorKind, ProviderError, WriteOp,
};

use crate::{
    clock::Clock,
    provider::{
        group_writer::GroupWriter,
        on_multi_thread_runtime,
        write_call::{write_one, OwnedWrite},
    },
    store::{
        ChangeKind, ChangePage, ChangeRecord, HistoryEntry, Operation, RowPage, Scan, StateStore,
        StoreError, StoreFuture, StoreInfo, StoreResult, Written,
    },
};

/// A provider object seen through the host's async API.
pub struct ProviderStore {
    ffi: Arc<FfiProviderBox>,
    info: StoreInfo,
    caps: Capabilities,
    call_timeout: Duration,
    /// The clock the provider was opened with.
    clock: Clock,
    /// For providers declaring `GROUP_WRITES`: the writes of concurrent
    /// tasks go to the provider in groups.
    group: Option<Arc<GroupWriter>>,
}

/// The default call timeout.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn entry(e: FfiEntry) -> Entry {
    Entry {
        value: e.value.into_vec(),
        version: e.version,
    }
}

fn strs<'a>(keys: &'a [&'a str]) -> Vec<RStr<'a>> {
    keys.iter().map(|k| RStr::from_str(k)).collect()
}

impl ProviderStore {
    /// Wraps an opened provider object, whose calls time out after
    /// `call_timeout`, opened with `clock`.
    pub(crate) fn new(ffi: FfiProviderBox, call_timeout: Duration, clock: Clock) -> Self {
        let raw = ffi.info();
        let info = StoreInfo {
            name: raw.name.into_string(),
            version: raw.version.into_string(),
            interface_version: raw.interface_version.into_string(),
        };
        let caps = ffi.capabilities();
        let group = caps.has(CapabilityFlags::GROUP_WRITES).then(|| {
            Arc::new(GroupWriter::new(
                caps.has(CapabilityFlags::LOCAL_IO),
                call_timeout,
            ))
        });
        ProviderStore {
            ffi: Arc::new(ffi),
            info,
            caps,
            call_timeout,
            clock,
            group,
        }
    }

    fn err(&self, op: Operation, store_id: &str, e: ProviderError) -> StoreError {
        StoreError::from_provider(op, &self.info.name, store_id, e)
    }

    fn inline(&self, op: Operation) -> bool {
        let flag = if op.is_write() {
            CapabilityFlags::INLINE_WRITES
        } else {
            CapabilityFlags::INLINE_READS
        };
        self.caps.has(flag)
    }

    /// Attaches the call's context to a provider error.
    fn finish<T>(
        &self,
        op: Operation,
        store_id: &str,
        result: RResult<T, ProviderError>,
    ) -> StoreResult<T> {
        result.into_result().map_err(|e| self.err(op, store_id, e))
    }

    /// Runs `call` on the provider: inline if the provider declares the
    /// operation cheap; on this worker thread via `block_in_place` if it
    /// waits only on local I/O (`LOCAL_IO`, on a multi-thread runtime);
    /// otherwise on tokio's blocking pool, waiting at most the call timeout
    /// (a provider that blocks forever costs a thread, not the host).
    async fn call<T, F>(&self, op: Operation, store_id: &str, call: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&FfiProviderBox) -> RResult<T, ProviderError> + Send + 'static,
    {
        if self.inline(op) {
            return self.finish(op, store_id, call(&self.ffi));
        }
        if self.caps.has(CapabilityFlags::LOCAL_IO) && on_multi_thread_runtime() {
            // Only local disk waits: run it here, handing this worker's
            // other tasks to another thread, without a thread hop.
            return self.finish(
                op,
                store_id,
                tokio::task::block_in_place(|| call(&self.ffi)),
            );
        }
        let ffi = Arc::clone(&self.ffi);
        let blocking = tokio::task::spawn_blocking(move || call(&ffi));
        match tokio::time::timeout(self.call_timeout, blocking).await {
            Ok(Ok(result)) => self.finish(op, store_id, result),
            // How the call ended is unknown: a write may have been applied.
            Ok(Err(join)) => Err(self.err(
                op,
                store_id,
                super::unfinished(
                    op.is_write(),
                    format!("the blocking call did not complete: {join}"),
                ),
            )),
            Err(_) => {
                tracing::error!(provider = %self.info.name, operation = %op, store_id,
                    timeout = ?self.call_timeout, "provider call timed out");
                Err(self.err(
                    op,
                    store_id,
                    super::abandoned(op.is_write(), self.call_timeout),
                ))
            }
        }
    }
}

#[async_trait]
impl StateStore for ProviderStore {
    fn info(&self) -> &StoreInfo {
        &self.info
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }

    fn get<'a>(&'a self, store_id: &'a str, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        // The provider writes the value into a buffer this side allocated,
        // so `into_vec` takes it over without another copy.
        let op = Operation::Get;
        if self.inline(op) {
            let mut out = RVec::new();
            let found = self.ffi.read_into(store_id.into(), key.into(), &mut out);
            let found = self.finish(op, store_id, found);
            return StoreFuture::ready(found.map(|found| found.then(|| out.into_vec())));
        }
        let (s, k) = (store_id.to_owned(), key.to_owned());
        StoreFuture::boxed(async move {
            let (found, out) = self
                .call(op, store_id, move |p| {
                    let mut out = RVec::new();
                    p.read_into(s.as_str().into(), k.as_str().into(), &mut out)
                        .map(|found| (found, out))
                })
                .await?;
            Ok(found.then(|| out.into_vec()))
        })
    }

    async fn get_entry(&self, store_id: &str, key: &str) -> StoreResult<Option<Entry>> {
        let op = Operation::GetEntry;
        let found = if self.inline(op) {
            self.finish(
                op,
                store_id,
                self.ffi.get_entry(store_id.into(), key.into()),
            )?
        } else {
            let (s, k) = (store_id.to_owned(), key.to_owned());
            self.call(op, store_id, move |p| {
                p.get_entry(s.as_str().into(), k.as_str().into())
            })
            .await?
        };
        Ok(found.into_option().map(entry))
    }

    fn write<'a>(
        &'a self,
        op: Operation,
        store_id: &'a str,
        ops: &'a [WriteOp<'a>],
    ) -> StoreFuture<'a, Written> {
        if self.caps.has(CapabilityFlags::INLINE_WRITES) {
            let answer = write_one(&self.ffi, store_id, ops);
            return StoreFuture::ready(self.finish(op, store_id, answer));
        }
        if let Some(group) = &self.group {
            return StoreFuture::boxed(async move {
                let answer = group.write(&self.ffi, store_id, ops).await;
                self.finish(op, store_id, answer)
            });
        }
        if self.caps.has(CapabilityFlags::LOCAL_IO) && on_multi_thread_runtime() {
            // Only local disk waits: run it here, handing this worker's
            // other tasks to another thread, without a copy or a thread hop.
            return StoreFuture::boxed(async move {
                let answer = tokio::task::block_in_place(|| write_one(&self.ffi, store_id, ops));
                self.finish(op, store_id, answer)
            });
        }
        let write = OwnedWrite::new(store_id, ops);
        StoreFuture::boxed(self.call(op, store_id, move |p| write.run(p)))
    }

    async fn contains_key(&self, store_id: &str, key: &str) -> StoreResult<bool> {
        let op = Operation::ContainsKey;
        if self.inline(op) {
            return self.finish(
                op,
                store_id,
                self.ffi.contains_key(store_id.into(), key.into()),
            );
        }
        let (s, k) = (store_id.to_owned(), key.to_owned());
        self.call(op, store_id, move |p| {
            p.contains_key(s.as_str().into(), k.as_str().into())
        })
        .await
    }

    async fn get_many(
        &self,
        store_id: &str,
        keys: &[&str],
    ) -> StoreResult<HashMap<String, Vec<u8>>> {
        let s = store_id.to_owned();
        let owned: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let (found, owned) = self
            .call(Operation::GetMany, store_id, move |p| {
                let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
                let keys = strs(&refs);
                p.get_many(s.as_str().into(), RSlice::from_slice(&keys))
                    .map(|found| (found, owned))
            })
            .await?;
        Ok(owned
            .into_iter()
            .zip(found)
            .filter_map(|(k, e)| e.into_option().map(|e| (k, e.value.into_vec())))
            .collect())
    }

    async fn expiries(&self, store_id: &str, keys: &[&str]) -> StoreResult<Vec<Option<u64>>> {
        let s = store_id.to_owned();
        let owned: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let found = self
            .call(Operation::Expiries, store_id, move |p| {
                let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
                p.expiries(s.as_str().into(), RSlice::from_slice(&strs(&refs)))
            })
            .await?;
        Ok(found
            .into_iter()
            .map(|at| (at != 0).then_some(at))
            .collect())
    }

    async fn list_keys(&self, store_id: &str) -> StoreResult<Vec<String>> {
        let s = store_id.to_owned();
        let keys = self
            .call(Operation::ListKeys, store_id, move |p| {
                p.list_keys(s.as_str().into())
            })
            .await?;
        Ok(keys.into_iter().map(RString::into_string).collect())
    }

    async fn store_exists(&self, store_id: &str) -> StoreResult<bool> {
        let s = store_id.to_owned();
        self.call(Operation::StoreExists, store_id, move |p| {
            p.store_exists(s.as_str().into())
        })
        .await
    }

    async fn key_count(&self, store_id: &str) -> StoreResult<u64> {
        let s = store_id.to_owned();
        self.call(Operation::KeyCount, store_id, move |p| {
            p.key_count(s.as_str().into())
        })
        .await
    }

    async fn sync(&self) -> StoreResult<()> {
        self.call(Operation::Sync, "", |p| p.sync()).await
    }

    async fn scan_rows(&self, store_id: &str, scan: &Scan) -> StoreResult<RowPage> {
        // The provider appends the page's rows to one buffer this side
        // allocated (one copy across the boundary, no allocation per row
        // there); the page keeps that buffer and lends the values out of it.
        let s = store_id.to_owned();
        let scan = scan.clone();
        let rows = scan.limit as usize;
        let (buffer, next) = self
            .call(Operation::Scan, store_id, move |p| {
                let wire = FfiScan {
                    prefix: scan.prefix.as_str().into(),
                    start: scan.start.as_deref().map(RStr::from_str).into(),
                    end: scan.end.as_deref().map(RStr::from_str).into(),
                    after: scan.after.as_deref().map(RStr::from_str).into(),
                    descending: scan.descending,
                    limit: scan.limit,
                };
                let mut out = RVec::new();
                p.scan_into(s.as_str().into(), wire, &mut out)
                    .map(|next| (out, next))
            })
            .await?;
        let buffer = buffer.into_vec();
        let mut page = RowPage::with_capacity(rows);
        let whole = visit_framed_rows(&buffer, |key, version, value| {
            page.push_key(key, version, value)
        });
        if !whole {
            return Err(StoreError::host(
                Operation::Scan,
                &self.info.name,
                store_id,
                ErrorKind::INTERNAL,
                "the provider returned a malformed scan page (a broken row frame, or a key \
                 that is not UTF-8): its stored data may be damaged; check it or restore \
                 from backup",
            ));
        }
        page.adopt_values(buffer);
        page.set_next(next.into_option().map(RString::into_string));
        Ok(page)
    }

    async fn list_stores(&self) -> StoreResult<Vec<String>> {
        let ids = self
            .call(Operation::ListStores, "", |p| p.list_stores())
            .await?;
        Ok(ids.into_iter().map(RString::into_string).collect())
    }

    async fn history(
        &self,
        store_id: &str,
        key: &str,
        limit: u32,
    ) -> StoreResult<Vec<HistoryEntry>> {
        let (s, k) = (store_id.to_owned(), key.to_owned());
        let found = self
            .call(Operation::History, store_id, move |p| {
                p.history(s.as_str().into(), k.as_str().into(), limit)
            })
            .await?;
        Ok(found
            .into_iter()
            .map(|h| HistoryEntry {
                version: h.version,
                value: h.value.into_option().map(|v| v.into_vec()),
            })
            .collect())
    }

    async fn get_version(
        &self,
        store_id: &str,
        key: &str,
        version: u64,
    ) -> StoreResult<Option<Entry>> {
        let (s, k) = (store_id.to_owned(), key.to_owned());
        let found = self
            .call(Operation::GetVersion, store_id, move |p| {
                p.get_version(s.as_str().into(), k.as_str().into(), version)
            })
            .await?;
        Ok(found.into_option().map(entry))
    }

    async fn change_head(&self) -> StoreResult<u64> {
        self.call(Operation::ChangeHead, "", |p| p.change_head())
            .await
    }

    async fn wait_changes(
        &self,
        after: u64,
        limit: u32,
        timeout: std::time::Duration,
    ) -> StoreResult<ChangePage> {
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let page = if timeout_ms == 0 {
            // Nothing to wait for: a read like any other.
            self.call(Operation::WaitChanges, "", move |p| {
                p.wait_changes(after, limit, 0)
            })
            .await?
        } else {
            let ffi = Arc::clone(&self.ffi);
            // Waiting blocks by design: always off the async workers.
            tokio::task::spawn_blocking(move || ffi.wait_changes(after, limit, timeout_ms))
                .await
                .map_err(|join| {
                    StoreError::host(
                        Operation::WaitChanges,
                        &self.info.name,
                        "",
                        ErrorKind::UNAVAILABLE,
                        format!("the blocking call did not complete: {join}"),
                    )
                })?
                .into_result()
                .map_err(|e| self.err(Operation::WaitChanges, "", e))?
        };
        let mut changes = Vec::with_capacity(page.changes.len());
        for c in page.changes {
            let Some(kind) = ChangeKind::from_wire(c.kind) else {
                return Err(StoreError::host(
                    Operation::WaitChanges,
                    &self.info.name,
                    c.store_id.as_str(),
                    ErrorKind::INTERNAL,
                    format!("the provider reported an unknown change kind {}", c.kind),
                ));
            };
            changes.push(ChangeRecord {
                store_id: c.store_id.into_string(),
                key: c.key.into_string(),
                kind,
                version: c.version,
            });
        }
        Ok(ChangePage {
            changes,
            cursor: page.cursor,
        })
    }
}
