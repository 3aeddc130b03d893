//! The one write form: a list of operations on one store, applied
//! all-or-nothing, answered with what each touched key was and became.
//!
//! A provider implements [`StoreWriter`] (five primitive steps on one
//! store inside one of its write transactions) and calls [`apply`], which
//! holds the logic every provider must get right the same way: every check
//! first, create-if-absent, compare-and-set and compare-and-delete as
//! checks, one revision per write consumed only when something changes,
//! and the report of every changed key.

use crate::{conflict, ChangeKind, Expected, ProviderError, ProviderResult};

/// One operation of a write. A write's checks all run before any of its
/// other operations, which then run in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteOp<'a> {
    /// Writes `value` under `key`, creating or overwriting it.
    Put {
        /// The key.
        key: &'a str,
        /// The value.
        value: &'a [u8],
    },
    /// Writes `value` under `key` as [`WriteOp::Put`] does, to expire at
    /// `expires_at_ms` (unix milliseconds): from then on no read returns
    /// it, and the provider removes it in the background. Needs
    /// [`CapabilityFlags::TTL`](crate::CapabilityFlags::TTL).
    PutExpiring {
        /// The key.
        key: &'a str,
        /// The value.
        value: &'a [u8],
        /// When the key expires, in milliseconds since the unix epoch.
        expires_at_ms: u64,
    },
    /// Removes `key` if it exists.
    Delete {
        /// The key.
        key: &'a str,
    },
    /// Requires `key` to be in the `expected` state; a write whose check
    /// fails changes nothing. `Expected::Version(0)` is refused with
    /// `INVALID_ARGUMENT`: no key ever has version 0 (versions start at 1);
    /// `Expected::Absent` is create-if-absent.
    Check {
        /// The key.
        key: &'a str,
        /// The state it must be in.
        expected: Expected,
    },
    /// Removes every key of the store.
    Clear,
}

impl<'a> WriteOp<'a> {
    /// A put.
    pub fn put(key: &'a str, value: &'a [u8]) -> Self {
        WriteOp::Put { key, value }
    }

    /// A put that expires at `expires_at_ms` (unix milliseconds).
    pub fn put_expiring(key: &'a str, value: &'a [u8], expires_at_ms: u64) -> Self {
        WriteOp::PutExpiring {
            key,
            value,
            expires_at_ms,
        }
    }

    /// A delete.
    pub fn delete(key: &'a str) -> Self {
        WriteOp::Delete { key }
    }

    /// A check.
    pub fn check(key: &'a str, expected: Expected) -> Self {
        WriteOp::Check { key, expected }
    }

    /// A put's key, value and expiry (`None` for an operation that is not
    /// a put, and an expiry of `None` for a put that never expires).
    pub fn as_put(&self) -> Option<(&'a str, &'a [u8], Option<u64>)> {
        match *self {
            WriteOp::Put { key, value } => Some((key, value, None)),
            WriteOp::PutExpiring {
                key,
                value,
                expires_at_ms,
            } => Some((key, value, Some(expires_at_ms))),
            _ => None,
        }
    }

    /// The key the operation names (`None` for [`WriteOp::Clear`]).
    pub fn key(&self) -> Option<&'a str> {
        match *self {
            WriteOp::Put { key, .. }
            | WriteOp::PutExpiring { key, .. }
            | WriteOp::Delete { key }
            | WriteOp::Check { key, .. } => Some(key),
            WriteOp::Clear => None,
        }
    }
}

/// One write of a group handed to
/// [`Provider::write_group`](crate::Provider::write_group): the operations
/// of one caller on one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteUnit<'a> {
    /// The store.
    pub store_id: &'a str,
    /// Its operations, as for [`Provider::write`](crate::Provider::write).
    pub ops: &'a [WriteOp<'a>],
}

/// What a write did to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChange<'a> {
    /// The key.
    pub key: &'a str,
    /// Its version before the write (`None`: it did not exist).
    pub prior: Option<u64>,
    /// Its version after the write, the write's revision (`None`: the
    /// write removed it).
    pub version: Option<u64>,
}

impl KeyChange<'_> {
    /// What the write did to the key.
    pub fn kind(&self) -> ChangeKind {
        match (self.prior, self.version) {
            (_, None) => ChangeKind::Deleted,
            (None, Some(_)) => ChangeKind::Created,
            (Some(_), Some(_)) => ChangeKind::Updated,
        }
    }
}

/// Receives each key a write changed, in the order of its operations.
pub type ChangeSink<'s> = &'s mut dyn FnMut(KeyChange<'_>);

/// The five steps a provider performs on one store inside one of its write
/// transactions; [`apply`] composes them into a whole write.
pub trait StoreWriter {
    /// The current version of `key` (`None`: absent).
    fn version(&mut self, key: &str) -> ProviderResult<Option<u64>>;

    /// Writes `value` under `key` at `version` (the write's
    /// [`revision`](StoreWriter::revision)); returns the key's prior version.
    fn put(&mut self, key: &str, value: &[u8], version: u64) -> ProviderResult<Option<u64>>;

    /// Writes `value` under `key` at `version`, to expire at
    /// `expires_at_ms` (`None`: never, clearing any expiry the key had);
    /// returns the key's prior version. [`apply`] writes every put through
    /// here. The default writes an unexpiring put through
    /// [`put`](StoreWriter::put) and refuses an expiry with `UNSUPPORTED`;
    /// a provider that declares
    /// [`CapabilityFlags::TTL`](crate::CapabilityFlags::TTL) overrides it
    /// (and makes `put` the same with `None`).
    fn put_expiring(
        &mut self,
        key: &str,
        value: &[u8],
        version: u64,
        expires_at_ms: Option<u64>,
    ) -> ProviderResult<Option<u64>> {
        match expires_at_ms {
            None => self.put(key, value, version),
            Some(_) => Err(ProviderError::unsupported(format!(
                "put of key {key:?} carries a time to live, which this provider does not \
                 implement; write it without one"
            ))),
        }
    }

    /// Removes `key`; returns its prior version (`None`: nothing removed).
    fn delete(&mut self, key: &str) -> ProviderResult<Option<u64>>;

    /// Removes every key of the store, handing each removed key and its
    /// prior version to `removed`.
    fn clear(&mut self, removed: &mut dyn FnMut(&str, u64)) -> ProviderResult<()>;

    /// This write's revision: greater than every version the provider gave
    /// before. The first call allocates it and every later call of the same
    /// write returns the same number. [`apply`] calls it only once a change
    /// is certain, so a write that changes nothing consumes no revision; an
    /// implementation may call it itself from `delete` or `clear` once it
    /// knows a key goes (to record the deletion in a history, say).
    fn revision(&mut self) -> ProviderResult<u64>;
}

/// Why a write failed, and whether it may have changed anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteFailure {
    /// Refused before anything was written (a check failed, or an argument
    /// is invalid): the rest of the transaction is untouched, and a group
    /// can go on with its other writes.
    Refused(ProviderError),
    /// The storage failed while writing: part of the write may be applied,
    /// so the transaction holding it must be rolled back.
    Failed(ProviderError),
}

impl From<WriteFailure> for ProviderError {
    fn from(failure: WriteFailure) -> Self {
        match failure {
            WriteFailure::Refused(e) | WriteFailure::Failed(e) => e,
        }
    }
}

/// Refuses `Expected::Version(0)`, which no key ever has.
pub(crate) fn check_expected(key: &str, expected: Expected) -> ProviderResult<()> {
    if expected == Expected::Version(0) {
        return Err(ProviderError::invalid_argument(format!(
            "check of key {key:?} expects version 0, which no key ever has (versions start at 1); \
             use Expected::Absent to require that the key does not exist"
        )));
    }
    Ok(())
}

/// Applies `ops` to one store through `writer`: every check first, then
/// the other operations in order, each changed key reported to `changed`.
/// Returns the write's revision, or 0 if it changed nothing (only checks,
/// deletes of missing keys, a clear of an empty store): such a write
/// consumes no revision.
///
/// - A failed check is [`WriteFailure::Refused`] with `VERSION_CONFLICT`
///   (or `ALREADY_EXISTS` for `Expected::Absent`) naming the key and both
///   versions; nothing was written.
/// - An error of the writer is [`WriteFailure::Failed`] once writing has
///   begun (roll the transaction back), [`WriteFailure::Refused`] while
///   only checks ran.
pub fn apply(
    ops: &[WriteOp<'_>],
    writer: &mut dyn StoreWriter,
    changed: ChangeSink<'_>,
) -> Result<u64, WriteFailure> {
    for op in ops {
        if let WriteOp::Check { key, expected } = *op {
            check_expected(key, expected).map_err(WriteFailure::Refused)?;
            let current = writer.version(key).map_err(WriteFailure::Refused)?;
            if !expected.matches(current) {
                return Err(WriteFailure::Refused(conflict(key, expected, current)));
            }
        }
    }
    apply_checked(ops, writer, changed).map_err(WriteFailure::Failed)
}

/// The part of [`apply`] after the checks passed.
fn apply_checked(
    ops: &[WriteOp<'_>],
    writer: &mut dyn StoreWriter,
    changed: ChangeSink<'_>,
) -> ProviderResult<u64> {
    let mut revision = 0;
    for op in ops {
        match *op {
            WriteOp::Put { .. } | WriteOp::PutExpiring { .. } => {
                let Some((key, value, expires_at_ms)) = op.as_put() else {
                    continue;
                };
                revision = writer.revision()?;
                let prior = writer.put_expiring(key, value, revision, expires_at_ms)?;
                changed(KeyChange {
                    key,
                    prior,
                    version: Some(revision),
                });
            }
            WriteOp::Delete { key } => {
                if let Some(prior) = writer.delete(key)? {
                    revision = writer.revision()?;
                    changed(KeyChange {
                        key,
                        prior: Some(prior),
                        version: None,
                    });
                }
            }
            WriteOp::Clear => {
                let mut any = false;
                writer.clear(&mut |key, prior| {
                    any = true;
                    changed(KeyChange {
                        key,
                        prior: Some(prior),
                        version: None,
                    })
                })?;
                if any {
                    revision = writer.revision()?;
                }
            }
            WriteOp::Check { .. } => {}
        }
    }
    Ok(revision)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ErrorKind;

    /// A store as a map, with a revision counter shared by its writes.
    #[derive(Default)]
    struct Map {
        keys: BTreeMap<String, u64>,
        last: u64,
        current: Option<u64>,
        fail_puts: bool,
    }

    impl StoreWriter for Map {
        fn version(&mut self, key: &str) -> ProviderResult<Option<u64>> {
            Ok(self.keys.get(key).copied())
        }
        fn put(&mut self, key: &str, _: &[u8], version: u64) -> ProviderResult<Option<u64>> {
            if self.fail_puts {
                return Err(ProviderError::storage("disk on fire"));
            }
            Ok(self.keys.insert(key.to_string(), version))
        }
        fn delete(&mut self, key: &str) -> ProviderResult<Option<u64>> {
            Ok(self.keys.remove(key))
        }
        fn clear(&mut self, removed: &mut dyn FnMut(&str, u64)) -> ProviderResult<()> {
            for (k, v) in std::mem::take(&mut self.keys) {
                removed(&k, v);
            }
            Ok(())
        }
        fn revision(&mut self) -> ProviderResult<u64> {
            Ok(*self.current.get_or_insert_with(|| {
                self.last += 1;
                self.last
            }))
        }
    }

    impl Map {
        fn write(&mut self, ops: &[WriteOp<'_>]) -> (Result<u64, WriteFailure>, Vec<String>) {
            self.current = None;
            let mut seen = Vec::new();
            let result = apply(ops, self, &mut |c| {
                seen.push(format!("{} {:?}->{:?}", c.key, c.prior, c.version))
            });
            (result, seen)
        }
    }

    #[test]
    fn puts_share_one_revision_and_report_prior_versions() {
        let mut m = Map::default();
        let (r, seen) = m.write(&[WriteOp::put("a", b"1"), WriteOp::put("b", b"2")]);
        assert_eq!(r, Ok(1));
        assert_eq!(seen, ["a None->Some(1)", "b None->Some(1)"]);
        let (r, seen) = m.write(&[WriteOp::put("a", b"3"), WriteOp::delete("b")]);
        assert_eq!(r, Ok(2));
        assert_eq!(seen, ["a Some(1)->Some(2)", "b Some(1)->None"]);
    }

    #[test]
    fn a_write_that_changes_nothing_consumes_no_revision() {
        let mut m = Map::default();
        let (r, seen) = m.write(&[WriteOp::delete("missing"), WriteOp::Clear]);
        assert_eq!(r, Ok(0));
        assert!(seen.is_empty());
        let (r, _) = m.write(&[WriteOp::check("missing", Expected::Absent)]);
        assert_eq!(r, Ok(0));
        assert_eq!(m.write(&[WriteOp::put("a", b"")]).0, Ok(1), "no gap");
    }

    #[test]
    fn checks_run_first_and_a_failed_one_writes_nothing() {
        let mut m = Map::default();
        m.write(&[WriteOp::put("a", b"1")]).0.unwrap();
        let (r, seen) = m.write(&[
            WriteOp::put("b", b"1"),
            WriteOp::check("a", Expected::Version(7)),
        ]);
        let Err(WriteFailure::Refused(e)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(e.kind(), ErrorKind::VERSION_CONFLICT);
        assert!(seen.is_empty() && !m.keys.contains_key("b"));
        let (r, _) = m.write(&[WriteOp::check("a", Expected::Absent)]);
        assert!(
            matches!(r, Err(WriteFailure::Refused(ref e)) if e.kind() == ErrorKind::ALREADY_EXISTS)
        );
    }

    #[test]
    fn version_zero_is_refused_as_invalid_whether_or_not_the_key_exists() {
        let mut m = Map::default();
        for _ in 0..2 {
            let (r, _) = m.write(&[
                WriteOp::check("a", Expected::Version(0)),
                WriteOp::put("a", b"x"),
            ]);
            assert!(
                matches!(r, Err(WriteFailure::Refused(ref e)) if e.kind() == ErrorKind::INVALID_ARGUMENT),
                "{r:?}"
            );
            m.keys.insert("a".into(), 1);
        }
    }

    #[test]
    fn clear_reports_every_removed_key() {
        let mut m = Map::default();
        m.write(&[WriteOp::put("a", b"1"), WriteOp::put("b", b"1")])
            .0
            .unwrap();
        let (r, seen) = m.write(&[WriteOp::Clear, WriteOp::put("c", b"1")]);
        assert_eq!(r, Ok(2));
        assert_eq!(
            seen,
            ["a Some(1)->None", "b Some(1)->None", "c None->Some(2)"]
        );
    }

    #[test]
    fn a_storage_error_while_writing_is_a_failure_not_a_refusal() {
        let mut m = Map {
            fail_puts: true,
            ..Map::default()
        };
        let (r, _) = m.write(&[WriteOp::put("a", b"1")]);
        assert!(matches!(r, Err(WriteFailure::Failed(_))), "{r:?}");
    }
}
