//! The two growing types of interface 0.1.1 exactly as released, to check
//! a library built against it before viewing its module as this version's
//! (see [`super::frozen_0_1`] for why that is sound). Interface 0.1.2
//! appended `open_with_clock` to the module and `expiries` to the provider
//! object.
#![allow(missing_docs)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

use super::{
    missing, FfiChangePage, FfiEntry, FfiHistoryEntry, FfiKeyValue, FfiKeyWrite, FfiOpen, FfiPage,
    FfiResult, FfiScan, FfiTxnOp, FfiWriteUnit, HostLogger,
};
use crate::{Capabilities, ProviderError, ProviderInfo};

/// The provider object the host drives. Generated for you by
/// [`export_provider!`](crate::export_provider) from a [`crate::Provider`];
/// see that trait for each method's contract.
#[sabi_trait]
pub trait FfiProvider: Send + Sync {
    /// Name and versions.
    fn info(&self) -> ProviderInfo;
    /// Declared capabilities of this instance.
    fn capabilities(&self) -> Capabilities;
    /// See [`crate::Provider::get`].
    fn get(&self, store_id: RStr<'_>, key: RStr<'_>) -> FfiResult<ROption<RVec<u8>>>;
    /// See [`crate::Provider::get_entry`].
    fn get_entry(&self, store_id: RStr<'_>, key: RStr<'_>) -> FfiResult<ROption<FfiEntry>>;
    /// See [`crate::Provider::set`].
    fn set(&self, store_id: RStr<'_>, key: RStr<'_>, value: RSlice<'_, u8>) -> FfiResult<u64>;
    /// See [`crate::Provider::delete`].
    fn delete(&self, store_id: RStr<'_>, key: RStr<'_>) -> FfiResult<bool>;
    /// See [`crate::Provider::contains_key`].
    fn contains_key(&self, store_id: RStr<'_>, key: RStr<'_>) -> FfiResult<bool>;
    /// See [`crate::Provider::get_many`].
    fn get_many(
        &self,
        store_id: RStr<'_>,
        keys: RSlice<'_, RStr<'_>>,
    ) -> FfiResult<RVec<ROption<FfiEntry>>>;
    /// See [`crate::Provider::set_many`].
    fn set_many(&self, store_id: RStr<'_>, entries: RSlice<'_, FfiKeyValue<'_>>) -> FfiResult<u64>;
    /// See [`crate::Provider::delete_many`].
    fn delete_many(&self, store_id: RStr<'_>, keys: RSlice<'_, RStr<'_>>) -> FfiResult<u64>;
    /// See [`crate::Provider::clear_store`].
    fn clear_store(&self, store_id: RStr<'_>) -> FfiResult<u64>;
    /// See [`crate::Provider::list_keys`].
    fn list_keys(&self, store_id: RStr<'_>) -> FfiResult<RVec<RString>>;
    /// See [`crate::Provider::store_exists`].
    fn store_exists(&self, store_id: RStr<'_>) -> FfiResult<bool>;
    /// See [`crate::Provider::key_count`].
    fn key_count(&self, store_id: RStr<'_>) -> FfiResult<u64>;
    /// See [`crate::Provider::sync`].
    fn sync(&self) -> FfiResult<()>;
    /// See [`crate::Provider::compare_and_set`]; `expected` 0 means absent.
    fn compare_and_set(
        &self,
        store_id: RStr<'_>,
        key: RStr<'_>,
        expected: u64,
        value: RSlice<'_, u8>,
    ) -> FfiResult<u64>;
    /// See [`crate::Provider::compare_and_delete`].
    fn compare_and_delete(&self, store_id: RStr<'_>, key: RStr<'_>, version: u64) -> FfiResult<()>;
    /// See [`crate::Provider::transaction`].
    fn transaction(&self, store_id: RStr<'_>, ops: RSlice<'_, FfiTxnOp<'_>>) -> FfiResult<u64>;
    /// See [`crate::Provider::scan`].
    fn scan(&self, store_id: RStr<'_>, scan: FfiScan<'_>) -> FfiResult<FfiPage>;
    /// See [`crate::Provider::list_stores`].
    #[sabi(last_prefix_field)]
    fn list_stores(&self) -> FfiResult<RVec<RString>>;

    // Appended after the prefix: a provider built before these existed
    // answers with the default bodies (UNSUPPORTED).

    /// See [`crate::Provider::history`].
    fn history(
        &self,
        store_id: RStr<'_>,
        key: RStr<'_>,
        limit: u32,
    ) -> FfiResult<RVec<FfiHistoryEntry>> {
        let _ = (store_id, key, limit);
        RResult::RErr(missing("history"))
    }
    /// See [`crate::Provider::get_version`].
    fn get_version(
        &self,
        store_id: RStr<'_>,
        key: RStr<'_>,
        version: u64,
    ) -> FfiResult<ROption<FfiEntry>> {
        let _ = (store_id, key, version);
        RResult::RErr(missing("get_version"))
    }
    /// See [`crate::Provider::change_head`].
    fn change_head(&self) -> FfiResult<u64> {
        RResult::RErr(missing("change_head"))
    }
    /// See [`crate::Provider::wait_changes`].
    fn wait_changes(&self, after: u64, limit: u32, timeout_ms: u32) -> FfiResult<FfiChangePage> {
        let _ = (after, limit, timeout_ms);
        RResult::RErr(missing("wait_changes"))
    }
    /// See [`crate::Provider::read`]: the value of `key` is written into
    /// `out`, a buffer the host allocated, so it crosses the boundary with
    /// one copy. Returns whether the key exists.
    fn read_into(&self, store_id: RStr<'_>, key: RStr<'_>, out: &mut RVec<u8>) -> FfiResult<bool> {
        let _ = (store_id, key, out);
        RResult::RErr(missing("read_into"))
    }
    /// See [`crate::Provider::scan_visit_bytes`]: the page's rows are appended to
    /// `out`, a buffer the host allocated, each framed by [`super::frame_row`];
    /// returns the continuation.
    fn scan_into(
        &self,
        store_id: RStr<'_>,
        scan: FfiScan<'_>,
        out: &mut RVec<u8>,
    ) -> FfiResult<ROption<RString>> {
        let _ = (store_id, scan, out);
        RResult::RErr(missing("scan_into"))
    }
    /// See [`crate::Provider::write_keys`]: one answer per call, in order,
    /// appended to `out` (a buffer the host allocated). An error of the
    /// whole call (a panic) fails every call of the group.
    fn write_keys(
        &self,
        calls: RSlice<'_, FfiKeyWrite<'_>>,
        out: &mut RVec<FfiResult<u64>>,
    ) -> FfiResult<()> {
        let _ = (calls, out);
        RResult::RErr(missing("write_keys"))
    }

    // Appended in provider-api 0.2.

    /// The one write form (see [`crate::Provider::write`] and
    /// [`crate::Provider::write_group`]): each unit is one atomic write;
    /// units of one call are independent writes committed together. One
    /// answer per unit is appended to `answers` (its revision, or why it
    /// failed), and every key each unit changed is appended to `changes`,
    /// framed by [`super::frame_change`]. An error of the whole call (a panic)
    /// fails every unit.
    ///
    /// A library built against 0.1 lacks this method: the host then runs
    /// this default, which carries the write out through the 0.1 methods.
    fn write(
        &self,
        units: RSlice<'_, FfiWriteUnit<'_>>,
        changes: &mut RVec<u8>,
        answers: &mut RVec<FfiResult<u64>>,
    ) -> FfiResult<()> {
        // Only the layout of this copy is used (to check libraries built
        // against 0.1.1); it is never called.
        let _ = (units, changes, answers);
        RResult::RErr(missing("write"))
    }
}

/// An owned, type-erased provider object.
pub type FfiProviderBox = FfiProvider_TO<'static, RBox<()>>;

/// The root module a provider library exports: the one symbol the host looks up.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = ProviderModuleRef)))]
#[sabi(missing_field(panic))]
pub struct ProviderModule {
    pub info: extern "C" fn() -> ProviderInfo,
    pub capabilities: extern "C" fn() -> Capabilities,
    #[sabi(last_prefix_field)]
    pub open: extern "C" fn(
        config_json: RStr<'_>,
        logger: ROption<HostLogger>,
    ) -> RResult<FfiProviderBox, ProviderError>,
    #[sabi(missing_field(option))]
    pub open_with: extern "C" fn(
        config_json: RStr<'_>,
        host: FfiOpen,
    ) -> RResult<FfiProviderBox, ProviderError>,
}

impl RootModule for ProviderModuleRef {
    declare_root_module_statics! {ProviderModuleRef}
    const BASE_NAME: &'static str = "stateplug_provider";
    const NAME: &'static str = "stateplug provider";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
