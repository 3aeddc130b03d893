//! `ContentHash`: the digest that migration verification compares.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::store::{StateStore, StoreResult};

use super::StoreWalk;

/// A store's key count and the SHA-256 of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDigest {
    /// How many keys were hashed.
    pub keys: u64,
    /// Lowercase hex SHA-256 over the entries in ascending key order.
    pub sha256: String,
}

/// Hashes a store's entries in ascending key order: for each entry, the
/// key's length (u64 little-endian), the key's UTF-8 bytes, the value's
/// length (u64 little-endian) and the value. Versions are left out: they
/// differ between providers for the same content.
#[derive(Debug, Clone, Default)]
pub struct ContentHash {
    keys: u64,
    hasher: Sha256,
}

impl ContentHash {
    /// An empty hash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one entry; call in ascending key order.
    pub fn add(&mut self, key: &str, value: &[u8]) {
        self.keys += 1;
        self.hasher.update((key.len() as u64).to_le_bytes());
        self.hasher.update(key.as_bytes());
        self.hasher.update((value.len() as u64).to_le_bytes());
        self.hasher.update(value);
    }

    /// The key count and the digest.
    pub fn finish(self) -> StoreDigest {
        StoreDigest {
            keys: self.keys,
            sha256: hex(&self.hasher.finalize()),
        }
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Walks `store_id` and digests it.
pub async fn digest_store(store: &Arc<dyn StateStore>, store_id: &str) -> StoreResult<StoreDigest> {
    let mut hash = ContentHash::new();
    let mut walk = StoreWalk::new(store, store_id, "");
    while let Some(page) = walk.next_page().await? {
        for e in &page {
            hash.add(&e.key, &e.value);
        }
    }
    Ok(hash.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_separates_keys_from_values() {
        let digest = |pairs: &[(&str, &[u8])]| {
            let mut h = ContentHash::new();
            for (k, v) in pairs {
                h.add(k, v);
            }
            h.finish()
        };
        let a = digest(&[("ab", b"c")]);
        let b = digest(&[("a", b"bc")]);
        assert_ne!(a.sha256, b.sha256);
        assert_eq!(a.keys, 1);
        assert_eq!(digest(&[]).keys, 0);
        assert_eq!(
            digest(&[]).sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
