//! What crosses the ABI boundary: `#[repr(C)]` types, the provider trait
//! object, and the root module a provider library exports.
//!
//! # Evolution rules
//!
//! - The interface version is this crate's version. The host checks it when
//!   it loads a library: a library built against an older minor version
//!   (0.x) or another major version is refused with both versions named, so
//!   providers are rebuilt when the host moves to a newer interface. A library
//!   built against a *newer* minor version loads in an older host, which
//!   simply does not call what it does not know.
//! - The minor version is bumped exactly when the interface grows.
//! - [`FfiProvider`] and [`ProviderModule`] grow only by appending after the
//!   member marked `#[sabi(last_prefix_field)]` (abi_stable prefix types).
//!   Appended trait methods have default bodies that answer `UNSUPPORTED`,
//!   and the `Provider` trait gets a default too, so existing provider code
//!   compiles unchanged against the new version.
//! - New error kinds, capability flags, change kinds and transaction
//!   operation tags are new constants: their carriers are integers, and an
//!   undeclared capability is never called.
//! - No existing type changes shape. Anything else needs a new major version.

use std::ops::Range;

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

use crate::{Capabilities, ProviderError, ProviderInfo};

/// A result crossing the boundary.
pub type FfiResult<T> = RResult<T, ProviderError>;

/// An entry crossing the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FfiEntry {
    /// The value bytes.
    pub value: RVec<u8>,
    /// The value's version.
    pub version: u64,
}

/// A key, value and version crossing the boundary (a scan row).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FfiKeyEntry {
    /// The key.
    pub key: RString,
    /// The value bytes.
    pub value: RVec<u8>,
    /// The value's version.
    pub version: u64,
}

/// A borrowed key/value pair of a `set_many`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct FfiKeyValue<'a> {
    /// The key.
    pub key: RStr<'a>,
    /// The value.
    pub value: RSlice<'a, u8>,
}

/// [`FfiKeyWrite`] tag: `set`.
pub const KEY_SET: u8 = 0;
/// [`FfiKeyWrite`] tag: `delete`.
pub const KEY_DELETE: u8 = 1;
/// [`FfiKeyWrite`] tag: `compare_and_set` (`expected` in wire form).
pub const KEY_COMPARE_AND_SET: u8 = 2;
/// [`FfiKeyWrite`] tag: `compare_and_delete` (`expected` is the version).
pub const KEY_COMPARE_AND_DELETE: u8 = 3;

/// One single-key write of a `write_keys` group, borrowed from the host
/// (see [`crate::KeyWrite`]); fields a kind does not use are empty or 0.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct FfiKeyWrite<'a> {
    /// One of the `KEY_*` tags.
    pub kind: u8,
    /// The store.
    pub store_id: RStr<'a>,
    /// The key.
    pub key: RStr<'a>,
    /// The value of a set or compare-and-set.
    pub value: RSlice<'a, u8>,
    /// Compare-and-set: the expected version in wire form (0: absent);
    /// compare-and-delete: the version.
    pub expected: u64,
}

/// Transaction operation tag: put `value` under `key`.
pub const TXN_PUT: u8 = 0;
/// Transaction operation tag: delete `key`.
pub const TXN_DELETE: u8 = 1;
/// Transaction operation tag: check that `key` is at `expected` (0 = absent).
pub const TXN_CHECK: u8 = 2;

/// A borrowed transaction operation. `tag` is one of the `TXN_*` constants;
/// fields a tag does not use are empty.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct FfiTxnOp<'a> {
    /// Which operation.
    pub tag: u8,
    /// The key.
    pub key: RStr<'a>,
    /// The value of a put.
    pub value: RSlice<'a, u8>,
    /// The expected version of a check, 0 for "must be absent".
    pub expected: u64,
}

/// A borrowed scan request; see [`crate::ScanRef`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct FfiScan<'a> {
    /// Only keys starting with this.
    pub prefix: RStr<'a>,
    /// Inclusive lower bound.
    pub start: ROption<RStr<'a>>,
    /// Exclusive upper bound.
    pub end: ROption<RStr<'a>>,
    /// Resume strictly past this key.
    pub after: ROption<RStr<'a>>,
    /// Walk from the largest key down.
    pub descending: bool,
    /// Most entries in the page.
    pub limit: u32,
}

/// A scan page crossing the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FfiPage {
    /// The entries in walk order.
    pub entries: RVec<FfiKeyEntry>,
    /// The continuation, if more keys may follow.
    pub next: ROption<RString>,
}

/// A retained version crossing the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FfiHistoryEntry {
    /// The version.
    pub version: u64,
    /// The value, or none for a deletion.
    pub value: ROption<RVec<u8>>,
}

/// A change-feed record crossing the boundary; `kind` is
/// [`crate::ChangeKind::to_wire`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FfiChangeRecord {
    /// The store.
    pub store_id: RString,
    /// The key.
    pub key: RString,
    /// Created 0, updated 1, deleted 2.
    pub kind: u8,
    /// The revision of the write.
    pub version: u64,
}

/// A change-feed page crossing the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FfiChangePage {
    /// The changes, oldest first.
    pub changes: RVec<FfiChangeRecord>,
    /// Where to continue.
    pub cursor: u64,
}

/// The error a method missing from an older provider's vtable returns.
fn missing(method: &str) -> ProviderError {
    ProviderError::unsupported(format!(
        "this provider was built against an older provider-api without {method}"
    ))
}

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
    /// `out`, a buffer the host allocated, each framed by [`frame_row`];
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
}

/// Appends one scan row to a `scan_into` buffer:
/// `[key length u32 LE][key][version u64 LE][value length u32 LE][value]`.
/// `key` is the key's UTF-8 bytes; [`visit_framed_rows`] checks them.
pub fn frame_row(out: &mut RVec<u8>, key: &[u8], version: u64, value: &[u8]) {
    // Keys and values are far below 4 GiB: the limits refuse larger ones.
    out.extend_from_copy_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_copy_slice(key);
    out.extend_from_copy_slice(&version.to_le_bytes());
    out.extend_from_copy_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_copy_slice(value);
}

/// Walks the rows [`frame_row`] wrote, in order, giving each value as its
/// byte range in `buf` (so a caller can keep the buffer and lend values out
/// of it). Returns `false`, having visited the rows before the damage, if
/// the buffer is malformed (a frame cut short, or a key that is not UTF-8).
pub fn visit_framed_rows(buf: &[u8], mut visit: impl FnMut(&str, u64, Range<usize>)) -> bool {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<Range<usize>> {
        let end = at.checked_add(n).filter(|&end| end <= buf.len())?;
        let range = at..end;
        at = end;
        Some(range)
    };
    let mut row = || -> Option<(&str, u64, Range<usize>)> {
        let key_len = u32::from_le_bytes(buf[take(4)?].try_into().ok()?) as usize;
        let key = std::str::from_utf8(&buf[take(key_len)?]).ok()?;
        let version = u64::from_le_bytes(buf[take(8)?].try_into().ok()?);
        let value_len = u32::from_le_bytes(buf[take(4)?].try_into().ok()?) as usize;
        Some((key, version, take(value_len)?))
    };
    let mut remaining = !buf.is_empty();
    while remaining {
        let Some((key, version, value)) = row() else {
            return false;
        };
        remaining = value.end < buf.len();
        visit(key, version, value);
    }
    true
}

/// An owned, type-erased provider object.
pub type FfiProviderBox = FfiProvider_TO<'static, RBox<()>>;

/// Severity of a log record sent from a provider to the host.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogLevel(pub u8);

impl LogLevel {
    /// Errors.
    pub const ERROR: LogLevel = LogLevel(1);
    /// Warnings.
    pub const WARN: LogLevel = LogLevel(2);
    /// Information.
    pub const INFO: LogLevel = LogLevel(3);
    /// Debugging detail.
    pub const DEBUG: LogLevel = LogLevel(4);
    /// Very verbose detail.
    pub const TRACE: LogLevel = LogLevel(5);
}

/// The callback through which a provider library's `tracing` events reach
/// the host's subscriber. The host passes it when it opens a provider.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct HostLogger {
    /// The most verbose level the host wants; records above it are dropped in the provider.
    pub max_level: LogLevel,
    /// Receives one record: level, target (module path), message.
    pub log: extern "C" fn(level: LogLevel, target: RStr<'_>, message: RStr<'_>),
}

/// The root module a provider library exports: the one symbol the host looks up.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = ProviderModuleRef)))]
#[sabi(missing_field(panic))]
pub struct ProviderModule {
    /// Name and versions, without opening anything.
    pub info: extern "C" fn() -> ProviderInfo,
    /// What the provider declares in its default configuration.
    pub capabilities: extern "C" fn() -> Capabilities,
    /// Opens an instance from a JSON configuration. `logger` is `None` when
    /// the provider runs in the host's own process (it already shares the
    /// host's `tracing`).
    #[sabi(last_prefix_field)]
    pub open: extern "C" fn(
        config_json: RStr<'_>,
        logger: ROption<HostLogger>,
    ) -> RResult<FfiProviderBox, ProviderError>,
}

impl RootModule for ProviderModuleRef {
    declare_root_module_statics! {ProviderModuleRef}
    const BASE_NAME: &'static str = "stateplug_provider";
    const NAME: &'static str = "stateplug provider";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The interface version this crate defines (its package version).
pub const INTERFACE_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_rows_read_back_and_damage_is_detected() {
        let mut out = RVec::new();
        frame_row(&mut out, b"k/1", 7, b"value");
        frame_row(&mut out, b"", 8, b"");
        frame_row(&mut out, "ключ".as_bytes(), u64::MAX, &[0, 255]);
        let read = |buf: &[u8]| {
            let mut rows = Vec::new();
            let whole = visit_framed_rows(buf, |key, version, value| {
                rows.push((key.to_owned(), version, buf[value].to_vec()))
            });
            (whole, rows)
        };
        let (whole, rows) = read(&out);
        assert!(whole);
        assert_eq!(
            rows,
            vec![
                ("k/1".to_owned(), 7, b"value".to_vec()),
                (String::new(), 8, vec![]),
                ("ключ".to_owned(), u64::MAX, vec![0u8, 255])
            ]
        );
        let (whole, rows) = read(&out[..out.len() - 1]);
        assert!(!whole, "a truncated buffer is refused");
        assert_eq!(rows.len(), 2, "rows before the damage were visited");
        assert_eq!(read(&[]), (true, vec![]));
        assert!(
            !read(&[1, 0, 0, 0, 0xff]).0,
            "a key that is not UTF-8 is refused"
        );
    }
}
