//! The adapter between a plain [`Provider`] and the ABI, and the root module
//! that [`export_provider!`](crate::export_provider) exports.
//!
//! Every entry point runs inside `catch_unwind`: a provider panic becomes an
//! error of kind `PANIC` and never unwinds into the host. Input is checked
//! against the declared limits and capabilities before the provider sees it.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::{
    library::{CheckTypeLayout, LibHeader, RootModuleResult},
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RErr, ROk, ROption, RResult, RSlice, RStr, RString, RVec},
};

use crate::{
    ffi::{
        frame_row, FfiChangePage, FfiChangeRecord, FfiEntry, FfiHistoryEntry, FfiKeyEntry,
        FfiKeyValue, FfiKeyWrite, FfiPage, FfiProvider, FfiProviderBox, FfiProvider_TO, FfiResult,
        FfiScan, FfiTxnOp, HostLogger, ProviderModule, ProviderModuleRef, INTERFACE_VERSION,
        KEY_COMPARE_AND_DELETE, KEY_COMPARE_AND_SET, KEY_DELETE, KEY_SET, TXN_CHECK, TXN_DELETE,
        TXN_PUT,
    },
    log_bridge, Capabilities, CapabilityFlags, Entry, Expected, KeyWrite, Provider, ProviderError,
    ProviderInfo, ProviderResult, ScanRef, TxnOpRef,
};

/// Ties a provider type to the version of the crate that exports it.
/// Implemented by the type [`export_provider!`](crate::export_provider) generates.
pub trait Export: 'static {
    /// The provider type.
    type Provider: Provider;
    /// The exporting crate's version.
    const VERSION: &'static str;
}

/// Runs `f`, turning a panic into a `PANIC` error.
fn guard<T>(f: impl FnOnce() -> ProviderResult<T>) -> FfiResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => ROk(v),
        Ok(Err(e)) => RErr(e),
        Err(payload) => RErr(ProviderError::from_panic(&*payload)),
    }
}

/// The plain form of one call of a `write_keys` group.
fn key_write<'a>(call: &FfiKeyWrite<'a>) -> ProviderResult<KeyWrite<'a>> {
    let (store_id, key) = (call.store_id.as_str(), call.key.as_str());
    Ok(match call.kind {
        KEY_SET => KeyWrite::Set {
            store_id,
            key,
            value: call.value.as_slice(),
        },
        KEY_DELETE => KeyWrite::Delete { store_id, key },
        KEY_COMPARE_AND_SET => KeyWrite::CompareAndSet {
            store_id,
            key,
            expected: Expected::from_wire(call.expected),
            value: call.value.as_slice(),
        },
        KEY_COMPARE_AND_DELETE => KeyWrite::CompareAndDelete {
            store_id,
            key,
            version: call.expected,
        },
        other => {
            return Err(ProviderError::invalid_argument(format!(
                "unknown write kind {other} in a write_keys group; the host is newer than \
                 this provider's interface"
            )))
        }
    })
}

fn scan_ref<'a>(scan: &FfiScan<'a>) -> ScanRef<'a> {
    ScanRef {
        prefix: scan.prefix.as_str(),
        start: scan.start.map(|s| s.as_str()).into_option(),
        end: scan.end.map(|s| s.as_str()).into_option(),
        after: scan.after.map(|s| s.as_str()).into_option(),
        descending: scan.descending,
        limit: scan.limit,
    }
}

fn to_ffi_entry(e: Entry) -> FfiEntry {
    FfiEntry {
        value: e.value.into(),
        version: e.version,
    }
}

/// A [`Provider`] seen through the ABI: checks, panic guard, type conversion.
struct Exported<P: Provider> {
    inner: P,
    caps: Capabilities,
    info: ProviderInfo,
}

impl<P: Provider> Exported<P> {
    fn require(&self, flag: CapabilityFlags, operation: &str) -> ProviderResult<()> {
        if self.caps.has(flag) {
            return Ok(());
        }
        Err(ProviderError::unsupported(format!(
            "provider {} does not declare the capability needed by {operation}; \
             check `capabilities()` before calling it",
            P::NAME
        )))
    }

    fn check(&self, store_id: &str, key: &str) -> ProviderResult<()> {
        self.caps.limits.check_store_id(store_id)?;
        self.caps.limits.check_key(key)
    }

    /// The checks a single-key write passes before the provider sees it,
    /// whether it comes alone or in a `write_keys` group.
    fn admit(&self, call: &KeyWrite<'_>) -> ProviderResult<()> {
        match call {
            KeyWrite::CompareAndSet { .. } => {
                self.require(CapabilityFlags::COMPARE_AND_SET, "compare_and_set")?
            }
            KeyWrite::CompareAndDelete { .. } => {
                self.require(CapabilityFlags::COMPARE_AND_SET, "compare_and_delete")?
            }
            KeyWrite::Set { .. } | KeyWrite::Delete { .. } => {}
        }
        self.check(call.store_id(), call.key())?;
        if let KeyWrite::Set { key, value, .. } | KeyWrite::CompareAndSet { key, value, .. } = call
        {
            self.caps.limits.check_value(key, value)?;
        }
        Ok(())
    }

    fn check_keys<'k>(&self, store_id: &str, keys: &[RStr<'k>]) -> ProviderResult<Vec<&'k str>> {
        self.caps.limits.check_store_id(store_id)?;
        self.caps.limits.check_batch(keys.len())?;
        keys.iter()
            .map(|k| {
                self.caps.limits.check_key(k.as_str())?;
                Ok(k.as_str())
            })
            .collect()
    }
}

impl<P: Provider> FfiProvider for Exported<P> {
    fn info(&self) -> ProviderInfo {
        self.info.clone()
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn get(&self, store_id: RStr<'_>, key: RStr<'_>) -> FfiResult<ROption<RVec<u8>>> {
        guard(|| {
            self.check(&store_id, &key)?;
            Ok(self.inner.get(&store_id, &key)?.map(RVec::from).into())
        })
    }

    fn get_entry(&self, store_id: RStr<'_>, key: RStr<'_>) -> FfiResult<ROption<FfiEntry>> {
        guard(|| {
            self.check(&store_id, &key)?;
            Ok(self
                .inner
                .get_entry(&store_id, &key)?
                .map(to_ffi_entry)
                .into())
        })
    }

    fn set(&self, store_id: RStr<'_>, key: RStr<'_>, value: RSlice<'_, u8>) -> FfiResult<u64> {
        guard(|| {
            let (store_id, key, value) = (store_id.as_str(), key.as_str(), value.as_slice());
            self.admit(&KeyWrite::Set {
                store_id,
                key,
                value,
            })?;
            self.inner.set(store_id, key, value)
        })
    }

    fn delete(&self, store_id: RStr<'_>, key: RStr<'_>) -> FfiResult<bool> {
        guard(|| {
            let (store_id, key) = (store_id.as_str(), key.as_str());
            self.admit(&KeyWrite::Delete { store_id, key })?;
            self.inner.delete(store_id, key)
        })
    }

    fn contains_key(&self, store_id: RStr<'_>, key: RStr<'_>) -> FfiResult<bool> {
        guard(|| {
            self.check(&store_id, &key)?;
            self.inner.contains_key(&store_id, &key)
        })
    }

    fn get_many(
        &self,
        store_id: RStr<'_>,
        keys: RSlice<'_, RStr<'_>>,
    ) -> FfiResult<RVec<ROption<FfiEntry>>> {
        guard(|| {
            let keys = self.check_keys(&store_id, &keys)?;
            let found = self.inner.get_many(&store_id, &keys)?;
            if found.len() != keys.len() {
                return Err(ProviderError::internal(format!(
                    "provider {} answered get_many of {} keys with {} results",
                    P::NAME,
                    keys.len(),
                    found.len()
                )));
            }
            Ok(found
                .into_iter()
                .map(|e| e.map(to_ffi_entry).into())
                .collect())
        })
    }

    fn set_many(&self, store_id: RStr<'_>, entries: RSlice<'_, FfiKeyValue<'_>>) -> FfiResult<u64> {
        guard(|| {
            self.caps.limits.check_store_id(&store_id)?;
            self.caps.limits.check_batch(entries.len())?;
            let mut pairs = Vec::with_capacity(entries.len());
            for kv in entries.iter() {
                self.caps.limits.check_key(kv.key.as_str())?;
                self.caps
                    .limits
                    .check_value(kv.key.as_str(), kv.value.as_slice())?;
                pairs.push((kv.key.as_str(), kv.value.as_slice()));
            }
            self.inner.set_many(&store_id, &pairs)
        })
    }

    fn delete_many(&self, store_id: RStr<'_>, keys: RSlice<'_, RStr<'_>>) -> FfiResult<u64> {
        guard(|| {
            let keys = self.check_keys(&store_id, &keys)?;
            self.inner.delete_many(&store_id, &keys)
        })
    }

    fn clear_store(&self, store_id: RStr<'_>) -> FfiResult<u64> {
        guard(|| {
            self.caps.limits.check_store_id(&store_id)?;
            self.inner.clear_store(&store_id)
        })
    }

    fn list_keys(&self, store_id: RStr<'_>) -> FfiResult<RVec<RString>> {
        guard(|| {
            self.caps.limits.check_store_id(&store_id)?;
            Ok(self
                .inner
                .list_keys(&store_id)?
                .into_iter()
                .map(RString::from)
                .collect())
        })
    }

    fn store_exists(&self, store_id: RStr<'_>) -> FfiResult<bool> {
        guard(|| {
            self.caps.limits.check_store_id(&store_id)?;
            self.inner.store_exists(&store_id)
        })
    }

    fn key_count(&self, store_id: RStr<'_>) -> FfiResult<u64> {
        guard(|| {
            self.caps.limits.check_store_id(&store_id)?;
            self.inner.key_count(&store_id)
        })
    }

    fn sync(&self) -> FfiResult<()> {
        guard(|| self.inner.sync())
    }

    fn compare_and_set(
        &self,
        store_id: RStr<'_>,
        key: RStr<'_>,
        expected: u64,
        value: RSlice<'_, u8>,
    ) -> FfiResult<u64> {
        guard(|| {
            let (store_id, key, value) = (store_id.as_str(), key.as_str(), value.as_slice());
            let expected = Expected::from_wire(expected);
            self.admit(&KeyWrite::CompareAndSet {
                store_id,
                key,
                expected,
                value,
            })?;
            self.inner.compare_and_set(store_id, key, expected, value)
        })
    }

    fn compare_and_delete(&self, store_id: RStr<'_>, key: RStr<'_>, version: u64) -> FfiResult<()> {
        guard(|| {
            let (store_id, key) = (store_id.as_str(), key.as_str());
            self.admit(&KeyWrite::CompareAndDelete {
                store_id,
                key,
                version,
            })?;
            self.inner.compare_and_delete(store_id, key, version)
        })
    }

    fn transaction(&self, store_id: RStr<'_>, ops: RSlice<'_, FfiTxnOp<'_>>) -> FfiResult<u64> {
        guard(|| {
            self.require(CapabilityFlags::TRANSACTIONS, "transaction")?;
            self.caps.limits.check_store_id(&store_id)?;
            self.caps.limits.check_batch(ops.len())?;
            let mut plain = Vec::with_capacity(ops.len());
            for op in ops.iter() {
                let key = op.key.as_str();
                self.caps.limits.check_key(key)?;
                plain.push(match op.tag {
                    TXN_PUT => {
                        self.caps.limits.check_value(key, op.value.as_slice())?;
                        TxnOpRef::Put { key, value: op.value.as_slice() }
                    }
                    TXN_DELETE => TxnOpRef::Delete { key },
                    TXN_CHECK => TxnOpRef::Check { key, expected: Expected::from_wire(op.expected) },
                    tag => {
                        return Err(ProviderError::unsupported(format!(
                            "transaction operation tag {tag} is unknown to provider {} (interface {}); \
                             rebuild the provider against the host's provider-api",
                            P::NAME,
                            INTERFACE_VERSION
                        )))
                    }
                });
            }
            self.inner.transaction(&store_id, &plain)
        })
    }

    fn scan(&self, store_id: RStr<'_>, scan: FfiScan<'_>) -> FfiResult<FfiPage> {
        guard(|| {
            self.require(CapabilityFlags::ORDERED_SCANS, "scan")?;
            self.caps.limits.check_store_id(&store_id)?;
            self.caps.limits.check_scan_limit(scan.limit)?;
            let request = scan_ref(&scan);
            let page = self.inner.scan(&store_id, request)?;
            Ok(FfiPage {
                entries: page
                    .entries
                    .into_iter()
                    .map(|e| FfiKeyEntry {
                        key: e.key.into(),
                        value: e.value.into(),
                        version: e.version,
                    })
                    .collect(),
                next: page.next.map(RString::from).into(),
            })
        })
    }

    fn history(
        &self,
        store_id: RStr<'_>,
        key: RStr<'_>,
        limit: u32,
    ) -> FfiResult<RVec<FfiHistoryEntry>> {
        guard(|| {
            self.require(CapabilityFlags::HISTORY, "history")?;
            self.check(&store_id, &key)?;
            Ok(self
                .inner
                .history(&store_id, &key, limit)?
                .into_iter()
                .map(|h| FfiHistoryEntry {
                    version: h.version,
                    value: h.value.map(RVec::from).into(),
                })
                .collect())
        })
    }

    fn get_version(
        &self,
        store_id: RStr<'_>,
        key: RStr<'_>,
        version: u64,
    ) -> FfiResult<ROption<FfiEntry>> {
        guard(|| {
            self.require(CapabilityFlags::HISTORY, "get_version")?;
            self.check(&store_id, &key)?;
            Ok(self
                .inner
                .get_version(&store_id, &key, version)?
                .map(to_ffi_entry)
                .into())
        })
    }

    fn change_head(&self) -> FfiResult<u64> {
        guard(|| {
            self.require(CapabilityFlags::CHANGE_FEED, "change_head")?;
            self.inner.change_head()
        })
    }

    fn wait_changes(&self, after: u64, limit: u32, timeout_ms: u32) -> FfiResult<FfiChangePage> {
        guard(|| {
            self.require(CapabilityFlags::CHANGE_FEED, "wait_changes")?;
            self.caps.limits.check_scan_limit(limit)?;
            let page = self.inner.wait_changes(after, limit, timeout_ms)?;
            Ok(FfiChangePage {
                changes: page
                    .changes
                    .into_iter()
                    .map(|c| FfiChangeRecord {
                        store_id: c.store_id.into(),
                        key: c.key.into(),
                        kind: c.kind.to_wire(),
                        version: c.version,
                    })
                    .collect(),
                cursor: page.cursor,
            })
        })
    }

    fn read_into(&self, store_id: RStr<'_>, key: RStr<'_>, out: &mut RVec<u8>) -> FfiResult<bool> {
        guard(|| {
            self.check(&store_id, &key)?;
            self.inner.read(&store_id, &key, &mut |bytes| {
                out.clear();
                out.extend_from_copy_slice(bytes);
            })
        })
    }

    fn write_keys(
        &self,
        calls: RSlice<'_, FfiKeyWrite<'_>>,
        out: &mut RVec<FfiResult<u64>>,
    ) -> FfiResult<()> {
        guard(|| {
            // Calls that fail the checks are answered here; the others go to
            // the provider as one group, and their answers fill the gaps.
            let mut admitted = Vec::with_capacity(calls.len());
            let mut refused = Vec::with_capacity(calls.len());
            for call in calls.iter() {
                match key_write(call).and_then(|c| self.admit(&c).map(|()| c)) {
                    Ok(call) => {
                        admitted.push(call);
                        refused.push(None);
                    }
                    Err(err) => refused.push(Some(err)),
                }
            }
            let mut answers = self.inner.write_keys(&admitted).into_iter();
            out.clear();
            for refusal in refused {
                let answer = match refusal {
                    Some(err) => Err(err),
                    None => answers.next().unwrap_or_else(|| {
                        Err(ProviderError::internal(
                            "write_keys answered fewer calls than it was given",
                        ))
                    }),
                };
                out.push(answer.into());
            }
            Ok(())
        })
    }

    fn scan_into(
        &self,
        store_id: RStr<'_>,
        scan: FfiScan<'_>,
        out: &mut RVec<u8>,
    ) -> FfiResult<ROption<RString>> {
        guard(|| {
            self.require(CapabilityFlags::ORDERED_SCANS, "scan")?;
            self.caps.limits.check_store_id(&store_id)?;
            self.caps.limits.check_scan_limit(scan.limit)?;
            let request = scan_ref(&scan);
            out.clear();
            let next =
                self.inner
                    .scan_visit_bytes(&store_id, request, &mut |key, version, value| {
                        frame_row(out, key, version, value)
                    })?;
            Ok(next.map(RString::from).into())
        })
    }

    fn list_stores(&self) -> FfiResult<RVec<RString>> {
        guard(|| {
            self.require(CapabilityFlags::LIST_STORES, "list_stores")?;
            Ok(self
                .inner
                .list_stores()?
                .into_iter()
                .map(RString::from)
                .collect())
        })
    }
}

fn info_of<P: Provider>(version: &str) -> ProviderInfo {
    ProviderInfo {
        name: P::NAME.into(),
        version: version.into(),
        interface_version: INTERFACE_VERSION.into(),
    }
}

/// Wraps an opened provider for use in the host's own process, through the
/// same adapter a loaded library uses (checks, panic guard, conversions).
pub fn in_process<P: Provider>(provider: P, version: &str) -> FfiProviderBox {
    let caps = provider.capabilities();
    FfiProvider_TO::from_value(
        Exported {
            inner: provider,
            caps,
            info: info_of::<P>(version),
        },
        TD_Opaque,
    )
}

/// Opens `P` from JSON behind the panic guard, as the root module's `open` does.
pub fn open_in_process<P: Provider>(
    config_json: &str,
    version: &str,
) -> ProviderResult<FfiProviderBox> {
    guard(|| P::open(config_json))
        .into_result()
        .map(|p| in_process(p, version))
}

extern "C" fn module_info<E: Export>() -> ProviderInfo {
    info_of::<E::Provider>(E::VERSION)
}

extern "C" fn module_capabilities<E: Export>() -> Capabilities {
    E::Provider::CAPABILITIES
}

extern "C" fn module_open<E: Export>(
    config_json: RStr<'_>,
    logger: ROption<HostLogger>,
) -> RResult<FfiProviderBox, ProviderError> {
    if let ROption::RSome(logger) = logger {
        log_bridge::install(logger);
    }
    open_in_process::<E::Provider>(config_json.as_str(), E::VERSION).into()
}

/// Builds the root module of an exported provider.
pub fn root_module<E: Export>() -> ProviderModuleRef {
    ProviderModule {
        info: module_info::<E>,
        capabilities: module_capabilities::<E>,
        open: module_open::<E>,
    }
    .leak_into_prefix()
}

extern "C" fn erased_root_module<E: Export>() -> RootModuleResult {
    abi_stable::library::__call_root_module_loader(root_module::<E>)
}

/// The library header [`export_provider!`](crate::export_provider) exports
/// under abi_stable's root-module symbol.
pub const fn lib_header<E: Export>() -> LibHeader {
    // SAFETY: `erased_root_module::<E>` returns the `ProviderModuleRef` built
    // by `root_module::<E>`, erased by abi_stable's own loader helper, which
    // is what `from_constructor::<ProviderModuleRef>` requires.
    unsafe {
        LibHeader::from_constructor::<ProviderModuleRef>(
            erased_root_module::<E>,
            CheckTypeLayout::Yes,
        )
    }
}

/// Exports a [`Provider`] from a `cdylib` crate: the one line a provider author writes.
///
/// ```ignore
/// stateplug_provider_api::export_provider!(MyProvider);
/// ```
///
/// It generates the library's root module (name, version, capabilities and
/// `open`), the ABI adapter with a `catch_unwind` around every entry point,
/// and the bridge that sends the provider's `tracing` events to the host.
/// Use it once per library.
#[macro_export]
macro_rules! export_provider {
    ($provider:ty) => {
        #[doc(hidden)]
        pub struct __StateplugExport;

        impl $crate::export::Export for __StateplugExport {
            type Provider = $provider;
            const VERSION: &'static str = env!("CARGO_PKG_VERSION");
        }

        /// The abi_stable root-module symbol the host looks up.
        #[doc(hidden)]
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader =
            $crate::export::lib_header::<__StateplugExport>();

        /// Opens this crate's provider in the host's own process, through the
        /// same adapter the loaded library uses.
        pub fn open_in_process(
            config_json: &str,
        ) -> ::std::result::Result<$crate::ffi::FfiProviderBox, $crate::ProviderError> {
            $crate::export::open_in_process::<$provider>(config_json, env!("CARGO_PKG_VERSION"))
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_exported_symbol_is_the_one_abi_stable_looks_up() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
