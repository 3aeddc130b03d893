//! Writes as data, so that a group commit can run the writes of many
//! threads in one transaction: borrowed when the caller runs its own write,
//! owned only while it waits in the queue; and what each write changed,
//! kept until its transaction is committed.

use stateplug_provider_api::{Expected, KeyChange, WriteOp};

/// One write (the operations of one caller on one store), owning its data.
#[derive(Debug, Clone)]
pub(crate) struct OwnedWrite {
    pub(crate) store_id: String,
    ops: Vec<OwnedOp>,
}

#[derive(Debug, Clone)]
enum OwnedOp {
    Put(String, Vec<u8>),
    PutExpiring(String, Vec<u8>, u64),
    Delete(String),
    Check(String, Expected),
    Clear,
}

impl OwnedWrite {
    /// A copy of `ops` on `store_id`.
    pub(crate) fn new(store_id: &str, ops: &[WriteOp<'_>]) -> Self {
        let ops = ops
            .iter()
            .filter_map(|op| {
                Some(match *op {
                    WriteOp::Put { key, value } => OwnedOp::Put(key.into(), value.into()),
                    WriteOp::PutExpiring {
                        key,
                        value,
                        expires_at_ms,
                    } => OwnedOp::PutExpiring(key.into(), value.into(), expires_at_ms),
                    WriteOp::Delete { key } => OwnedOp::Delete(key.into()),
                    WriteOp::Check { key, expected } => OwnedOp::Check(key.into(), expected),
                    WriteOp::Clear => OwnedOp::Clear,
                    // Operations this version does not know are refused by the
                    // adapter before the provider runs.
                    _ => return None,
                })
            })
            .collect();
        OwnedWrite {
            store_id: store_id.to_owned(),
            ops,
        }
    }

    /// The operations, borrowed.
    pub(crate) fn ops(&self) -> Vec<WriteOp<'_>> {
        self.ops
            .iter()
            .map(|op| match op {
                OwnedOp::Put(k, v) => WriteOp::put(k, v),
                OwnedOp::PutExpiring(k, v, at) => WriteOp::put_expiring(k, v, *at),
                OwnedOp::Delete(k) => WriteOp::delete(k),
                OwnedOp::Check(k, e) => WriteOp::check(k, *e),
                OwnedOp::Clear => WriteOp::Clear,
            })
            .collect()
    }
}

/// The keys one write changed: the keys end to end in one string, and per
/// change where its key ends, its prior version and its new one (0 for
/// none). Reading a change back slices the string at ends it recorded
/// itself, so no key is checked or parsed again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChangeLog {
    keys: String,
    changes: Vec<(usize, u64, u64)>,
}

impl ChangeLog {
    /// Records one change.
    pub(crate) fn push(&mut self, change: KeyChange<'_>) {
        self.keys.push_str(change.key);
        self.changes.push((
            self.keys.len(),
            change.prior.unwrap_or(0),
            change.version.unwrap_or(0),
        ));
    }

    /// Hands every change to `sink`, in order.
    pub(crate) fn replay(&self, sink: &mut dyn FnMut(KeyChange<'_>)) {
        let mut start = 0;
        for &(end, prior, version) in &self.changes {
            sink(KeyChange {
                key: &self.keys[start..end],
                prior: (prior != 0).then_some(prior),
                version: (version != 0).then_some(version),
            });
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_log_replays_what_was_pushed() {
        let mut log = ChangeLog::default();
        let changes = [
            KeyChange {
                key: "a",
                prior: None,
                version: Some(3),
            },
            KeyChange {
                key: "ключ",
                prior: Some(2),
                version: None,
            },
        ];
        for c in changes {
            log.push(c);
        }
        let mut seen = Vec::new();
        log.replay(&mut |c| seen.push((c.key.to_string(), c.prior, c.version)));
        assert_eq!(
            seen,
            [
                ("a".to_string(), None, Some(3)),
                ("ключ".to_string(), Some(2), None)
            ]
        );
    }

    #[test]
    fn an_owned_write_gives_back_its_operations() {
        let ops = [
            WriteOp::check("a", Expected::Absent),
            WriteOp::put("a", b"1"),
            WriteOp::put_expiring("c", b"2", 1_700_000_000_000),
            WriteOp::delete("b"),
            WriteOp::Clear,
        ];
        assert_eq!(
            OwnedWrite::new("s", &ops).ops(),
            ops,
            "no operation is lost"
        );
    }
}
