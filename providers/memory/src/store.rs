//! One store_id's keys: a hash map for point operations and an ordered
//! set of the same keys for scans.
//!
//! Invariant: `order` holds exactly the keys of `slots`, so a point read
//! costs one hash lookup and a scan walks keys in order without sorting.
//! Keys are `SmolStr`: up to 23 bytes live inline in the table (no pointer
//! to follow when comparing, which is what a lookup spends its time on);
//! longer ones share one allocation between both structures.

use std::{collections::BTreeSet, ops::Bound};

use hashbrown::HashMap;
use smol_str::SmolStr;
use stateplug_provider_api::{Entry, KeyBytesVisitor, ScanRef};

fn as_str(bound: &Bound<String>) -> Bound<&str> {
    bound.as_ref().map(String::as_str)
}

/// One stored value.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) value: Box<[u8]>,
    pub(crate) version: u64,
}

impl Slot {
    pub(crate) fn entry(&self) -> Entry {
        Entry {
            value: self.value.to_vec(),
            version: self.version,
        }
    }
}

/// The keys of one store.
#[derive(Debug, Default)]
pub(crate) struct Store {
    slots: HashMap<SmolStr, Slot>,
    order: BTreeSet<SmolStr>,
}

impl Store {
    pub(crate) fn get(&self, key: &str) -> Option<&Slot> {
        self.slots.get(key)
    }

    pub(crate) fn version(&self, key: &str) -> Option<u64> {
        self.slots.get(key).map(|s| s.version)
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Writes `value` under `key` at `version`; returns the key's prior version.
    pub(crate) fn put(&mut self, key: &str, value: &[u8], version: u64) -> Option<u64> {
        if let Some(slot) = self.slots.get_mut(key) {
            let prior = slot.version;
            *slot = Slot {
                value: value.into(),
                version,
            };
            return Some(prior);
        }
        let key = SmolStr::new(key);
        self.order.insert(key.clone());
        self.slots.insert(
            key,
            Slot {
                value: value.into(),
                version,
            },
        );
        None
    }

    /// Removes `key`; returns its prior version.
    pub(crate) fn remove(&mut self, key: &str) -> Option<u64> {
        let (key, slot) = self.slots.remove_entry(key)?;
        self.order.remove(&key);
        Some(slot.version)
    }

    /// Removes every key, handing each to `removed` with its version, in order.
    pub(crate) fn clear(&mut self, removed: &mut dyn FnMut(&str, u64)) {
        for key in std::mem::take(&mut self.order) {
            if let Some(slot) = self.slots.remove(&key) {
                removed(&key, slot.version);
            }
        }
    }

    /// Every key, ascending.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.order.iter().map(|k| k.to_string()).collect()
    }

    /// One page of `scan`, row by row; returns the continuation.
    pub(crate) fn scan_visit(
        &self,
        scan: &ScanRef<'_>,
        visit: KeyBytesVisitor<'_>,
    ) -> Option<String> {
        let (lower, upper) = scan.key_range()?;
        let range = self.order.range::<str, _>((as_str(&lower), as_str(&upper)));
        let mut rows: Box<dyn Iterator<Item = &SmolStr>> = if scan.descending {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut last: Option<&SmolStr> = None;
        for key in rows.by_ref().take(scan.limit as usize) {
            let slot = &self.slots[key];
            visit(key.as_bytes(), slot.version, &slot.value);
            last = Some(key);
        }
        if rows.next().is_some() {
            last.map(|k| k.to_string())
        } else {
            None
        }
    }
}
