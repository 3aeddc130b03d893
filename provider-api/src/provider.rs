//! The synchronous trait a provider author implements.

use crate::{
    legacy, Capabilities, ChangePage, ChangeSink, Entry, Expected, HistoryEntry, KeyChange,
    KeyWrite, OpenContext, Page, ProviderError, ProviderResult, ScanRef, TxnOpRef, WriteOp,
    WriteUnit,
};

/// The visitor of [`Provider::scan_visit_bytes`]: each row's key (its UTF-8
/// bytes, unchecked), version and value.
pub type KeyBytesVisitor<'v> = &'v mut dyn FnMut(&[u8], u64, &[u8]);

/// A state store provider: a key-value store partitioned by `store_id`.
///
/// Implement this trait for your type, then write one line,
/// `stateplug_provider_api::export_provider!(YourType);`, in a crate built as
/// a `cdylib`. The host loads the library, opens the provider with a JSON
/// configuration, and drives it through one async API.
///
/// What you implement: [`open`](Provider::open), the reads
/// ([`get_entry`](Provider::get_entry), [`list_keys`](Provider::list_keys),
/// [`store_exists`](Provider::store_exists), [`key_count`](Provider::key_count)),
/// and the one write method, [`write`](Provider::write), usually a few
/// lines around [`apply`](crate::apply). The rest is optional: each has a
/// default, and what needs a capability is refused unless you declare it.
///
/// # Contract
///
/// - Keys and store_ids are UTF-8 strings; values are bytes. An empty key and
///   an empty value are valid; an empty store_id is refused before your code
///   runs. Input over the declared [`Limits`](crate::Limits) is refused before
///   your code runs, with `INVALID_ARGUMENT` naming the limit.
/// - A missing key or an unknown store_id is never an error: reads return
///   `None`, `false` or `0`, and deletes report that nothing existed.
/// - Every write that changes something gets a revision, greater than any
///   version the provider has given before (also after a key was deleted
///   and created again or its store cleared); every key it puts gets that
///   revision as its version, and a deletion is reported at that revision
///   too, so changes of every kind order by version. Versions start at 1.
///   A write that changes nothing consumes no revision.
/// - An operation whose capability is not declared in
///   [`Provider::capabilities`] is refused with `UNSUPPORTED` before your code
///   runs; the default bodies of optional methods also refuse. A provider
///   must never accept a conditional operation and ignore its condition.
///
/// # Partitioning
///
/// Every call names a `store_id` (the host uses the plugin id). Stores are
/// fully independent: the same key in two stores is two entries, and
/// clearing touches one store only. A store exists while it holds at
/// least one key; reading, deleting or clearing an unknown store_id must not
/// leave anything behind (no empty tables, no memory held per store_id).
///
/// # Concurrency
///
/// Methods take `&self` and are called from many threads at once. Each
/// write is atomic and isolated: all of its operations or none, and no
/// other call sees half of it.
///
/// # Errors
///
/// Return a [`ProviderError`] with the kind that says what went wrong and a
/// message that names the thing and the fix. Mark errors that a retry may
/// cure (a lost connection) as temporary. A panic is caught at the boundary
/// and reported as `PANIC`; the provider stays loaded and is called again.
pub trait Provider: Send + Sync + 'static {
    /// The provider's name, e.g. `"redb"`.
    const NAME: &'static str;

    /// What the provider can do in its default configuration; `stateplug
    /// provider info` shows it without opening a store.
    const CAPABILITIES: Capabilities;

    /// Opens the provider from its configuration, a JSON object (`{}` when
    /// the user gave none). Refuse unknown fields and wrong types with
    /// `INVALID_ARGUMENT` naming the field; [`crate::parse_config`] does that.
    fn open(config_json: &str) -> ProviderResult<Self>
    where
        Self: Sized;

    /// Opens the provider as [`open`](Provider::open) does, with what the
    /// host asks of this instance (see [`OpenContext`]: a read-only open
    /// must create nothing). Defaults to `open`; a provider that creates
    /// storage overrides it to honour `read_only`.
    fn open_with(config_json: &str, context: &OpenContext) -> ProviderResult<Self>
    where
        Self: Sized,
    {
        let _ = context;
        Self::open(config_json)
    }

    /// What this opened instance can do. Defaults to [`Provider::CAPABILITIES`].
    fn capabilities(&self) -> Capabilities {
        Self::CAPABILITIES
    }

    /// The value and version of `key`.
    /// - Missing key or unknown store_id: `Ok(None)`.
    fn get_entry(&self, store_id: &str, key: &str) -> ProviderResult<Option<Entry>>;

    /// Hands the value of `key` to `visit` as a borrowed slice, without
    /// copying it first; returns whether the key exists. This is how the
    /// host reads values: the bytes are copied once, straight into the
    /// host's buffer. Defaults to [`Provider::get_entry`]; override it when
    /// the value can be borrowed from storage.
    /// - Missing key or unknown store_id: `Ok(false)`, `visit` not called.
    fn read(
        &self,
        store_id: &str,
        key: &str,
        visit: &mut dyn FnMut(&[u8]),
    ) -> ProviderResult<bool> {
        match self.get_entry(store_id, key)? {
            Some(entry) => {
                visit(&entry.value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The entries of `keys`, in the same order, `None` where a key is missing.
    /// - An empty `keys` returns an empty vector.
    /// - Defaults to one [`Provider::get_entry`] per key; override it to read
    ///   from one snapshot.
    fn get_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<Entry>>> {
        keys.iter().map(|k| self.get_entry(store_id, k)).collect()
    }

    /// Applies `ops` to `store_id` as one atomic write: every
    /// [`WriteOp::Check`] first, then the puts, deletes and clears in order,
    /// in one commit. Reports each key it changed to `changed` and returns
    /// the write's revision (0 if it changed nothing).
    ///
    /// - A failed check returns `VERSION_CONFLICT` (or `ALREADY_EXISTS` for
    ///   `Expected::Absent`) naming the key and both versions; nothing changes.
    /// - Atomic and isolated as a whole (a `set_many` of 1,000 keys is one
    ///   write and, for a durable provider, one commit).
    /// - Checks need [`CapabilityFlags::COMPARE_AND_SET`](crate::CapabilityFlags::COMPARE_AND_SET),
    ///   a write of several operations needs
    ///   [`CapabilityFlags::ATOMIC_BATCHES`](crate::CapabilityFlags::ATOMIC_BATCHES)
    ///   or [`CapabilityFlags::TRANSACTIONS`](crate::CapabilityFlags::TRANSACTIONS)
    ///   as the host explains; the host refuses what is not declared.
    ///
    /// Implement it by opening your write transaction, running
    /// [`crate::apply`] with a [`crate::StoreWriter`] over it, and
    /// committing. The default is built from the write methods of
    /// provider-api 0.1 (`set`, `delete`, `set_many`, ...), so providers
    /// written against 0.1 keep compiling; it reads the keys' versions
    /// before writing, so its report may miss a concurrent change.
    fn write(
        &self,
        store_id: &str,
        ops: &[WriteOp<'_>],
        changed: ChangeSink<'_>,
    ) -> ProviderResult<u64> {
        legacy::write_through_old_methods(self, store_id, ops, changed)
    }

    /// Independent writes of concurrent callers, possibly on different
    /// stores, committed together (one transaction, one sync); one answer
    /// per unit, in order, each what the unit alone would answer. Each
    /// changed key is reported to `changed` with its unit's index.
    ///
    /// - A unit refused (a failed check) leaves the others untouched; a
    ///   storage failure spoils the whole group, so every unit fails and
    ///   none is applied.
    /// - Each unit gets its own revision, in the order of `units`.
    /// - The default writes each unit alone through [`Provider::write`]. A
    ///   provider that commits a group together overrides it (opening one
    ///   transaction and calling [`crate::apply`] per unit: a
    ///   [`WriteFailure::Refused`](crate::WriteFailure::Refused) answers that
    ///   unit, a [`WriteFailure::Failed`](crate::WriteFailure::Failed) aborts
    ///   the group) and declares
    ///   [`CapabilityFlags::GROUP_WRITES`](crate::CapabilityFlags::GROUP_WRITES).
    fn write_group(
        &self,
        units: &[WriteUnit<'_>],
        changed: &mut dyn FnMut(usize, KeyChange<'_>),
    ) -> Vec<ProviderResult<u64>> {
        units
            .iter()
            .enumerate()
            .map(|(i, unit)| self.write(unit.store_id, unit.ops, &mut |c| changed(i, c)))
            .collect()
    }

    /// Every key of `store_id`, in ascending order.
    /// - An unknown store is an empty vector.
    fn list_keys(&self, store_id: &str) -> ProviderResult<Vec<String>>;

    /// Whether `store_id` holds at least one key.
    fn store_exists(&self, store_id: &str) -> ProviderResult<bool>;

    /// How many keys `store_id` holds; an unknown store is 0.
    fn key_count(&self, store_id: &str) -> ProviderResult<u64>;

    /// Makes every acknowledged write durable. A no-op where writes are
    /// already durable when acknowledged, or where nothing is durable.
    fn sync(&self) -> ProviderResult<()> {
        Ok(())
    }

    /// One page of an ordered walk over `store_id`; see [`ScanRef`].
    /// - `next` is set when more keys may follow; pass it back as `after`.
    /// - An unknown store is an empty page with `next: None`.
    /// - Needs [`CapabilityFlags::ORDERED_SCANS`](crate::CapabilityFlags::ORDERED_SCANS).
    fn scan(&self, store_id: &str, scan: ScanRef<'_>) -> ProviderResult<Page> {
        let _ = (store_id, scan);
        Err(unsupported(Self::NAME, "scan"))
    }

    /// One page of `scan`, handed to `visit` row by row (key bytes,
    /// version, value) as borrowed slices, so that rows cross the boundary
    /// with one copy into the host's buffer; returns the page's
    /// continuation (the last key visited, if more keys may follow). This
    /// is how the host scans. The keys are the UTF-8 keys that were written,
    /// passed as bytes without a check of your own: the host checks every
    /// key it receives, and a key that is not UTF-8 fails the page.
    /// Defaults to [`Provider::scan`]; override it when rows can be
    /// borrowed from storage.
    /// - Needs [`CapabilityFlags::ORDERED_SCANS`](crate::CapabilityFlags::ORDERED_SCANS).
    fn scan_visit_bytes(
        &self,
        store_id: &str,
        scan: ScanRef<'_>,
        visit: KeyBytesVisitor<'_>,
    ) -> ProviderResult<Option<String>> {
        self.scan_visit(store_id, scan, &mut |key, version, value| {
            visit(key.as_bytes(), version, value)
        })
    }

    /// The expiry (unix milliseconds) of each of `keys`, in the same order:
    /// `None` where the key is missing or never expires. A key whose expiry
    /// has passed but which is not removed yet answers its expiry, so that
    /// whoever copies a store it just read (a dump) never copies a key
    /// without the expiry it had.
    /// - An empty `keys` returns an empty vector.
    /// - Needs [`CapabilityFlags::TTL`](crate::CapabilityFlags::TTL).
    fn expiries(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<u64>>> {
        let _ = (store_id, keys);
        Err(unsupported(Self::NAME, "expiries"))
    }

    /// Every store_id that holds at least one key, in ascending order.
    /// - Needs [`CapabilityFlags::LIST_STORES`](crate::CapabilityFlags::LIST_STORES).
    fn list_stores(&self) -> ProviderResult<Vec<String>> {
        Err(unsupported(Self::NAME, "list_stores"))
    }

    /// The retained versions of `key`, newest first, at most `limit`
    /// (deletions included, with `value: None`).
    /// - A key never written, or an unknown store: an empty vector.
    /// - Needs [`CapabilityFlags::HISTORY`](crate::CapabilityFlags::HISTORY).
    fn history(&self, store_id: &str, key: &str, limit: u32) -> ProviderResult<Vec<HistoryEntry>> {
        let _ = (store_id, key, limit);
        Err(unsupported(Self::NAME, "history"))
    }

    /// The value `key` had at `version`, if that version is still retained.
    /// - Defaults to searching [`Provider::history`].
    /// - Needs [`CapabilityFlags::HISTORY`](crate::CapabilityFlags::HISTORY).
    fn get_version(
        &self,
        store_id: &str,
        key: &str,
        version: u64,
    ) -> ProviderResult<Option<Entry>> {
        let found = self
            .history(store_id, key, u32::MAX)?
            .into_iter()
            .find(|h| h.version == version)
            .and_then(|h| h.value.map(|value| Entry { value, version }));
        Ok(found)
    }

    /// The change feed's current position: changes committed after this
    /// call have greater positions.
    /// - Needs [`CapabilityFlags::CHANGE_FEED`](crate::CapabilityFlags::CHANGE_FEED)
    ///   or [`CapabilityFlags::EXPIRY_FEED`](crate::CapabilityFlags::EXPIRY_FEED).
    fn change_head(&self) -> ProviderResult<u64> {
        Err(unsupported(Self::NAME, "change_head"))
    }

    /// Changes committed after position `after`, oldest first, at most
    /// `limit`; waits up to `timeout_ms` for the first one, then returns
    /// what there is (possibly nothing, with the same cursor).
    /// - Every change of one write is returned in one page or in
    ///   consecutive pages, in order; a deletion at the revision of the
    ///   write that removed the key.
    /// - Needs [`CapabilityFlags::CHANGE_FEED`](crate::CapabilityFlags::CHANGE_FEED)
    ///   or [`CapabilityFlags::EXPIRY_FEED`](crate::CapabilityFlags::EXPIRY_FEED).
    fn wait_changes(&self, after: u64, limit: u32, timeout_ms: u32) -> ProviderResult<ChangePage> {
        let _ = (after, limit, timeout_ms);
        Err(unsupported(Self::NAME, "wait_changes"))
    }

    // The methods below are the interface of provider-api 0.1. The host no
    // longer calls them; they stay so that providers written against 0.1
    // keep compiling. The default `write` is built from the write methods,
    // and their defaults from `write`, so a provider implements either;
    // one that implements neither is told to implement `write` (see
    // `legacy::write_through_old_methods`).

    /// provider-api 0.1: the value of `key`. No longer called.
    #[doc(hidden)]
    fn get(&self, store_id: &str, key: &str) -> ProviderResult<Option<Vec<u8>>> {
        Ok(self.get_entry(store_id, key)?.map(|e| e.value))
    }

    /// provider-api 0.1: whether `key` exists. No longer called.
    #[doc(hidden)]
    fn contains_key(&self, store_id: &str, key: &str) -> ProviderResult<bool> {
        Ok(self.get_entry(store_id, key)?.is_some())
    }

    /// provider-api 0.1: a scan with `&str` keys; see [`Provider::scan_visit_bytes`].
    #[doc(hidden)]
    fn scan_visit(
        &self,
        store_id: &str,
        scan: ScanRef<'_>,
        visit: &mut dyn FnMut(&str, u64, &[u8]),
    ) -> ProviderResult<Option<String>> {
        let page = self.scan(store_id, scan)?;
        for row in &page.entries {
            visit(&row.key, row.version, &row.value);
        }
        Ok(page.next)
    }

    /// provider-api 0.1: a put. Defaults to [`Provider::write`].
    #[doc(hidden)]
    fn set(&self, store_id: &str, key: &str, value: &[u8]) -> ProviderResult<u64> {
        legacy::written(self, store_id, &[WriteOp::put(key, value)]).map(|(revision, _)| revision)
    }

    /// provider-api 0.1: a delete. Defaults to [`Provider::write`].
    #[doc(hidden)]
    fn delete(&self, store_id: &str, key: &str) -> ProviderResult<bool> {
        legacy::written(self, store_id, &[WriteOp::delete(key)]).map(|(_, changed)| changed > 0)
    }

    /// provider-api 0.1: puts in one batch. Defaults to [`Provider::write`].
    #[doc(hidden)]
    fn set_many(&self, store_id: &str, entries: &[(&str, &[u8])]) -> ProviderResult<u64> {
        let ops: Vec<WriteOp<'_>> = entries.iter().map(|(k, v)| WriteOp::put(k, v)).collect();
        legacy::written(self, store_id, &ops).map(|(revision, _)| revision)
    }

    /// provider-api 0.1: deletes in one batch. Defaults to [`Provider::write`].
    #[doc(hidden)]
    fn delete_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<u64> {
        let ops: Vec<WriteOp<'_>> = keys.iter().map(|k| WriteOp::delete(k)).collect();
        legacy::written(self, store_id, &ops).map(|(_, changed)| changed)
    }

    /// provider-api 0.1: removes a store's keys. Defaults to [`Provider::write`].
    #[doc(hidden)]
    fn clear_store(&self, store_id: &str) -> ProviderResult<u64> {
        legacy::written(self, store_id, &[WriteOp::Clear]).map(|(_, changed)| changed)
    }

    /// provider-api 0.1: a conditional put. Defaults to [`Provider::write`].
    #[doc(hidden)]
    fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: &[u8],
    ) -> ProviderResult<u64> {
        let ops = [WriteOp::check(key, expected), WriteOp::put(key, value)];
        legacy::written(self, store_id, &ops).map(|(revision, _)| revision)
    }

    /// provider-api 0.1: a conditional delete. Defaults to [`Provider::write`].
    #[doc(hidden)]
    fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> ProviderResult<()> {
        let ops = [
            WriteOp::check(key, Expected::Version(version)),
            WriteOp::delete(key),
        ];
        legacy::written(self, store_id, &ops).map(drop)
    }

    /// provider-api 0.1: a transaction. Defaults to [`Provider::write`].
    #[doc(hidden)]
    fn transaction(&self, store_id: &str, ops: &[TxnOpRef<'_>]) -> ProviderResult<u64> {
        let ops: Vec<WriteOp<'_>> = ops.iter().map(TxnOpRef::as_write).collect();
        legacy::written(self, store_id, &ops).map(|(revision, _)| revision)
    }

    /// provider-api 0.1: grouped single-key writes; see [`Provider::write_group`].
    #[doc(hidden)]
    fn write_keys(&self, calls: &[KeyWrite<'_>]) -> Vec<ProviderResult<u64>> {
        calls.iter().map(|call| call.run_alone(self)).collect()
    }
}

/// The error a default method body returns.
fn unsupported(provider: &str, operation: &str) -> ProviderError {
    ProviderError::unsupported(format!(
        "provider {provider} does not implement {operation}"
    ))
}

/// The standard conflict error for a failed version check.
pub fn conflict(key: &str, expected: Expected, current: Option<u64>) -> ProviderError {
    let found = match current {
        Some(v) => format!("version {v}"),
        None => "no such key".to_string(),
    };
    match expected {
        Expected::Absent => ProviderError::already_exists(format!(
            "key {key:?} already exists at {found}; expected it to be absent"
        )),
        Expected::Version(v) => ProviderError::version_conflict(format!(
            "key {key:?}: expected version {v}, found {found}"
        )),
    }
}
