//! One `write` call across the boundary: writes in their wire form, and
//! the provider's answers read back into [`Written`]s.

use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RVec};
use smallvec::SmallVec;
use stateplug_provider_api::{
    ffi::{FfiProviderBox, FfiWriteOp, FfiWriteUnit, FramedChanges, WRITE_PUT, WRITE_PUT_EXPIRING},
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
        [ROk(revision)] if puts_unwritten(unit, *revision) => return RErr(unwritten_puts()),
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

/// Whether an answer of `revision` to `unit` acknowledges puts it did not
/// write: every put gets a version, so a write holding one is never
/// answered at revision 0.
fn puts_unwritten(unit: &FfiWriteUnit<'_>, revision: u64) -> bool {
    revision == 0
        && unit
            .ops
            .iter()
            .any(|op| matches!(op.tag, WRITE_PUT | WRITE_PUT_EXPIRING))
}

/// Why an answer of revision 0 to a write with puts is refused.
fn unwritten_puts() -> ProviderError {
    ProviderError::internal(
        "the provider acknowledged a write with puts at revision 0, which means it wrote \
         none of them (every put gets a version); the write is refused so that no caller \
         takes it as stored: this is a defect of the provider, report it to its authors",
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
        .zip(units)
        .map(|(answer, unit)| match answer {
            ROk(revision) if puts_unwritten(unit, revision) => RErr(unwritten_puts()),
            answer => answer.map(Written::new),
        })
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use stateplug_provider_api::{
        export, Capabilities, CapabilityFlags, ChangeSink, Entry, OpenContext, Provider,
        ProviderResult, WriteOp,
    };

    use super::ProviderError;
    use crate::store::ErrorKind;

    /// Writes nothing and answers every write at revision 0: a provider
    /// that loses puts. With `HONEST` set it answers a write with puts at
    /// revision 1, as a real first write would.
    struct ForgetfulProvider;

    static HONEST: AtomicBool = AtomicBool::new(false);

    impl Provider for ForgetfulProvider {
        const NAME: &'static str = "forgetful";
        const CAPABILITIES: Capabilities = Capabilities::new(CapabilityFlags::ATOMIC_BATCHES);

        fn open(_: &str) -> ProviderResult<Self> {
            Ok(ForgetfulProvider)
        }

        fn get_entry(&self, _: &str, _: &str) -> ProviderResult<Option<Entry>> {
            Ok(None)
        }

        fn write(&self, _: &str, ops: &[WriteOp<'_>], _: ChangeSink<'_>) -> ProviderResult<u64> {
            let puts = ops.iter().any(|op| op.as_put().is_some());
            Ok(u64::from(puts && HONEST.load(Ordering::SeqCst)))
        }

        fn list_keys(&self, _: &str) -> ProviderResult<Vec<String>> {
            Ok(Vec::new())
        }

        fn store_exists(&self, _: &str) -> ProviderResult<bool> {
            Ok(false)
        }

        fn key_count(&self, _: &str) -> ProviderResult<u64> {
            Ok(0)
        }
    }

    fn open(config: &str) -> Result<stateplug_provider_api::ffi::FfiProviderBox, ProviderError> {
        export::open_in_process::<ForgetfulProvider>(config, &OpenContext::READ_WRITE, "0.0.0")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn puts_acknowledged_at_revision_zero_are_refused_as_not_written() {
        let store = crate::provider::open_in_process(open, &serde_json::json!({})).unwrap();
        for write in [
            store.set("s", "k", b"v").await,
            store
                .set_many("s", vec![("a".into(), b"1".to_vec()), ("b".into(), vec![])])
                .await,
        ] {
            let err = write.expect_err("a put answered at revision 0 was not written");
            assert_eq!(err.kind(), ErrorKind::INTERNAL, "{err}");
            assert!(err.to_string().contains("wrote none of them"), "{err}");
        }
        // A write without puts may change nothing and answer 0.
        assert!(!store.delete("s", "missing").await.unwrap());
        HONEST.store(true, Ordering::SeqCst);
        assert_eq!(store.set("s", "k", b"v").await.unwrap(), 1);
    }
}
