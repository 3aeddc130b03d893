//! The everyday operations of a store, each one write (or one scan) of
//! the [`StateStore`] trait: methods of `dyn StateStore`, so they work on
//! every provider and pass through every layer alike.

use std::time::Duration;

use stateplug_provider_api::WriteOp;

use crate::store::{
    CapabilityFlags, ErrorKind, Expected, Operation, Page, Scan, StateStore, StoreError,
    StoreResult, TxnOp,
};

impl dyn StateStore {
    /// Whether an acknowledged write survives a crash.
    pub fn is_durable(&self) -> bool {
        self.capabilities().is_durable()
    }

    /// Writes `value` under `key`; returns the new version.
    pub async fn set(
        &self,
        store_id: &str,
        key: &str,
        value: impl AsRef<[u8]>,
    ) -> StoreResult<u64> {
        let ops = [WriteOp::put(key, value.as_ref())];
        Ok(self.write(Operation::Set, store_id, &ops).await?.revision())
    }

    /// Writes `value` under `key` to expire `ttl` from now by the store's
    /// [`clock`](StateStore::clock); returns the new version (needs `TTL`).
    /// From its expiry on no read returns the key, and the provider removes
    /// it in the background. A later put without a time to live clears
    /// the expiry.
    /// - A `ttl` of zero is `INVALID_ARGUMENT`; a provider without `TTL`
    ///   answers `UNSUPPORTED`.
    pub async fn set_with_ttl(
        &self,
        store_id: &str,
        key: &str,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> StoreResult<u64> {
        let expires_at_ms = self.expiry_after(Operation::Set, store_id, ttl)?;
        let ops = [WriteOp::put_expiring(key, value.as_ref(), expires_at_ms)];
        Ok(self.write(Operation::Set, store_id, &ops).await?.revision())
    }

    /// The expiry of a put issued now with time to live `ttl`, or why
    /// `ttl` cannot be honoured: zero, or a provider without `TTL`.
    pub(crate) fn expiry_after(
        &self,
        operation: Operation,
        store_id: &str,
        ttl: Duration,
    ) -> StoreResult<u64> {
        let refuse = |kind, message: String| {
            Err(StoreError::host(
                operation,
                &self.info().name,
                store_id,
                kind,
                message,
            ))
        };
        if !self.capabilities().has(CapabilityFlags::TTL) {
            return refuse(
                ErrorKind::UNSUPPORTED,
                format!(
                    "provider {} does not declare TTL, so it cannot expire keys; write without \
                     a time to live, or use a provider that declares it (memory, redb, postgres)",
                    self.info().name
                ),
            );
        }
        if ttl.is_zero() {
            return refuse(
                ErrorKind::INVALID_ARGUMENT,
                "a time to live of zero expires the key before anyone reads it; give a \
                 positive duration, or delete the key"
                    .to_string(),
            );
        }
        Ok(self.clock().expiry_after(ttl))
    }

    /// Removes `key`; returns whether it existed.
    pub async fn delete(&self, store_id: &str, key: &str) -> StoreResult<bool> {
        let ops = [WriteOp::delete(key)];
        Ok(!self
            .write(Operation::Delete, store_id, &ops)
            .await?
            .is_empty())
    }

    /// Writes every pair as one batch; returns the version they all get (0
    /// for an empty batch).
    pub async fn set_many(
        &self,
        store_id: &str,
        entries: Vec<(String, Vec<u8>)>,
    ) -> StoreResult<u64> {
        let ops: Vec<WriteOp<'_>> = entries.iter().map(|(k, v)| WriteOp::put(k, v)).collect();
        Ok(self
            .write(Operation::SetMany, store_id, &ops)
            .await?
            .revision())
    }

    /// Removes `keys` as one batch; returns how many existed.
    pub async fn delete_many(&self, store_id: &str, keys: &[&str]) -> StoreResult<u64> {
        let ops: Vec<WriteOp<'_>> = keys.iter().map(|k| WriteOp::delete(k)).collect();
        let written = self.write(Operation::DeleteMany, store_id, &ops).await?;
        Ok(written.len() as u64)
    }

    /// Removes every key of the store; returns how many there were.
    pub async fn clear_store(&self, store_id: &str) -> StoreResult<u64> {
        let written = self
            .write(Operation::ClearStore, store_id, &[WriteOp::Clear])
            .await?;
        Ok(written.len() as u64)
    }

    /// Writes `value` only if `key` is in the `expected` state; returns the
    /// new version (needs `COMPARE_AND_SET`).
    /// - `Expected::Version(v)` and the key is absent or at another
    ///   version: `VERSION_CONFLICT`; `Expected::Absent` and the key exists:
    ///   `ALREADY_EXISTS`; nothing changes.
    /// - `Expected::Version(0)` is `INVALID_ARGUMENT`: no key has version 0.
    pub async fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: impl AsRef<[u8]>,
    ) -> StoreResult<u64> {
        let ops = [
            WriteOp::check(key, expected),
            WriteOp::put(key, value.as_ref()),
        ];
        let written = self.write(Operation::CompareAndSet, store_id, &ops).await?;
        Ok(written.revision())
    }

    /// Removes `key` only if it is at exactly `version` (needs
    /// `COMPARE_AND_SET`); absent or at another version: `VERSION_CONFLICT`.
    pub async fn compare_and_delete(
        &self,
        store_id: &str,
        key: &str,
        version: u64,
    ) -> StoreResult<()> {
        let ops = [
            WriteOp::check(key, Expected::Version(version)),
            WriteOp::delete(key),
        ];
        self.write(Operation::CompareAndDelete, store_id, &ops)
            .await
            .map(drop)
    }

    /// Applies `ops` all-or-nothing, checks first (needs `TRANSACTIONS`);
    /// returns the write's revision, the version of every put (0 if nothing
    /// changed).
    pub async fn transaction(&self, store_id: &str, ops: Vec<TxnOp>) -> StoreResult<u64> {
        if !self.capabilities().has(CapabilityFlags::TRANSACTIONS) {
            return Err(StoreError::host(
                Operation::Transaction,
                &self.info().name,
                store_id,
                ErrorKind::UNSUPPORTED,
                format!(
                    "provider {} does not declare transactions; check `capabilities()` \
                     before calling transaction",
                    self.info().name
                ),
            ));
        }
        let ops: Vec<WriteOp<'_>> = ops
            .iter()
            .map(|op| op.as_write(|ttl| self.expiry_after(Operation::Transaction, store_id, ttl)))
            .collect::<StoreResult<_>>()?;
        let written = self.write(Operation::Transaction, store_id, &ops).await?;
        Ok(written.revision())
    }

    /// One page of an ordered walk (needs `ORDERED_SCANS`); see
    /// [`StateStore::scan_rows`] for the fast form.
    pub async fn scan(&self, store_id: &str, scan: &Scan) -> StoreResult<Page> {
        self.scan_rows(store_id, scan)
            .await
            .map(|rows| rows.into_page())
    }
}
