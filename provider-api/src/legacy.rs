//! Writes carried out through the write methods of provider-api 0.1.
//!
//! A provider written against 0.1 implements `set`, `delete`, `set_many`,
//! `delete_many`, `clear_store`, `compare_and_set`, `compare_and_delete`
//! and `transaction`, and a library built against 0.1 exports only those.
//! [`write`] carries out a write of the one write form through them, once
//! for both: [`OfProvider`] is a provider's source compiled against this
//! version (the default of `Provider::write`), [`OfFfi`] a library built
//! against 0.1 (the default of the ABI's `write`, run in the host).
//!
//! The old methods do not say what they changed, so the versions of the
//! keys a write touches are read just before it: a write racing it on the
//! same keys may be reported with the wrong prior version. A write that
//! only deletes is answered with revision 0 (the old `delete` has none).

use std::{
    cell::Cell,
    collections::HashMap,
    panic::{catch_unwind, resume_unwind, AssertUnwindSafe},
};

use abi_stable::std_types::{RSlice, RStr};

use crate::{
    ffi::{FfiKeyValue, FfiProvider, FfiTxnOp, TXN_CHECK, TXN_DELETE, TXN_PUT},
    write::check_expected,
    ChangeSink, Expected, KeyChange, Provider, ProviderError, ProviderResult, WriteOp,
};

/// The write calls of provider-api 0.1, and the reads a write needs.
pub(crate) trait LegacyWrites {
    /// The versions of `keys`, in order (`None`: absent).
    fn versions(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<u64>>>;
    fn list_keys(&self, store_id: &str) -> ProviderResult<Vec<String>>;
    fn set(&self, store_id: &str, key: &str, value: &[u8]) -> ProviderResult<u64>;
    fn delete(&self, store_id: &str, key: &str) -> ProviderResult<bool>;
    fn set_many(&self, store_id: &str, entries: &[(&str, &[u8])]) -> ProviderResult<u64>;
    fn delete_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<u64>;
    fn clear_store(&self, store_id: &str) -> ProviderResult<u64>;
    fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: &[u8],
    ) -> ProviderResult<u64>;
    fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> ProviderResult<()>;
    fn transaction(&self, store_id: &str, ops: &[TxnOpRef<'_>]) -> ProviderResult<u64>;
}

/// Carries out `ops` on `store_id` through the 0.1 calls of `p`, reporting
/// what changed; see the module's doc for what the report can miss.
pub(crate) fn write(
    p: &dyn LegacyWrites,
    store_id: &str,
    ops: &[WriteOp<'_>],
    changed: ChangeSink<'_>,
) -> ProviderResult<u64> {
    for op in ops {
        if let WriteOp::Check { key, expected } = *op {
            check_expected(key, expected)?;
        }
    }
    if ops
        .iter()
        .any(|op| matches!(op, WriteOp::PutExpiring { .. }))
    {
        return Err(ProviderError::unsupported(
            "a put with a time to live needs provider-api 0.1.2 or later; the provider \
             implements only the 0.1 write methods: write without a time to live",
        ));
    }
    if ops.iter().any(|op| matches!(op, WriteOp::Clear)) {
        return clear(p, store_id, ops, changed);
    }
    // The keys the write changes, with their versions just before it.
    let mut written: Vec<&str> = Vec::new();
    for key in ops.iter().filter_map(written_key) {
        if !written.contains(&key) {
            written.push(key);
        }
    }
    let before = p.versions(store_id, &written)?;
    let mut state: HashMap<&str, Option<u64>> = written.iter().copied().zip(before).collect();
    let revision = match ops {
        [] => return Ok(0),
        [WriteOp::Put { key, value }] => p.set(store_id, key, value)?,
        [WriteOp::Delete { key }] => {
            if !p.delete(store_id, key)? {
                state.insert(key, None);
            }
            0
        }
        [WriteOp::Check { key, expected }, WriteOp::Put { key: put, value }] if key == put => {
            p.compare_and_set(store_id, key, *expected, value)?
        }
        [WriteOp::Check {
            key,
            expected: Expected::Version(v),
        }, WriteOp::Delete { key: del }]
            if key == del =>
        {
            p.compare_and_delete(store_id, key, *v)?;
            0
        }
        _ if ops.iter().all(|op| matches!(op, WriteOp::Put { .. })) => {
            let entries: Vec<(&str, &[u8])> = ops
                .iter()
                .filter_map(|op| match *op {
                    WriteOp::Put { key, value } => Some((key, value)),
                    _ => None,
                })
                .collect();
            p.set_many(store_id, &entries)?
        }
        _ if ops.iter().all(|op| matches!(op, WriteOp::Delete { .. })) => {
            let keys: Vec<&str> = ops.iter().filter_map(written_key).collect();
            p.delete_many(store_id, &keys)?;
            0
        }
        _ => {
            let txn: Vec<TxnOpRef<'_>> = ops
                .iter()
                .filter_map(|op| match *op {
                    WriteOp::Put { key, value } => Some(TxnOpRef::Put { key, value }),
                    WriteOp::Delete { key } => Some(TxnOpRef::Delete { key }),
                    WriteOp::Check { key, expected } => Some(TxnOpRef::Check { key, expected }),
                    _ => None,
                })
                .collect();
            p.transaction(store_id, &txn)?
        }
    };
    for op in ops {
        match *op {
            WriteOp::Put { key, .. } => {
                let prior = state.insert(key, Some(revision)).flatten();
                changed(KeyChange {
                    key,
                    prior,
                    version: Some(revision),
                });
            }
            WriteOp::Delete { key } => {
                if let Some(prior) = state.insert(key, None).flatten() {
                    changed(KeyChange {
                        key,
                        prior: Some(prior),
                        version: None,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(revision)
}

/// The key a put or delete writes.
fn written_key<'a>(op: &WriteOp<'a>) -> Option<&'a str> {
    match *op {
        WriteOp::Put { key, .. } | WriteOp::Delete { key } => Some(key),
        _ => None,
    }
}

/// A clear, which 0.1 offers only on its own.
fn clear(
    p: &dyn LegacyWrites,
    store_id: &str,
    ops: &[WriteOp<'_>],
    changed: ChangeSink<'_>,
) -> ProviderResult<u64> {
    if ops.len() > 1 {
        return Err(ProviderError::unsupported(
            "this provider was built against provider-api 0.1, which clears a store only \
             on its own: write the clear and the other operations separately, or rebuild \
             the provider against the host's provider-api",
        ));
    }
    let keys = p.list_keys(store_id)?;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let versions = p.versions(store_id, &refs)?;
    p.clear_store(store_id)?;
    for (key, prior) in refs.iter().zip(versions) {
        if let Some(prior) = prior {
            changed(KeyChange {
                key,
                prior: Some(prior),
                version: None,
            });
        }
    }
    Ok(0)
}

thread_local! {
    /// Set while a default `Provider::write` runs through the 0.1 methods,
    /// whose defaults run `write`: a provider that implements neither then
    /// gets an error instead of endless recursion.
    static THROUGH_OLD_METHODS: Cell<bool> = const { Cell::new(false) };
}

/// The default of [`Provider::write`]: `ops` through the 0.1 methods of `p`.
pub(crate) fn write_through_old_methods<P: Provider + ?Sized>(
    p: &P,
    store_id: &str,
    ops: &[WriteOp<'_>],
    changed: ChangeSink<'_>,
) -> ProviderResult<u64> {
    if THROUGH_OLD_METHODS.get() {
        return Err(ProviderError::unsupported(format!(
            "provider {} implements no write: implement Provider::write",
            P::NAME
        )));
    }
    THROUGH_OLD_METHODS.set(true);
    let result = catch_unwind(AssertUnwindSafe(|| {
        write(&OfProvider(p), store_id, ops, changed)
    }));
    THROUGH_OLD_METHODS.set(false);
    result.unwrap_or_else(|payload| resume_unwind(payload))
}

/// The defaults of the 0.1 write methods: `ops` through [`Provider::write`];
/// the write's revision and how many keys it changed.
pub(crate) fn written<P: Provider + ?Sized>(
    p: &P,
    store_id: &str,
    ops: &[WriteOp<'_>],
) -> ProviderResult<(u64, u64)> {
    let mut changed = 0;
    let revision = p.write(store_id, ops, &mut |_| changed += 1)?;
    Ok((revision, changed))
}

/// A provider's source, through its 0.1 methods.
pub(crate) struct OfProvider<'p, P: ?Sized>(pub(crate) &'p P);

/// The versions of `keys`, read `get_many` by `get_many` of at most
/// `batch` keys (a clear reads every key of the store).
fn versions_in_batches(
    keys: &[&str],
    batch: u32,
    mut get_many: impl FnMut(&[&str]) -> ProviderResult<Vec<Option<u64>>>,
) -> ProviderResult<Vec<Option<u64>>> {
    let mut versions = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(batch.max(1) as usize) {
        versions.extend(get_many(chunk)?);
    }
    Ok(versions)
}

impl<P: Provider + ?Sized> LegacyWrites for OfProvider<'_, P> {
    fn versions(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<u64>>> {
        let batch = self.0.capabilities().limits.max_batch_ops;
        versions_in_batches(keys, batch, |chunk| {
            Ok(self
                .0
                .get_many(store_id, chunk)?
                .into_iter()
                .map(|e| e.map(|e| e.version))
                .collect())
        })
    }
    fn list_keys(&self, store_id: &str) -> ProviderResult<Vec<String>> {
        self.0.list_keys(store_id)
    }
    fn set(&self, store_id: &str, key: &str, value: &[u8]) -> ProviderResult<u64> {
        self.0.set(store_id, key, value)
    }
    fn delete(&self, store_id: &str, key: &str) -> ProviderResult<bool> {
        self.0.delete(store_id, key)
    }
    fn set_many(&self, store_id: &str, entries: &[(&str, &[u8])]) -> ProviderResult<u64> {
        self.0.set_many(store_id, entries)
    }
    fn delete_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<u64> {
        self.0.delete_many(store_id, keys)
    }
    fn clear_store(&self, store_id: &str) -> ProviderResult<u64> {
        self.0.clear_store(store_id)
    }
    fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: &[u8],
    ) -> ProviderResult<u64> {
        self.0.compare_and_set(store_id, key, expected, value)
    }
    fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> ProviderResult<()> {
        self.0.compare_and_delete(store_id, key, version)
    }
    fn transaction(&self, store_id: &str, ops: &[TxnOpRef<'_>]) -> ProviderResult<u64> {
        self.0.transaction(store_id, ops)
    }
}

/// A loaded library built against 0.1, through its exported methods.
pub(crate) struct OfFfi<'p, F: ?Sized>(pub(crate) &'p F);

fn strs<'a>(keys: &[&'a str]) -> Vec<RStr<'a>> {
    keys.iter().map(|k| RStr::from_str(k)).collect()
}

impl<F: FfiProvider + ?Sized> LegacyWrites for OfFfi<'_, F> {
    fn versions(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<u64>>> {
        let batch = self.0.capabilities().limits.max_batch_ops;
        versions_in_batches(keys, batch, |chunk| {
            let keys = strs(chunk);
            let found = self
                .0
                .get_many(store_id.into(), RSlice::from_slice(&keys))
                .into_result()?;
            Ok(found
                .into_iter()
                .map(|e| e.into_option().map(|e| e.version))
                .collect())
        })
    }
    fn list_keys(&self, store_id: &str) -> ProviderResult<Vec<String>> {
        let keys = self.0.list_keys(store_id.into()).into_result()?;
        Ok(keys.into_iter().map(|k| k.into_string()).collect())
    }
    fn set(&self, store_id: &str, key: &str, value: &[u8]) -> ProviderResult<u64> {
        self.0
            .set(store_id.into(), key.into(), value.into())
            .into_result()
    }
    fn delete(&self, store_id: &str, key: &str) -> ProviderResult<bool> {
        self.0.delete(store_id.into(), key.into()).into_result()
    }
    fn set_many(&self, store_id: &str, entries: &[(&str, &[u8])]) -> ProviderResult<u64> {
        let pairs: Vec<FfiKeyValue<'_>> = entries
            .iter()
            .map(|(k, v)| FfiKeyValue {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect();
        self.0
            .set_many(store_id.into(), RSlice::from_slice(&pairs))
            .into_result()
    }
    fn delete_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<u64> {
        let keys = strs(keys);
        self.0
            .delete_many(store_id.into(), RSlice::from_slice(&keys))
            .into_result()
    }
    fn clear_store(&self, store_id: &str) -> ProviderResult<u64> {
        self.0.clear_store(store_id.into()).into_result()
    }
    fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: &[u8],
    ) -> ProviderResult<u64> {
        self.0
            .compare_and_set(
                store_id.into(),
                key.into(),
                expected_to_wire(expected),
                value.into(),
            )
            .into_result()
    }
    fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> ProviderResult<()> {
        self.0
            .compare_and_delete(store_id.into(), key.into(), version)
            .into_result()
    }
    fn transaction(&self, store_id: &str, ops: &[TxnOpRef<'_>]) -> ProviderResult<u64> {
        let wire: Vec<FfiTxnOp<'_>> = ops
            .iter()
            .map(|op| match *op {
                TxnOpRef::Put { key, value } => FfiTxnOp {
                    tag: TXN_PUT,
                    key: key.into(),
                    value: value.into(),
                    expected: 0,
                },
                TxnOpRef::Delete { key } => FfiTxnOp {
                    tag: TXN_DELETE,
                    key: key.into(),
                    value: RSlice::EMPTY,
                    expected: 0,
                },
                TxnOpRef::Check { key, expected } => FfiTxnOp {
                    tag: TXN_CHECK,
                    key: key.into(),
                    value: RSlice::EMPTY,
                    expected: expected_to_wire(expected),
                },
            })
            .collect();
        self.0
            .transaction(store_id.into(), RSlice::from_slice(&wire))
            .into_result()
    }
}

/// The 0.1 wire form of a check: 0 means absent (versions start at 1, and
/// `Version(0)` is refused before it gets here).
pub(crate) fn expected_to_wire(expected: Expected) -> u64 {
    match expected {
        Expected::Absent => 0,
        Expected::Version(v) => v,
    }
}

/// The inverse of [`expected_to_wire`].
pub(crate) fn expected_from_wire(wire: u64) -> Expected {
    if wire == 0 {
        Expected::Absent
    } else {
        Expected::Version(wire)
    }
}

/// provider-api 0.1: one single-key write call of a group handed to
/// [`Provider::write_keys`](crate::Provider::write_keys). Each is the call of
/// the same name, with the same contract and the same answer (see
/// [`KeyWrite::run_alone`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyWrite<'a> {
    /// [`Provider::set`](crate::Provider::set): answers the new version.
    Set {
        /// The store.
        store_id: &'a str,
        /// The key.
        key: &'a str,
        /// The value.
        value: &'a [u8],
    },
    /// [`Provider::delete`](crate::Provider::delete): answers 1 if the key existed, else 0.
    Delete {
        /// The store.
        store_id: &'a str,
        /// The key.
        key: &'a str,
    },
    /// [`Provider::compare_and_set`](crate::Provider::compare_and_set): answers the new version.
    CompareAndSet {
        /// The store.
        store_id: &'a str,
        /// The key.
        key: &'a str,
        /// The state the key must be in.
        expected: Expected,
        /// The value.
        value: &'a [u8],
    },
    /// [`Provider::compare_and_delete`](crate::Provider::compare_and_delete): answers 0.
    CompareAndDelete {
        /// The store.
        store_id: &'a str,
        /// The key.
        key: &'a str,
        /// The version the key must be at.
        version: u64,
    },
}

impl KeyWrite<'_> {
    /// The store the call writes to.
    pub fn store_id(&self) -> &str {
        match self {
            KeyWrite::Set { store_id, .. }
            | KeyWrite::Delete { store_id, .. }
            | KeyWrite::CompareAndSet { store_id, .. }
            | KeyWrite::CompareAndDelete { store_id, .. } => store_id,
        }
    }

    /// The key the call writes.
    pub fn key(&self) -> &str {
        match self {
            KeyWrite::Set { key, .. }
            | KeyWrite::Delete { key, .. }
            | KeyWrite::CompareAndSet { key, .. }
            | KeyWrite::CompareAndDelete { key, .. } => key,
        }
    }

    /// Runs the call on its own through `provider`'s single-call method;
    /// the answer `write_keys` gives for it.
    pub fn run_alone<P: crate::Provider + ?Sized>(
        &self,
        provider: &P,
    ) -> crate::ProviderResult<u64> {
        match *self {
            KeyWrite::Set {
                store_id,
                key,
                value,
            } => provider.set(store_id, key, value),
            KeyWrite::Delete { store_id, key } => provider.delete(store_id, key).map(u64::from),
            KeyWrite::CompareAndSet {
                store_id,
                key,
                expected,
                value,
            } => provider.compare_and_set(store_id, key, expected, value),
            KeyWrite::CompareAndDelete {
                store_id,
                key,
                version,
            } => provider
                .compare_and_delete(store_id, key, version)
                .map(|()| 0),
        }
    }
}

/// provider-api 0.1: one operation of an atomic transaction, borrowed
/// from the caller (see [`crate::WriteOp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOpRef<'a> {
    /// Write `value` under `key`.
    Put {
        /// The key.
        key: &'a str,
        /// The value.
        value: &'a [u8],
    },
    /// Remove `key` if present.
    Delete {
        /// The key.
        key: &'a str,
    },
    /// Require `key` to be in the `expected` state; checked before any write.
    Check {
        /// The key.
        key: &'a str,
        /// The required state.
        expected: Expected,
    },
}

impl<'a> TxnOpRef<'a> {
    /// The same operation in the one write form.
    pub fn as_write(&self) -> WriteOp<'a> {
        match *self {
            TxnOpRef::Put { key, value } => WriteOp::put(key, value),
            TxnOpRef::Delete { key } => WriteOp::delete(key),
            TxnOpRef::Check { key, expected } => WriteOp::check(key, expected),
        }
    }

    /// The key the operation names.
    pub fn key(&self) -> &str {
        match self {
            TxnOpRef::Put { key, .. } | TxnOpRef::Delete { key } | TxnOpRef::Check { key, .. } => {
                key
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_wire_form_of_a_check_round_trips() {
        for e in [
            Expected::Absent,
            Expected::Version(1),
            Expected::Version(u64::MAX),
        ] {
            assert_eq!(expected_from_wire(expected_to_wire(e)), e);
        }
    }
}
