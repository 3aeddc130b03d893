//! Size limits on store_ids, keys, values and batches, and the checks that enforce them.
//!
//! The exported adapter runs these checks before a provider method is called,
//! so every provider refuses the same input with the same message.

use crate::{Capabilities, ProviderError, ProviderResult};

/// Longest store_id accepted by default, in bytes of UTF-8.
pub const MAX_STORE_ID_BYTES: u32 = 512;
/// Longest key accepted by default, in bytes of UTF-8.
pub const MAX_KEY_BYTES: u32 = 4 * 1024;
/// Largest value accepted by default, in bytes.
pub const MAX_VALUE_BYTES: u64 = 16 * 1024 * 1024;
/// Most keys or operations in one batch or transaction, by default.
pub const MAX_BATCH_OPS: u32 = 10_000;
/// Most entries one scan page returns, by default.
pub const MAX_SCAN_LIMIT: u32 = 10_000;

/// The size limits a provider enforces. A provider may declare smaller ones.
#[repr(C)]
#[derive(abi_stable::StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest store_id, in bytes. A store_id must also not be empty.
    pub max_store_id_bytes: u32,
    /// Longest key, in bytes. An empty key is valid.
    pub max_key_bytes: u32,
    /// Largest value, in bytes. An empty value is valid.
    pub max_value_bytes: u64,
    /// Most keys or operations in one `get_many`, `set_many`, `delete_many` or transaction.
    pub max_batch_ops: u32,
    /// Most entries in one scan page.
    pub max_scan_limit: u32,
}

impl Limits {
    /// The documented defaults: the `MAX_*` constants of this module.
    pub const DEFAULT: Limits = Limits {
        max_store_id_bytes: MAX_STORE_ID_BYTES,
        max_key_bytes: MAX_KEY_BYTES,
        max_value_bytes: MAX_VALUE_BYTES,
        max_batch_ops: MAX_BATCH_OPS,
        max_scan_limit: MAX_SCAN_LIMIT,
    };

    /// Refuses an empty store_id or one over `max_store_id_bytes`.
    pub fn check_store_id(&self, store_id: &str) -> ProviderResult<()> {
        if store_id.is_empty() {
            return Err(ProviderError::invalid_argument(
                "store_id is empty: every operation needs a non-empty store_id (usually the plugin id)",
            ));
        }
        if store_id.len() > self.max_store_id_bytes as usize {
            return Err(ProviderError::invalid_argument(format!(
                "store_id is {} bytes, over the limit max_store_id_bytes = {}: use a shorter store_id",
                store_id.len(),
                self.max_store_id_bytes
            )));
        }
        Ok(())
    }

    /// Refuses a key over `max_key_bytes`.
    pub fn check_key(&self, key: &str) -> ProviderResult<()> {
        if key.len() > self.max_key_bytes as usize {
            return Err(ProviderError::invalid_argument(format!(
                "key of {} bytes (starting {:?}) is over the limit max_key_bytes = {}: use a shorter key",
                key.len(),
                key.chars().take(32).collect::<String>(),
                self.max_key_bytes
            )));
        }
        Ok(())
    }

    /// Refuses a value over `max_value_bytes`.
    pub fn check_value(&self, key: &str, value: &[u8]) -> ProviderResult<()> {
        if value.len() as u64 > self.max_value_bytes {
            return Err(ProviderError::invalid_argument(format!(
                "value for key {:?} is {} bytes, over the limit max_value_bytes = {}: split it or store it elsewhere",
                key.chars().take(32).collect::<String>(),
                value.len(),
                self.max_value_bytes
            )));
        }
        Ok(())
    }

    /// Refuses a batch of more than `max_batch_ops` items.
    pub fn check_batch(&self, len: usize) -> ProviderResult<()> {
        if len > self.max_batch_ops as usize {
            return Err(ProviderError::invalid_argument(format!(
                "batch of {len} items is over the limit max_batch_ops = {}: split it into smaller batches",
                self.max_batch_ops
            )));
        }
        Ok(())
    }

    /// Refuses a scan page limit of 0 or over `max_scan_limit`.
    pub fn check_scan_limit(&self, limit: u32) -> ProviderResult<()> {
        if limit == 0 || limit > self.max_scan_limit {
            return Err(ProviderError::invalid_argument(format!(
                "scan limit {limit} is outside 1..={} (max_scan_limit): ask for smaller pages",
                self.max_scan_limit
            )));
        }
        Ok(())
    }
}

/// The largest value a frame of the boundary can carry: its length is a
/// `u32` (see `ffi::frame_row`).
pub(crate) const FRAMABLE_VALUE_BYTES: u64 = u32::MAX as u64;

impl Limits {
    /// These limits within what the boundary's frames hold: a declared
    /// `max_value_bytes` over 4 GiB − 1 is lowered to it, so a longer value
    /// is refused as over the limit instead of being cut short in a frame.
    /// (`export_provider!` refuses to compile a provider whose declared
    /// `CAPABILITIES` exceed it; an opened instance's are lowered.)
    pub const fn framable(self) -> Limits {
        let mut limits = self;
        if limits.max_value_bytes > FRAMABLE_VALUE_BYTES {
            limits.max_value_bytes = FRAMABLE_VALUE_BYTES;
        }
        limits
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Capabilities {
    /// The limits this provider declares.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn limits_accept_the_limit_and_refuse_one_past_it() {
        let l = Limits::DEFAULT;
        assert!(l
            .check_store_id(&"s".repeat(MAX_STORE_ID_BYTES as usize))
            .is_ok());
        let err = l
            .check_store_id(&"s".repeat(MAX_STORE_ID_BYTES as usize + 1))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT);
        assert!(err.message().contains("max_store_id_bytes"), "{err}");
        assert!(l.check_key(&"k".repeat(MAX_KEY_BYTES as usize)).is_ok());
        assert!(l
            .check_key(&"k".repeat(MAX_KEY_BYTES as usize + 1))
            .unwrap_err()
            .message()
            .contains("max_key_bytes"));
        assert!(l.check_batch(MAX_BATCH_OPS as usize).is_ok());
        assert!(l
            .check_batch(MAX_BATCH_OPS as usize + 1)
            .unwrap_err()
            .message()
            .contains("max_batch_ops"));
        assert!(l.check_scan_limit(MAX_SCAN_LIMIT).is_ok());
        assert!(l.check_scan_limit(MAX_SCAN_LIMIT + 1).is_err());
        assert!(l.check_scan_limit(0).is_err());
        assert!(l.check_key("").is_ok());
        assert!(l.check_value("k", &[]).is_ok());
    }

    #[test]
    fn limits_over_what_a_frame_holds_are_lowered_to_it() {
        let huge = Limits {
            max_value_bytes: u64::MAX,
            ..Limits::DEFAULT
        };
        let framable = huge.framable();
        assert_eq!(framable.max_value_bytes, u64::from(u32::MAX));
        assert_eq!(Limits::DEFAULT.framable(), Limits::DEFAULT);
    }

    #[test]
    fn empty_store_id_is_refused_with_the_fix() {
        let err = Limits::DEFAULT.check_store_id("").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT);
        assert!(err.message().contains("store_id is empty"));
    }
}
