//! [`Exported`]: a plain [`Provider`] seen through the ABI. Every entry
//! point runs inside `catch_unwind` (a provider panic becomes an error of
//! kind `PANIC`, never an unwind into the host), input is checked against
//! the declared limits and capabilities before the provider sees it, and
//! every write reaches the provider as the one write form
//! ([`Provider::write`], [`Provider::write_group`]), also the write calls of
//! a host built against provider-api 0.1.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RErr, ROk, ROption, RSlice, RStr, RString, RVec},
};

use crate::{
    ffi::{
        frame_change, frame_row, unit_ops, FfiChangePage, FfiChangeRecord, FfiEntry,
        FfiHistoryEntry, FfiKeyEntry, FfiKeyValue, FfiKeyWrite, FfiPage, FfiProvider,
        FfiProviderBox, FfiProvider_TO, FfiResult, FfiScan, FfiTxnOp, FfiWriteUnit, WriteOps,
        INTERFACE_VERSION, KEY_COMPARE_AND_DELETE, KEY_COMPARE_AND_SET, KEY_DELETE, KEY_SET,
        TXN_CHECK, TXN_DELETE, TXN_PUT,
    },
    legacy::expected_from_wire,
    Capabilities, CapabilityFlags, Entry, Expected, KeyChange, Provider, ProviderError,
    ProviderInfo, ProviderResult, ScanRef, WriteOp, WriteUnit,
};

/// Runs `f`, turning a panic into a `PANIC` error.
pub(super) fn guard<T>(f: impl FnOnce() -> ProviderResult<T>) -> FfiResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => ROk(v),
        Ok(Err(e)) => RErr(e),
        Err(payload) => RErr(ProviderError::from_panic(&*payload)),
    }
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

/// The capability a write of this shape needs, and the operation named in
/// the refusal: a single put or delete, puts only, deletes only, or a lone
/// clear need none; a check with one put or delete of its key is a
/// compare-and-set; anything else is a transaction.
fn needed_by(ops: &[WriteOp<'_>]) -> Option<(CapabilityFlags, &'static str)> {
    let all = |f: fn(&WriteOp<'_>) -> bool| ops.iter().all(f);
    if all(|op| op.as_put().is_some()) || all(|op| matches!(op, WriteOp::Delete { .. })) {
        return None;
    }
    match ops {
        [WriteOp::Clear] => None,
        [WriteOp::Check { key, .. }, WriteOp::Put { key: k, .. }
        | WriteOp::PutExpiring { key: k, .. }
        | WriteOp::Delete { key: k }]
            if key == k =>
        {
            Some((CapabilityFlags::COMPARE_AND_SET, "compare_and_set"))
        }
        _ => Some((CapabilityFlags::TRANSACTIONS, "transaction")),
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

    /// A feed call needs a change feed or an expiry feed.
    fn require_feed(&self, operation: &str) -> ProviderResult<()> {
        if self.caps.has(CapabilityFlags::EXPIRY_FEED) {
            return Ok(());
        }
        self.require(CapabilityFlags::CHANGE_FEED, operation)
    }

    fn check(&self, store_id: &str, key: &str) -> ProviderResult<()> {
        self.caps.limits.check_store_id(store_id)?;
        self.caps.limits.check_key(key)
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

    /// The checks a write passes before the provider sees it: limits,
    /// version 0, and the capability its shape needs.
    fn admit(&self, store_id: &str, ops: &[WriteOp<'_>]) -> ProviderResult<()> {
        let limits = &self.caps.limits;
        limits.check_store_id(store_id)?;
        limits.check_batch(ops.len())?;
        if let Some((flag, operation)) = needed_by(ops) {
            self.require(flag, operation)?;
        }
        for op in ops {
            match *op {
                WriteOp::Put { key, value } => {
                    limits.check_key(key)?;
                    limits.check_value(key, value)?;
                }
                WriteOp::PutExpiring { key, value, .. } => {
                    self.require(CapabilityFlags::TTL, "a put with a time to live")?;
                    limits.check_key(key)?;
                    limits.check_value(key, value)?;
                }
                WriteOp::Delete { key } => limits.check_key(key)?,
                WriteOp::Check { key, expected } => {
                    limits.check_key(key)?;
                    crate::write::check_expected(key, expected)?;
                }
                WriteOp::Clear => {}
            }
        }
        Ok(())
    }

    /// One write through [`Provider::write`], after the checks; returns
    /// its revision and how many keys it changed.
    fn write_one(&self, store_id: &str, ops: &[WriteOp<'_>]) -> ProviderResult<(u64, u64)> {
        self.admit(store_id, ops)?;
        let mut changed = 0u64;
        let revision = self.inner.write(store_id, ops, &mut |_| changed += 1)?;
        Ok((revision, changed))
    }

    /// Admitted units go to the provider (alone through `write`, several
    /// through `write_group`); refused ones are answered here. The answer of
    /// each unit, in order; the changes of the applied ones go to `changed`.
    fn write_units(
        &self,
        units: &[(&str, ProviderResult<WriteOps<'_>>)],
        changed: &mut dyn FnMut(usize, KeyChange<'_>),
    ) -> Vec<ProviderResult<u64>> {
        let mut answers: Vec<Option<ProviderResult<u64>>> = Vec::with_capacity(units.len());
        let mut admitted: Vec<WriteUnit<'_>> = Vec::with_capacity(units.len());
        let mut positions = Vec::with_capacity(units.len());
        for (at, (store_id, ops)) in units.iter().enumerate() {
            let admission = match ops {
                Ok(ops) => self.admit(store_id, ops).map(|()| ops),
                Err(e) => Err(e.clone()),
            };
            match admission {
                Ok(ops) => {
                    admitted.push(WriteUnit { store_id, ops });
                    positions.push(at);
                    answers.push(None);
                }
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        let results = match admitted.as_slice() {
            [] => Vec::new(),
            [one] => {
                let at = positions[0];
                vec![self
                    .inner
                    .write(one.store_id, one.ops, &mut |c| changed(at, c))]
            }
            group => self
                .inner
                .write_group(group, &mut |i, c| changed(positions[i], c)),
        };
        let mut results = results.into_iter();
        answers
            .into_iter()
            .map(|answer| {
                answer.unwrap_or_else(|| {
                    results.next().unwrap_or_else(|| {
                        Err(ProviderError::internal(
                            "write_group answered fewer writes than it was given",
                        ))
                    })
                })
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
            let mut out = None;
            self.inner
                .read(&store_id, &key, &mut |bytes| out = Some(RVec::from(bytes)))?;
            Ok(out.into())
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
            let op = WriteOp::put(key.as_str(), value.as_slice());
            Ok(self.write_one(&store_id, &[op])?.0)
        })
    }

    fn delete(&self, store_id: RStr<'_>, key: RStr<'_>) -> FfiResult<bool> {
        guard(|| {
            Ok(self
                .write_one(&store_id, &[WriteOp::delete(key.as_str())])?
                .1
                > 0)
        })
    }

    fn contains_key(&self, store_id: RStr<'_>, key: RStr<'_>) -> FfiResult<bool> {
        guard(|| {
            self.check(&store_id, &key)?;
            self.inner.read(&store_id, &key, &mut |_| {})
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
            let ops: Vec<WriteOp<'_>> = entries
                .iter()
                .map(|kv| WriteOp::put(kv.key.as_str(), kv.value.as_slice()))
                .collect();
            Ok(self.write_one(&store_id, &ops)?.0)
        })
    }

    fn delete_many(&self, store_id: RStr<'_>, keys: RSlice<'_, RStr<'_>>) -> FfiResult<u64> {
        guard(|| {
            let ops: Vec<WriteOp<'_>> = keys.iter().map(|k| WriteOp::delete(k.as_str())).collect();
            Ok(self.write_one(&store_id, &ops)?.1)
        })
    }

    fn clear_store(&self, store_id: RStr<'_>) -> FfiResult<u64> {
        guard(|| Ok(self.write_one(&store_id, &[WriteOp::Clear])?.1))
    }

    fn expiries(&self, store_id: RStr<'_>, keys: RSlice<'_, RStr<'_>>) -> FfiResult<RVec<u64>> {
        guard(|| {
            self.require(CapabilityFlags::TTL, "expiries")?;
            let keys = self.check_keys(&store_id, &keys)?;
            let found = self.inner.expiries(&store_id, &keys)?;
            if found.len() != keys.len() {
                return Err(ProviderError::internal(format!(
                    "provider {} answered expiries of {} keys with {} results",
                    P::NAME,
                    keys.len(),
                    found.len()
                )));
            }
            Ok(found.into_iter().map(|at| at.unwrap_or(0)).collect())
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
            let key = key.as_str();
            let ops = [
                WriteOp::check(key, expected_from_wire(expected)),
                WriteOp::put(key, value.as_slice()),
            ];
            Ok(self.write_one(&store_id, &ops)?.0)
        })
    }

    fn compare_and_delete(&self, store_id: RStr<'_>, key: RStr<'_>, version: u64) -> FfiResult<()> {
        guard(|| {
            let key = key.as_str();
            let ops = [
                WriteOp::check(key, Expected::Version(version)),
                WriteOp::delete(key),
            ];
            self.write_one(&store_id, &ops).map(drop)
        })
    }

    fn transaction(&self, store_id: RStr<'_>, ops: RSlice<'_, FfiTxnOp<'_>>) -> FfiResult<u64> {
        guard(|| {
            self.require(CapabilityFlags::TRANSACTIONS, "transaction")?;
            let ops = ops
                .iter()
                .map(|op| txn_op(op))
                .collect::<ProviderResult<Vec<_>>>()?;
            Ok(self.write_one(&store_id, &ops)?.0)
        })
    }

    fn scan(&self, store_id: RStr<'_>, scan: FfiScan<'_>) -> FfiResult<FfiPage> {
        guard(|| {
            self.require(CapabilityFlags::ORDERED_SCANS, "scan")?;
            self.caps.limits.check_store_id(&store_id)?;
            self.caps.limits.check_scan_limit(scan.limit)?;
            let page = self.inner.scan(&store_id, scan_ref(&scan))?;
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
            self.require_feed("change_head")?;
            self.inner.change_head()
        })
    }

    fn wait_changes(&self, after: u64, limit: u32, timeout_ms: u32) -> FfiResult<FfiChangePage> {
        guard(|| {
            self.require_feed("wait_changes")?;
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
            out.clear();
            let next = self.inner.scan_visit_bytes(
                &store_id,
                scan_ref(&scan),
                &mut |key, version, value| frame_row(out, key, version, value),
            )?;
            Ok(next.map(RString::from).into())
        })
    }

    fn write_keys(
        &self,
        calls: RSlice<'_, FfiKeyWrite<'_>>,
        out: &mut RVec<FfiResult<u64>>,
    ) -> FfiResult<()> {
        guard(|| {
            // Each old call is a write of one or two operations.
            let units: Vec<(&str, ProviderResult<WriteOps<'_>>)> = calls
                .iter()
                .map(|call| (call.store_id.as_str(), key_write_ops(call)))
                .collect();
            let mut existed = vec![0u64; calls.len()];
            let answers = self.write_units(&units, &mut |at, _| existed[at] += 1);
            out.clear();
            for ((call, answer), existed) in calls.iter().zip(answers).zip(existed) {
                // The old calls answer: set and compare-and-set the version,
                // delete whether the key existed, compare-and-delete 0.
                let answer = answer.map(|revision| match call.kind {
                    KEY_DELETE => u64::from(existed > 0),
                    KEY_COMPARE_AND_DELETE => 0,
                    _ => revision,
                });
                out.push(answer.into());
            }
            Ok(())
        })
    }

    fn write(
        &self,
        units: RSlice<'_, FfiWriteUnit<'_>>,
        changes: &mut RVec<u8>,
        answers: &mut RVec<FfiResult<u64>>,
    ) -> FfiResult<()> {
        guard(|| {
            changes.clear();
            answers.clear();
            if let [unit] = units.as_slice() {
                // One write, the everyday case: straight to `Provider::write`.
                let store_id = unit.store_id.as_str();
                let result = unit_ops(unit).and_then(|ops| {
                    self.admit(store_id, &ops)?;
                    self.inner.write(store_id, &ops, &mut |change| {
                        frame_change(changes, 0, change)
                    })
                });
                answers.push(result.into());
                return Ok(());
            }
            let decoded: Vec<(&str, ProviderResult<WriteOps<'_>>)> = units
                .iter()
                .map(|unit| (unit.store_id.as_str(), unit_ops(unit)))
                .collect();
            // Changes are framed as they come; those of a unit that then
            // failed are dropped by the host, which reads its answer first.
            let results = self.write_units(&decoded, &mut |at, change| {
                frame_change(changes, at as u32, change)
            });
            for result in results {
                answers.push(result.into());
            }
            Ok(())
        })
    }
}

/// The plain operation of a 0.1 transaction operation.
fn txn_op<'a>(op: &FfiTxnOp<'a>) -> ProviderResult<WriteOp<'a>> {
    let key = op.key.as_str();
    Ok(match op.tag {
        TXN_PUT => WriteOp::put(key, op.value.as_slice()),
        TXN_DELETE => WriteOp::delete(key),
        TXN_CHECK => WriteOp::check(key, expected_from_wire(op.expected)),
        tag => {
            return Err(ProviderError::unsupported(format!(
                "transaction operation tag {tag} is unknown to this provider's interface \
                 (provider-api {INTERFACE_VERSION}); rebuild the provider against the host's \
                 provider-api"
            )))
        }
    })
}

/// The operations of one call of a 0.1 `write_keys` group.
fn key_write_ops<'a>(call: &FfiKeyWrite<'a>) -> ProviderResult<WriteOps<'a>> {
    let key = call.key.as_str();
    let value = call.value.as_slice();
    Ok(match call.kind {
        KEY_SET => smallvec::smallvec![WriteOp::put(key, value)],
        KEY_DELETE => smallvec::smallvec![WriteOp::delete(key)],
        KEY_COMPARE_AND_SET => smallvec::smallvec![
            WriteOp::check(key, expected_from_wire(call.expected)),
            WriteOp::put(key, value),
        ],
        KEY_COMPARE_AND_DELETE => smallvec::smallvec![
            WriteOp::check(key, Expected::Version(call.expected)),
            WriteOp::delete(key),
        ],
        other => {
            return Err(ProviderError::invalid_argument(format!(
                "unknown write kind {other} in a write_keys group; the host is newer than \
                 this provider's interface"
            )))
        }
    })
}

pub(super) fn info_of<P: Provider>(version: &str) -> ProviderInfo {
    ProviderInfo {
        name: P::NAME.into(),
        version: version.into(),
        interface_version: INTERFACE_VERSION.into(),
    }
}

/// Wraps an opened provider for use in the host's own process, through the
/// same adapter a loaded library uses (checks, panic guard, conversions).
pub fn in_process<P: Provider>(provider: P, version: &str) -> FfiProviderBox {
    let mut caps = provider.capabilities();
    caps.limits = caps.limits.framable();
    FfiProvider_TO::from_value(
        Exported {
            inner: provider,
            caps,
            info: info_of::<P>(version),
        },
        TD_Opaque,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_needs_the_capability_its_shape_needs() {
        let cas = Some((CapabilityFlags::COMPARE_AND_SET, "compare_and_set"));
        let txn = Some((CapabilityFlags::TRANSACTIONS, "transaction"));
        let put = WriteOp::put("a", b"1");
        let del = WriteOp::delete("a");
        let check = WriteOp::check("a", Expected::Absent);
        assert_eq!(needed_by(&[]), None);
        assert_eq!(needed_by(&[put, WriteOp::put("b", b"")]), None);
        assert_eq!(needed_by(&[del, WriteOp::delete("b")]), None);
        assert_eq!(needed_by(&[WriteOp::Clear]), None);
        assert_eq!(needed_by(&[check, put]), cas);
        assert_eq!(needed_by(&[check, del]), cas);
        assert_eq!(needed_by(&[check, WriteOp::put("b", b"")]), txn);
        assert_eq!(needed_by(&[check]), txn);
        assert_eq!(needed_by(&[put, del]), txn);
        assert_eq!(needed_by(&[WriteOp::Clear, put]), txn);
    }
}
