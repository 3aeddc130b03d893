//! What crosses the ABI boundary: `#[repr(C)]` types, the provider trait
//! object, and the root module a provider library exports. The host's side:
//! a provider author does not use these.
//!
//! # Evolution rules
//!
//! (`CHANGELOG.md` records each addition.)
//!
//! - The interface version is this crate's version, read as cargo reads
//!   versions: below 1.0, `0.LINE.MINOR`. A host loads a library of its own
//!   line whatever its minor: an older one (its module is checked against the
//!   frozen shape of its version, see [`frozen_0_1`]; what it lacks answers
//!   `UNSUPPORTED`), or a newer one (the host never calls what it does not
//!   know). Another line is refused with both versions named.
//! - The minor version is bumped exactly when the interface grows, and the
//!   growing types of the previous version are frozen beside this module.
//! - [`FfiProvider`] and [`ProviderModule`] grow only by appending after the
//!   member marked `#[sabi(last_prefix_field)]` (abi_stable prefix types).
//!   Appended trait methods have default bodies that answer `UNSUPPORTED`,
//!   and the `Provider` trait gets a default too, so existing provider code
//!   compiles unchanged against the new version.
//! - New error kinds, capability flags, change kinds and transaction
//!   operation tags are new constants: their carriers are integers, and an
//!   undeclared capability is never called.
//! - No existing type changes shape. Anything else needs a new major version.

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

use crate::{Capabilities, Expected, ProviderError, ProviderInfo, ProviderResult, WriteOp};

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

/// [`FfiWriteOp`] tag: put `value` under `key`.
pub const WRITE_PUT: u8 = 0;
/// [`FfiWriteOp`] tag: delete `key`.
pub const WRITE_DELETE: u8 = 1;
/// [`FfiWriteOp`] tag: check that `key` is absent.
pub const WRITE_CHECK_ABSENT: u8 = 2;
/// [`FfiWriteOp`] tag: check that `key` is at version `arg`.
pub const WRITE_CHECK_VERSION: u8 = 3;
/// [`FfiWriteOp`] tag: remove every key of the store.
pub const WRITE_CLEAR: u8 = 4;
/// [`FfiWriteOp`] tag: put `value` under `key`, to expire at `arg` (unix
/// milliseconds); see [`crate::WriteOp::PutExpiring`].
pub const WRITE_PUT_EXPIRING: u8 = 5;

/// One operation of a write, borrowed from the host (see
/// [`crate::WriteOp`]); `tag` is one of the `WRITE_*` constants, and fields
/// a tag does not use are empty or 0. A tag the provider's interface does
/// not know is refused with `UNSUPPORTED`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct FfiWriteOp<'a> {
    /// Which operation.
    pub tag: u8,
    /// The key (empty for a clear).
    pub key: RStr<'a>,
    /// The value of a put.
    pub value: RSlice<'a, u8>,
    /// The version of a version check; the expiry of an expiring put.
    pub arg: u64,
}

/// One write: operations on one store, applied all-or-nothing.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct FfiWriteUnit<'a> {
    /// The store.
    pub store_id: RStr<'a>,
    /// The operations.
    pub ops: RSlice<'a, FfiWriteOp<'a>>,
}

impl<'a> FfiWriteOp<'a> {
    /// The wire form of `op`.
    pub fn from_op(op: &WriteOp<'a>) -> Self {
        let (tag, key, value, arg) = match *op {
            WriteOp::Put { key, value } => (WRITE_PUT, key, value, 0),
            WriteOp::PutExpiring {
                key,
                value,
                expires_at_ms,
            } => (WRITE_PUT_EXPIRING, key, value, expires_at_ms),
            WriteOp::Delete { key } => (WRITE_DELETE, key, &[][..], 0),
            WriteOp::Check {
                key,
                expected: Expected::Absent,
            } => (WRITE_CHECK_ABSENT, key, &[][..], 0),
            WriteOp::Check {
                key,
                expected: Expected::Version(v),
            } => (WRITE_CHECK_VERSION, key, &[][..], v),
            WriteOp::Clear => (WRITE_CLEAR, "", &[][..], 0),
        };
        FfiWriteOp {
            tag,
            key: key.into(),
            value: value.into(),
            arg,
        }
    }

    /// The plain form; `UNSUPPORTED` for a tag this interface does not know.
    pub fn to_op(&self) -> ProviderResult<WriteOp<'a>> {
        let key = self.key.as_str();
        Ok(match self.tag {
            WRITE_PUT => WriteOp::Put {
                key,
                value: self.value.as_slice(),
            },
            WRITE_PUT_EXPIRING => WriteOp::PutExpiring {
                key,
                value: self.value.as_slice(),
                expires_at_ms: self.arg,
            },
            WRITE_DELETE => WriteOp::Delete { key },
            WRITE_CHECK_ABSENT => WriteOp::Check {
                key,
                expected: Expected::Absent,
            },
            WRITE_CHECK_VERSION => WriteOp::Check {
                key,
                expected: Expected::Version(self.arg),
            },
            WRITE_CLEAR => WriteOp::Clear,
            tag => {
                return Err(ProviderError::unsupported(format!(
                    "write operation tag {tag} is unknown to this provider's interface \
                     (provider-api {INTERFACE_VERSION}); the host is newer: rebuild the provider \
                     against the host's provider-api"
                )))
            }
        })
    }
}

/// A write's operations, held inline up to the size of the everyday
/// writes (a set, a compare-and-set, a small batch).
pub(crate) type WriteOps<'a> = smallvec::SmallVec<[WriteOp<'a>; 8]>;

/// The plain operations of `unit`.
pub(crate) fn unit_ops<'a>(unit: &FfiWriteUnit<'a>) -> ProviderResult<WriteOps<'a>> {
    unit.ops.iter().map(FfiWriteOp::to_op).collect()
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
    /// Created 0, updated 1, deleted 2, expired 3.
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
pub(crate) fn missing(method: &str) -> ProviderError {
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

    // Appended in provider-api 0.2.

    /// The one write form (see [`crate::Provider::write`] and
    /// [`crate::Provider::write_group`]): each unit is one atomic write;
    /// units of one call are independent writes committed together. One
    /// answer per unit is appended to `answers` (its revision, or why it
    /// failed), and every key each unit changed is appended to `changes`,
    /// framed by [`frame_change`]. An error of the whole call (a panic)
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
        for (at, unit) in units.iter().enumerate() {
            let answer = unit_ops(unit).and_then(|ops| {
                let unit_index = at as u32;
                crate::legacy::write(
                    &crate::legacy::OfFfi(self),
                    unit.store_id.as_str(),
                    &ops,
                    &mut |c| frame_change(changes, unit_index, c),
                )
            });
            answers.push(answer.into());
        }
        RResult::ROk(())
    }

    // Appended in provider-api 0.1.2.

    /// See [`crate::Provider::expiries`]: one expiry per key, in order, 0
    /// where the key never expires or is missing.
    fn expiries(&self, store_id: RStr<'_>, keys: RSlice<'_, RStr<'_>>) -> FfiResult<RVec<u64>> {
        let _ = (store_id, keys);
        RResult::RErr(missing("expiries"))
    }
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
    /// Opens an instance as `open` does, with what the host asks of it
    /// (appended in 0.2; `None` in a library built against 0.1).
    #[sabi(missing_field(option))]
    pub open_with: extern "C" fn(
        config_json: RStr<'_>,
        host: FfiOpen,
    ) -> RResult<FfiProviderBox, ProviderError>,
    /// Opens an instance as `open_with` does, reading the time from the
    /// host's `clock` (appended in 0.1.2; `None` in a library built before,
    /// which then reads the system clock and declares no TTL).
    #[sabi(missing_field(option))]
    pub open_with_clock: extern "C" fn(
        config_json: RStr<'_>,
        host: FfiOpen,
        clock: FfiClockBox,
    ) -> RResult<FfiProviderBox, ProviderError>,
}

/// The host's clock, as a provider reads it (see [`crate::Clock`]).
#[sabi_trait]
pub trait FfiClock: Send + Sync {
    /// Now, in milliseconds since the unix epoch. Never panics.
    fn now_ms(&self) -> u64;
}

/// An owned, type-erased host clock.
pub type FfiClockBox = FfiClock_TO<'static, RBox<()>>;

/// [`FfiOpen`] flag: open for reading only; create nothing (see
/// [`crate::OpenContext::read_only`]).
pub const OPEN_READ_ONLY: u64 = 1;

/// What the host passes to `open_with`.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct FfiOpen {
    /// Where the provider's `tracing` events go; `None` when the provider
    /// runs in the host's own process.
    pub logger: ROption<HostLogger>,
    /// `OPEN_*` flags; a flag this interface does not know is ignored.
    pub flags: u64,
}

impl RootModule for ProviderModuleRef {
    declare_root_module_statics! {ProviderModuleRef}
    const BASE_NAME: &'static str = "stateplug_provider";
    const NAME: &'static str = "stateplug provider";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

mod frames;
pub mod frozen_0_1;
pub mod frozen_0_1_1;

pub use self::frames::{frame_change, frame_row, visit_framed_rows, FramedChanges};

/// The interface version this crate defines (its package version).
pub const INTERFACE_VERSION: &str = env!("CARGO_PKG_VERSION");
