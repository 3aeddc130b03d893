//! Write calls as data, so that a group commit can run calls from many
//! threads in one transaction. Borrowed (`Cow::Borrowed`) when the caller
//! runs its own call; made owned only when it has to wait in the queue.

use std::borrow::Cow;

use stateplug_provider_api::{conflict, Expected, ProviderResult, TxnOpRef};

use crate::writer::StoreWriter;

/// One operation of a transaction.
#[derive(Debug, Clone)]
pub(crate) enum TxnStep<'a> {
    Put(Cow<'a, str>, Cow<'a, [u8]>),
    Delete(Cow<'a, str>),
    Check(Cow<'a, str>, Expected),
}

/// One write call on one store.
#[derive(Debug, Clone)]
pub(crate) enum WriteOp<'a> {
    Set(Cow<'a, str>, Cow<'a, [u8]>),
    Delete(Cow<'a, str>),
    SetMany(Vec<(Cow<'a, str>, Cow<'a, [u8]>)>),
    DeleteMany(Vec<Cow<'a, str>>),
    Clear,
    CompareAndSet(Cow<'a, str>, Expected, Cow<'a, [u8]>),
    CompareAndDelete(Cow<'a, str>, u64),
    Transaction(Vec<TxnStep<'a>>),
}

/// What a write call answers (besides the revision it consumed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `delete`: whether the key existed.
    Existed(bool),
    /// `delete_many`, `clear_store`: how many keys were removed.
    Count(u64),
    /// Every other call: see the revision.
    Done,
}

fn owned_str(s: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(s.into_owned())
}

fn owned_bytes(b: Cow<'_, [u8]>) -> Cow<'static, [u8]> {
    Cow::Owned(b.into_owned())
}

impl<'a> WriteOp<'a> {
    /// Builds a transaction from the provider API's operations.
    pub(crate) fn transaction(ops: &[TxnOpRef<'a>]) -> Self {
        WriteOp::Transaction(
            ops.iter()
                .map(|op| match *op {
                    TxnOpRef::Put { key, value } => TxnStep::Put(key.into(), value.into()),
                    TxnOpRef::Delete { key } => TxnStep::Delete(key.into()),
                    TxnOpRef::Check { key, expected } => TxnStep::Check(key.into(), expected),
                })
                .collect(),
        )
    }

    /// The same call, owning its data.
    pub(crate) fn into_owned(self) -> WriteOp<'static> {
        match self {
            WriteOp::Set(k, v) => WriteOp::Set(owned_str(k), owned_bytes(v)),
            WriteOp::Delete(k) => WriteOp::Delete(owned_str(k)),
            WriteOp::SetMany(e) => WriteOp::SetMany(
                e.into_iter()
                    .map(|(k, v)| (owned_str(k), owned_bytes(v)))
                    .collect(),
            ),
            WriteOp::DeleteMany(k) => WriteOp::DeleteMany(k.into_iter().map(owned_str).collect()),
            WriteOp::Clear => WriteOp::Clear,
            WriteOp::CompareAndSet(k, e, v) => {
                WriteOp::CompareAndSet(owned_str(k), e, owned_bytes(v))
            }
            WriteOp::CompareAndDelete(k, v) => WriteOp::CompareAndDelete(owned_str(k), v),
            WriteOp::Transaction(steps) => WriteOp::Transaction(
                steps
                    .into_iter()
                    .map(|s| match s {
                        TxnStep::Put(k, v) => TxnStep::Put(owned_str(k), owned_bytes(v)),
                        TxnStep::Delete(k) => TxnStep::Delete(owned_str(k)),
                        TxnStep::Check(k, e) => TxnStep::Check(owned_str(k), e),
                    })
                    .collect(),
            ),
        }
    }

    /// Applies the call through `w`.
    ///
    /// Invariant the group commit relies on: a call that fails with a
    /// conflict or refused input fails before it changes anything (checks
    /// come first), so the other calls of the transaction are unaffected.
    pub(crate) fn apply(&self, w: &mut StoreWriter<'_, '_>) -> ProviderResult<Outcome> {
        match self {
            WriteOp::Set(k, v) => w.put(k, v).map(|_| Outcome::Done),
            WriteOp::Delete(k) => w.delete(k).map(Outcome::Existed),
            WriteOp::SetMany(entries) => {
                for (k, v) in entries {
                    w.put(k, v)?;
                }
                Ok(Outcome::Done)
            }
            WriteOp::DeleteMany(keys) => {
                let mut n = 0;
                for k in keys {
                    n += u64::from(w.delete(k)?);
                }
                Ok(Outcome::Count(n))
            }
            WriteOp::Clear => w.clear().map(Outcome::Count),
            WriteOp::CompareAndSet(k, expected, v) => {
                let current = w.version(k)?;
                if !expected.matches(current) {
                    return Err(conflict(k, *expected, current));
                }
                w.put(k, v).map(|_| Outcome::Done)
            }
            WriteOp::CompareAndDelete(k, version) => {
                let expected = Expected::Version(*version);
                let current = w.version(k)?;
                if !expected.matches(current) {
                    return Err(conflict(k, expected, current));
                }
                w.delete(k).map(|_| Outcome::Done)
            }
            WriteOp::Transaction(steps) => {
                for step in steps {
                    if let TxnStep::Check(k, expected) = step {
                        let current = w.version(k)?;
                        if !expected.matches(current) {
                            return Err(conflict(k, *expected, current));
                        }
                    }
                }
                for step in steps {
                    match step {
                        TxnStep::Put(k, v) => drop(w.put(k, v)?),
                        TxnStep::Delete(k) => drop(w.delete(k)?),
                        TxnStep::Check(..) => {}
                    }
                }
                Ok(Outcome::Done)
            }
        }
    }
}
