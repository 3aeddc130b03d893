//! [`TxnOp`]: one operation of a transaction, owned by the caller.

use std::time::Duration;

use stateplug_provider_api::WriteOp;

use crate::store::{Expected, StoreResult};

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
    /// Write `value` under `key`, to expire `ttl` after the transaction is
    /// issued (needs `TTL`; see `set_with_ttl` on
    /// [`StateStore`](crate::StateStore)).
    PutWithTtl {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
        /// How long the key lives.
        ttl: Duration,
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

    /// A put that expires `ttl` after the transaction is issued.
    pub fn put_with_ttl(key: impl Into<String>, value: impl Into<Vec<u8>>, ttl: Duration) -> Self {
        TxnOp::PutWithTtl {
            key: key.into(),
            value: value.into(),
            ttl,
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
            TxnOp::Put { key, .. }
            | TxnOp::PutWithTtl { key, .. }
            | TxnOp::Delete { key }
            | TxnOp::Check { key, .. } => key,
        }
    }
}

impl TxnOp {
    /// The operation as the one write form borrows it; `expiry` gives the
    /// expiry of a [`TxnOp::PutWithTtl`] when it is issued, or refuses it.
    pub(crate) fn as_write(
        &self,
        expiry: impl FnOnce(Duration) -> StoreResult<u64>,
    ) -> StoreResult<WriteOp<'_>> {
        Ok(match self {
            TxnOp::Put { key, value } => WriteOp::put(key, value),
            TxnOp::PutWithTtl { key, value, ttl } => {
                WriteOp::put_expiring(key, value, expiry(*ttl)?)
            }
            TxnOp::Delete { key } => WriteOp::delete(key),
            TxnOp::Check { key, expected } => WriteOp::check(key, *expected),
        })
    }
}
