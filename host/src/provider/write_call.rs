//! One `write` call across the boundary: writes in their wire form, and
//! the provider's answers read back into [`Written`]s.

use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RVec};
use stateplug_provider_api::{
    ffi::{visit_framed_changes, FfiProviderBox, FfiWriteOp, FfiWriteUnit},
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
    pub(crate) fn wire(&self) -> Vec<FfiWriteOp<'_>> {
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
        let unit = FfiWriteUnit {
            store_id: self.store_id.as_str().into(),
            ops: RSlice::from_slice(&wire),
        };
        only_answer(write_units(ffi, std::slice::from_ref(&unit)))
    }
}

/// The answer of a call that wrote one unit.
fn only_answer(mut answers: Vec<Answer>) -> Answer {
    answers
        .pop()
        .unwrap_or_else(|| RErr(ProviderError::internal("a write lost its answer")))
}

/// Writes `ops` to `store_id` through one `write` call, on this thread.
pub(crate) fn write_one(ffi: &FfiProviderBox, store_id: &str, ops: &[WriteOp<'_>]) -> Answer {
    let wire: Vec<FfiWriteOp<'_>> = ops.iter().map(FfiWriteOp::from_op).collect();
    let unit = FfiWriteUnit {
        store_id: store_id.into(),
        ops: RSlice::from_slice(&wire),
    };
    only_answer(write_units(ffi, std::slice::from_ref(&unit)))
}

/// Writes each unit (independent writes, committed together by a
/// provider that groups them) through one `write` call; one answer per
/// unit, in order.
pub(crate) fn write_units(ffi: &FfiProviderBox, units: &[FfiWriteUnit<'_>]) -> Vec<Answer> {
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
    let whole = visit_framed_changes(&changes, |unit, change| {
        // Changes of a unit that failed are not its answer.
        if let Some(ROk(w)) = written.get_mut(unit as usize) {
            w.push(change);
        }
    });
    if !whole {
        let err = ProviderError::internal(
            "the provider answered a write with malformed change frames (cut short, or a key \
             that is not UTF-8); the write itself may have been applied",
        );
        return vec![RErr(err); units.len()];
    }
    written
}
