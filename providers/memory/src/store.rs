//! One store_id's keys: a hash map for point operations and an ordered
//! set of the same keys for scans.
//!
//! Invariants: `order` holds exactly the keys of `slots`, so a point read
//! costs one hash lookup and a scan walks keys in order without sorting;
//! `expiring` holds exactly `(expiry, key)` of every slot with an expiry,
//! so counting the expired keys costs only as much as there are of them.
//! A slot whose expiry is at or before `now` is expired: every read and
//! every version a write sees treat it as absent until it is removed.
//! Keys are `SmolStr`: up to 23 bytes live inline in the table (no pointer
//! to follow when comparing, which is what a lookup spends its time on);
//! longer ones share one allocation between both structures.

use std::{collections::BTreeSet, ops::Bound};

use hashbrown::HashMap;
use smol_str::SmolStr;
use stateplug_provider_api::{Clock, Entry, KeyBytesVisitor, ScanRef};

fn as_str(bound: &Bound<String>) -> Bound<&str> {
    bound.as_ref().map(String::as_str)
}

/// The bit of [`Slot::word`] that says the slot carries an expiry
/// (versions stay below it: a provider gives one per write).
const EXPIRES: u64 = 1 << 63;

/// One stored value, in 24 bytes: an expiry, when there is one, is kept in
/// front of the value bytes, so a slot without one pays nothing for it.
///
/// Invariant: `word` is the version, with [`EXPIRES`] set exactly when
/// `bytes` begins with the expiry (8 bytes, little-endian unix
/// milliseconds) before the value.
#[derive(Debug)]
pub(crate) struct Slot {
    bytes: Box<[u8]>,
    word: u64,
}

impl Slot {
    fn new(value: &[u8], version: u64, expires_at_ms: Option<u64>) -> Self {
        match expires_at_ms {
            None => Slot {
                bytes: value.into(),
                word: version & !EXPIRES,
            },
            Some(at) => {
                let mut bytes = Vec::with_capacity(8 + value.len());
                bytes.extend_from_slice(&at.to_le_bytes());
                bytes.extend_from_slice(value);
                Slot {
                    bytes: bytes.into_boxed_slice(),
                    word: version | EXPIRES,
                }
            }
        }
    }

    /// The value bytes.
    pub(crate) fn value(&self) -> &[u8] {
        if self.word & EXPIRES == 0 {
            &self.bytes
        } else {
            &self.bytes[8..]
        }
    }

    /// The version.
    pub(crate) fn version(&self) -> u64 {
        self.word & !EXPIRES
    }

    /// When the key expires, in unix milliseconds (`None`: never).
    pub(crate) fn expires_at_ms(&self) -> Option<u64> {
        if self.word & EXPIRES == 0 {
            return None;
        }
        let mut at = [0; 8];
        at.copy_from_slice(&self.bytes[..8]);
        Some(u64::from_le_bytes(at))
    }

    /// Whether the slot has not expired by `now`.
    pub(crate) fn live(&self, now: u64) -> bool {
        self.expires_at_ms().is_none_or(|at| at > now)
    }

    pub(crate) fn entry(&self) -> Entry {
        Entry {
            value: self.value().to_vec(),
            version: self.version(),
        }
    }
}

/// The keys of one store.
#[derive(Debug, Default)]
pub(crate) struct Store {
    slots: HashMap<SmolStr, Slot>,
    order: BTreeSet<SmolStr>,
    expiring: BTreeSet<(u64, SmolStr)>,
}

impl Store {
    /// The slot of `key`, unless it is missing or expired by `now`.
    pub(crate) fn get(&self, key: &str, now: u64) -> Option<&Slot> {
        self.slots.get(key).filter(|s| s.live(now))
    }

    /// The slot of `key`, unless it is missing or expired by the time
    /// `clock` reads; the clock is read only for a slot that expires, so a
    /// point read of a key without a time to live costs no clock read.
    pub(crate) fn get_live(&self, key: &str, clock: &Clock) -> Option<&Slot> {
        self.slots
            .get(key)
            .filter(|s| s.word & EXPIRES == 0 || s.live(clock.now_ms()))
    }

    pub(crate) fn version(&self, key: &str, now: u64) -> Option<u64> {
        self.get(key, now).map(Slot::version)
    }

    /// How many keys have not expired by `now`.
    pub(crate) fn len(&self, now: u64) -> usize {
        let expired = match now.checked_add(1) {
            Some(after) => self.expiring.range(..(after, SmolStr::default())).count(),
            None => self.expiring.len(),
        };
        self.slots.len() - expired
    }

    /// The expiry of `key`, also once passed (`None`: missing or never).
    pub(crate) fn expiry(&self, key: &str) -> Option<u64> {
        self.slots.get(key).and_then(Slot::expires_at_ms)
    }

    /// Whether the map holds no key at all, expired or not.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Writes `value` under `key` at `version`, expiring at `expires_at_ms`
    /// (`None`: never); returns the key's prior version, unless it had
    /// expired by `now`.
    pub(crate) fn put(
        &mut self,
        key: &str,
        value: &[u8],
        version: u64,
        expires_at_ms: Option<u64>,
        now: u64,
    ) -> Option<u64> {
        let slot = Slot::new(value, version, expires_at_ms);
        if let Some((key, old)) = self.slots.get_key_value_mut(key) {
            let prior = old.live(now).then_some(old.version());
            if let Some(at) = old.expires_at_ms() {
                self.expiring.remove(&(at, key.clone()));
            }
            if let Some(at) = expires_at_ms {
                self.expiring.insert((at, key.clone()));
            }
            *old = slot;
            return prior;
        }
        let key = SmolStr::new(key);
        self.order.insert(key.clone());
        if let Some(at) = expires_at_ms {
            self.expiring.insert((at, key.clone()));
        }
        self.slots.insert(key, slot);
        None
    }

    /// Removes `key`; returns its prior version, unless it had expired by `now`.
    pub(crate) fn remove(&mut self, key: &str, now: u64) -> Option<u64> {
        let (key, slot) = self.slots.remove_entry(key)?;
        self.order.remove(&key);
        if let Some(at) = slot.expires_at_ms() {
            self.expiring.remove(&(at, key));
        }
        slot.live(now).then_some(slot.version())
    }

    /// Removes `key` if it still expires at `at` (a later put may have
    /// moved or cleared its expiry); returns whether it did.
    pub(crate) fn expire(&mut self, key: &str, at: u64) -> bool {
        let current = self.slots.get(key).and_then(Slot::expires_at_ms);
        if current != Some(at) {
            return false;
        }
        self.remove(key, at);
        true
    }

    /// Removes every key, handing each that has not expired by `now` to
    /// `removed` with its version, in order.
    pub(crate) fn clear(&mut self, removed: &mut dyn FnMut(&str, u64), now: u64) {
        self.expiring.clear();
        for key in std::mem::take(&mut self.order) {
            if let Some(slot) = self.slots.remove(&key) {
                if slot.live(now) {
                    removed(&key, slot.version());
                }
            }
        }
    }

    /// Every key that has not expired by `now`, ascending.
    pub(crate) fn keys(&self, now: u64) -> Vec<String> {
        self.order
            .iter()
            .filter(|k| self.slots[*k].live(now))
            .map(|k| k.to_string())
            .collect()
    }

    /// One page of `scan` over the keys that have not expired by `now`,
    /// row by row; returns the continuation.
    pub(crate) fn scan_visit(
        &self,
        scan: &ScanRef<'_>,
        visit: KeyBytesVisitor<'_>,
        now: u64,
    ) -> Option<String> {
        let (lower, upper) = scan.key_range()?;
        let range = self.order.range::<str, _>((as_str(&lower), as_str(&upper)));
        let range: Box<dyn Iterator<Item = &SmolStr>> = if scan.descending {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut rows = range.filter_map(|key| {
            let slot = &self.slots[key];
            slot.live(now).then_some((key, slot))
        });
        let mut last: Option<&SmolStr> = None;
        for (key, slot) in rows.by_ref().take(scan.limit as usize) {
            visit(key.as_bytes(), slot.version(), slot.value());
            last = Some(key);
        }
        if rows.next().is_some() {
            last.map(|k| k.to_string())
        } else {
            None
        }
    }
}
