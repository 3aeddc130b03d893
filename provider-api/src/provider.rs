//! The synchronous trait a provider author implements.

use crate::{
    Capabilities, ChangePage, Entry, Expected, HistoryEntry, KeyWrite, Page, ProviderError,
    ProviderResult, ScanRef, TxnOpRef,
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
/// # Contract
///
/// - Keys and store_ids are UTF-8 strings; values are bytes. An empty key and
///   an empty value are valid; an empty store_id is refused before your code
///   runs. Input over the declared [`Limits`](crate::Limits) is refused before
///   your code runs, with `INVALID_ARGUMENT` naming the limit.
/// - A missing key or an unknown store_id is never an error: reads return
///   `None`, `false` or `0`, and deletes return that nothing existed.
/// - Every write to a key gives it a new version, greater than any version
///   the store_id has given before, even after the key was deleted and
///   created again or the store was cleared. Versions start at 1.
/// - An operation whose capability is not declared in
///   [`Provider::capabilities`] is refused with `UNSUPPORTED` before your code
///   runs; the default bodies of optional methods also refuse. A provider
///   must never accept a conditional operation and ignore its condition.
///
/// # Partitioning
///
/// Every call names a `store_id` (the host uses the plugin id). Stores are
/// fully independent: the same key in two stores is two entries, and
/// `clear_store` touches one store only. A store exists while it holds at
/// least one key; reading, deleting or clearing an unknown store_id must not
/// leave anything behind (no empty tables, no memory held per store_id).
///
/// # Concurrency
///
/// Methods take `&self` and are called from many threads at once. Each call
/// is atomic on its own; batches declared atomic and transactions are
/// all-or-nothing and isolated from concurrent calls.
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

    /// What this opened instance can do. Defaults to [`Provider::CAPABILITIES`].
    fn capabilities(&self) -> Capabilities {
        Self::CAPABILITIES
    }

    /// The value and version of `key`.
    /// - Missing key or unknown store_id: `Ok(None)`.
    fn get_entry(&self, store_id: &str, key: &str) -> ProviderResult<Option<Entry>>;

    /// The value of `key`. Defaults to [`Provider::get_entry`] without the version.
    /// - Missing key or unknown store_id: `Ok(None)`.
    fn get(&self, store_id: &str, key: &str) -> ProviderResult<Option<Vec<u8>>> {
        Ok(self.get_entry(store_id, key)?.map(|e| e.value))
    }

    /// Hands the value of `key` to `visit` as a borrowed slice, without
    /// copying it first; returns whether the key exists. This is how the
    /// host reads values: the bytes are copied once, straight into the
    /// host's buffer. Defaults to [`Provider::get`]; override it when the
    /// value can be borrowed from storage.
    /// - Missing key or unknown store_id: `Ok(false)`, `visit` not called.
    fn read(
        &self,
        store_id: &str,
        key: &str,
        visit: &mut dyn FnMut(&[u8]),
    ) -> ProviderResult<bool> {
        match self.get(store_id, key)? {
            Some(value) => {
                visit(&value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Writes `value` under `key`, creating or overwriting it.
    /// - Returns the new version.
    fn set(&self, store_id: &str, key: &str, value: &[u8]) -> ProviderResult<u64>;

    /// Removes `key`.
    /// - Returns whether it existed; a missing key or store is `Ok(false)`.
    fn delete(&self, store_id: &str, key: &str) -> ProviderResult<bool>;

    /// Whether `key` exists. Defaults to [`Provider::get_entry`].
    fn contains_key(&self, store_id: &str, key: &str) -> ProviderResult<bool> {
        Ok(self.get_entry(store_id, key)?.is_some())
    }

    /// The entries of `keys`, in the same order, `None` where a key is missing.
    /// - An empty `keys` returns an empty vector.
    /// - Defaults to one [`Provider::get_entry`] per key; override it to read
    ///   from one snapshot.
    fn get_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<Entry>>> {
        keys.iter().map(|k| self.get_entry(store_id, k)).collect()
    }

    /// Writes every pair as one batch (one commit for a durable provider).
    /// - All pairs get the same new version, which is returned.
    /// - An empty batch writes nothing and returns 0.
    /// - All-or-nothing if [`CapabilityFlags::ATOMIC_BATCHES`](crate::CapabilityFlags::ATOMIC_BATCHES) is declared.
    fn set_many(&self, store_id: &str, entries: &[(&str, &[u8])]) -> ProviderResult<u64>;

    /// Removes every key in `keys` as one batch.
    /// - Returns how many of them existed; missing keys are skipped.
    fn delete_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<u64>;

    /// Removes every key of `store_id`.
    /// - Returns how many were removed; an unknown store is `Ok(0)`.
    fn clear_store(&self, store_id: &str) -> ProviderResult<u64>;

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

    /// Writes `value` under `key` only if the key is in the `expected` state.
    /// - Returns the new version.
    /// - `Expected::Version(v)` and the key is absent or at another version:
    ///   `VERSION_CONFLICT` naming the key and both versions; nothing changes.
    /// - `Expected::Absent` and the key exists: `ALREADY_EXISTS` naming the key
    ///   and its version; nothing changes.
    /// - Needs [`CapabilityFlags::COMPARE_AND_SET`](crate::CapabilityFlags::COMPARE_AND_SET).
    fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: &[u8],
    ) -> ProviderResult<u64> {
        let _ = (store_id, key, expected, value);
        Err(unsupported(Self::NAME, "compare_and_set"))
    }

    /// Removes `key` only if it exists at exactly `version`.
    /// - Absent or at another version: `VERSION_CONFLICT` naming both versions.
    /// - Needs [`CapabilityFlags::COMPARE_AND_SET`](crate::CapabilityFlags::COMPARE_AND_SET).
    fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> ProviderResult<()> {
        let _ = (store_id, key, version);
        Err(unsupported(Self::NAME, "compare_and_delete"))
    }

    /// Applies `ops` all-or-nothing: every `Check` first, then puts and
    /// deletes in order, as one commit.
    /// - A failed check returns `VERSION_CONFLICT` (or `ALREADY_EXISTS` for
    ///   `Expected::Absent`) naming the key and both versions; nothing changes.
    /// - Returns the version given to every put (0 if nothing was written).
    /// - Needs [`CapabilityFlags::TRANSACTIONS`](crate::CapabilityFlags::TRANSACTIONS).
    fn transaction(&self, store_id: &str, ops: &[TxnOpRef<'_>]) -> ProviderResult<u64> {
        let _ = (store_id, ops);
        Err(unsupported(Self::NAME, "transaction"))
    }

    /// Independent single-key writes from concurrent callers, possibly on
    /// different stores; one answer per call, in order, each what the call
    /// alone would answer (see [`KeyWrite`]).
    /// - Every call is applied as if alone: one failing (a conflict, say)
    ///   leaves the others untouched, unless a storage failure spoils the
    ///   whole group, in which case every call of it fails and none is
    ///   applied.
    /// - Each call gets its own version, in the order of `calls`.
    /// - The default runs each call alone. A provider that commits a group
    ///   together (one transaction, one sync) overrides it and declares
    ///   [`CapabilityFlags::GROUP_WRITES`](crate::CapabilityFlags::GROUP_WRITES);
    ///   the host then hands it concurrent writes in groups, on one thread.
    /// - Compare-and-set calls need [`CapabilityFlags::COMPARE_AND_SET`](crate::CapabilityFlags::COMPARE_AND_SET)
    ///   (the host refuses them otherwise, before the provider runs).
    fn write_keys(&self, calls: &[KeyWrite<'_>]) -> Vec<ProviderResult<u64>> {
        calls.iter().map(|call| call.run_alone(self)).collect()
    }

    /// One page of an ordered walk over `store_id`; see [`ScanRef`].
    /// - `next` is set when more keys may follow; pass it back as `after`.
    /// - An unknown store is an empty page with `next: None`.
    /// - Needs [`CapabilityFlags::ORDERED_SCANS`](crate::CapabilityFlags::ORDERED_SCANS).
    fn scan(&self, store_id: &str, scan: ScanRef<'_>) -> ProviderResult<Page> {
        let _ = (store_id, scan);
        Err(unsupported(Self::NAME, "scan"))
    }

    /// One page of `scan`, handed to `visit` row by row (key, version,
    /// value) as borrowed slices, so that rows cross the boundary with one
    /// copy into the host's buffer. Returns the page's continuation (the
    /// last key visited, if more keys may follow). Defaults to
    /// [`Provider::scan`]; override it when rows can be borrowed from storage.
    /// - Needs [`CapabilityFlags::ORDERED_SCANS`](crate::CapabilityFlags::ORDERED_SCANS).
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

    /// [`Provider::scan_visit`] with each key as its UTF-8 bytes, not
    /// checked: the host checks every key of a page it receives, so a
    /// provider that stores keys as bytes can override this to skip a
    /// second check per row (`scan_into` calls this method). The keys must
    /// still be the UTF-8 keys that were written: a key that is not UTF-8
    /// fails the whole page in the host. Defaults to `scan_visit`.
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
    /// - Needs [`CapabilityFlags::CHANGE_FEED`](crate::CapabilityFlags::CHANGE_FEED).
    fn change_head(&self) -> ProviderResult<u64> {
        Err(unsupported(Self::NAME, "change_head"))
    }

    /// Changes committed after position `after`, oldest first, at most
    /// `limit`; waits up to `timeout_ms` for the first one, then returns
    /// what there is (possibly nothing, with the same cursor).
    /// - Every change of one write call is returned in one page or in
    ///   consecutive pages, in order.
    /// - Needs [`CapabilityFlags::CHANGE_FEED`](crate::CapabilityFlags::CHANGE_FEED).
    fn wait_changes(&self, after: u64, limit: u32, timeout_ms: u32) -> ProviderResult<ChangePage> {
        let _ = (after, limit, timeout_ms);
        Err(unsupported(Self::NAME, "wait_changes"))
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
