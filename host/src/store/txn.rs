//! [`TxnOp`]: one operation of a transaction, owned by the caller.

use stateplug_provider_api::WriteOp;

use crate::store::Expected;

/// One operation of an atomic transaction (see `transaction` on
/// [`StateStore`](crate::StateStore)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Write `value` under `key`.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key` if present.
    Delete {
        /// The key.
        key: String,
    },
    /// Require `key` to be in the `expected` state; checked before any write.
    Check {
        /// The key.
        key: String,
        /// The required state.
        expected: Expected,
    },
}

impl TxnOp {
    /// A put.
    pub fn put(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        TxnOp::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    /// A delete.
    pub fn delete(key: impl Into<String>) -> Self {
        TxnOp::Delete { key: key.into() }
    }

    /// A version check.
    pub fn check(key: impl Into<String>, expected: Expected) -> Self {
        TxnOp::Check {
            key: key.into(),
            expected,
        }
    }

    /// The key the operation names.
    pub fn key(&self) -> &str {
        match self {
            TxnOp::Put { key, .. } | TxnOp::Delete { key } | TxnOp::Check { key, .. } => key,
        }
    }
}

impl TxnOp {
    /// The operation as the one write form borrows it.
    pub(crate) fn as_write(&self) -> WriteOp<'_> {
        match self {
            TxnOp::Put { key, value } => WriteOp::put(key, value),
            TxnOp::Delete { key } => WriteOp::delete(key),
            TxnOp::Check { key, expected } => WriteOp::check(key, *expected),
        }
    }
}
