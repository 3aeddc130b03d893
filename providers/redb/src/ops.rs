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

/// The keys one write changed, framed in one buffer:
/// `[key length u32][key][prior u64][version u64]`, 0 for none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChangeLog(Vec<u8>);

impl ChangeLog {
    /// Records one change.
    pub(crate) fn push(&mut self, change: KeyChange<'_>) {
        // Keys are at most max_key_bytes (a u32) long.
        self.0
            .extend_from_slice(&(change.key.len() as u32).to_le_bytes());
        self.0.extend_from_slice(change.key.as_bytes());
        self.0
            .extend_from_slice(&change.prior.unwrap_or(0).to_le_bytes());
        self.0
            .extend_from_slice(&change.version.unwrap_or(0).to_le_bytes());
    }

    /// Hands every change to `sink`, in order.
    pub(crate) fn replay(&self, sink: &mut dyn FnMut(KeyChange<'_>)) {
        let mut rest = self.0.as_slice();
        // Frames are written whole by `push`, so each read finds its bytes.
        while let Some((len, tail)) = split_u32(rest) {
            let Some(key) = tail.get(..len).and_then(|k| std::str::from_utf8(k).ok()) else {
                return;
            };
            let (Some(prior), Some(version)) = (u64_at(tail, len), u64_at(tail, len + 8)) else {
                return;
            };
            sink(KeyChange {
                key,
                prior: (prior != 0).then_some(prior),
                version: (version != 0).then_some(version),
            });
            rest = &tail[len + 16..];
        }
    }
}

fn split_u32(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let head: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    Some((u32::from_le_bytes(head) as usize, &bytes[4..]))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
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
