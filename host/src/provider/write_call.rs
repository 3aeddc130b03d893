//! One `write` call across the boundary: writes in their wire form, and
//! the provider's answers read back into [`Written`]s.

use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RVec};
use smallvec::SmallVec;
use stateplug_provider_api::{
    ffi::{FfiProviderBox, FfiWriteOp, FfiWriteUnit, FramedChanges},
    ProviderError, WriteOp,
};

use crate::store::Written;

/// A provider's answer to one write.
pub(crate) type Answer = RResult<Written, ProviderError>;

/// A write owning its data, for when it must outlive its caller's borrow
/// (it waits in a group, or runs on another thread).
pub(crate) struct OwnedWrite {
    store_id: String,
    ops: Vec<OwnedOp>,
}

struct OwnedOp {
    tag: u8,
    key: String,
    value: Vec<u8>,
    arg: u64,
}

impl OwnedWrite {
    /// A copy of `ops` on `store_id`.
    pub(crate) fn new(store_id: &str, ops: &[WriteOp<'_>]) -> Self {
        let ops = ops
            .iter()
            .map(|op| {
                let wire = FfiWriteOp::from_op(op);
                OwnedOp {
                    tag: wire.tag,
                    key: wire.key.as_str().to_owned(),
                    value: wire.value.as_slice().to_vec(),
                    arg: wire.arg,
                }
            })
            .collect();
        OwnedWrite {
            store_id: store_id.to_owned(),
            ops,
        }
    }

    /// The operations in wire form, borrowing from `self`.
    pub(crate) fn wire(&self) -> WireOps<'_> {
        self.ops
            .iter()
            .map(|op| FfiWriteOp {
                tag: op.tag,
                key: op.key.as_str().into(),
                value: op.value.as_slice().into(),
                arg: op.arg,
            })
            .collect()
    }

    /// The store written to.
    pub(crate) fn store_id(&self) -> &str {
        &self.store_id
    }

    /// Writes it through one `write` call, on this thread.
    pub(crate) fn run(&self, ffi: &FfiProviderBox) -> Answer {
        let wire = self.wire();
        write_unit(ffi, &unit_of(self.store_id(), &wire))
    }
}

/// A write's operations in wire form, held inline up to the size of the
/// everyday writes.
pub(crate) type WireOps<'a> = SmallVec<[FfiWriteOp<'a>; 8]>;

/// Writes `ops` to `store_id` through one `write` call, on this thread.
pub(crate) fn write_one(ffi: &FfiProviderBox, store_id: &str, ops: &[WriteOp<'_>]) -> Answer {
    let wire: WireOps<'_> = ops.iter().map(FfiWriteOp::from_op).collect();
    write_unit(ffi, &unit_of(store_id, &wire))
}

/// The unit of `ops` on `store_id`, in wire form.
pub(crate) fn unit_of<'a>(store_id: &'a str, ops: &'a [FfiWriteOp<'a>]) -> FfiWriteUnit<'a> {
    FfiWriteUnit {
        store_id: store_id.into(),
        ops: RSlice::from_slice(ops),
    }
}

/// Writes one unit through one `write` call; the provider's framed changes
/// become the answer as they are, after one check.
fn write_unit(ffi: &FfiProviderBox, unit: &FfiWriteUnit<'_>) -> Answer {
    // Room for one change frame per operation: no growth for a put or delete.
    let framed: usize = unit.ops.iter().map(|op| 24 + op.key.len()).sum();
    let mut changes = RVec::with_capacity(framed);
    let mut answers = RVec::with_capacity(1);
    if let RErr(err) = ffi.write(RSlice::from_ref(unit), &mut changes, &mut answers) {
        return RErr(err);
    }
    let revision = match answers.as_slice() {
        [ROk(revision)] => *revision,
        [RErr(err)] => return RErr(err.clone()),
        more => {
            return RErr(ProviderError::internal(format!(
                "the provider answered {} of 1 writes",
                more.len()
            )))
        }
    };
    match Written::from_frames(revision, changes) {
        Some(written) => ROk(written),
        None => RErr(malformed_changes()),
    }
}

/// Why an answer's changes cannot be read.
fn malformed_changes() -> ProviderError {
    ProviderError::internal(
        "the provider answered a write with malformed change frames (cut short, a key that \
         is not UTF-8, or a change of a write it was not given); the write itself may have \
         been applied",
    )
}

/// Writes each unit (independent writes, committed together by a
/// provider that groups them) through one `write` call; one answer per
/// unit, in order.
pub(crate) fn write_units(ffi: &FfiProviderBox, units: &[FfiWriteUnit<'_>]) -> Vec<Answer> {
    if let [unit] = units {
        return vec![write_unit(ffi, unit)];
    }
    let mut changes = RVec::new();
    let mut answers = RVec::with_capacity(units.len());
    if let RErr(err) = ffi.write(RSlice::from_slice(units), &mut changes, &mut answers) {
        return vec![RErr(err); units.len()];
    }
    if answers.len() != units.len() {
        let err = ProviderError::internal(format!(
            "the provider answered {} of {} writes",
            answers.len(),
            units.len()
        ));
        return vec![RErr(err); units.len()];
    }
    let mut written: Vec<Answer> = answers
        .into_iter()
        .map(|answer| answer.map(Written::new))
        .collect();
    let mut frames = FramedChanges::new(&changes);
    for (unit, change) in frames.by_ref() {
        match written.get_mut(unit as usize) {
            Some(ROk(w)) => w.push(change),
            // Changes of a unit that failed are not its answer.
            Some(RErr(_)) => {}
            None => return vec![RErr(malformed_changes()); units.len()],
        }
    }
    if frames.malformed() {
        return vec![RErr(malformed_changes()); units.len()];
    }
    let acknowledged = written.iter().filter(|w| w.is_ok()).count();
    let mut first = true;
    for w in written
        .iter_mut()
        .filter_map(|w| w.as_mut().ok().into_option())
    {
        w.set_commit_writes(if first { acknowledged as u32 } else { 0 });
        first = false;
    }
    written
}
