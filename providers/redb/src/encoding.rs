//! How entries are laid out in the `ENTRIES` table.
//!
//! Key: `[store_id length: u16 big-endian][store_id][key]`, all bytes.
//! The length prefix makes every store's keys one contiguous interval, in
//! which keys sort by their UTF-8 bytes, and no store's interval overlaps
//! another's (a store_id that is a prefix of another has another length).
//! Value: `[version: u64 little-endian][value bytes]`, or, for a key with
//! an expiry, `[version | EXPIRES: u64 LE][expires_at_ms: u64 LE][value
//! bytes]`: versions stay below 2^63, so the top bit marks the expiry.
//!
//! Plain byte keys compare with one `memcmp`, where tuple keys would be
//! decoded field by field on every comparison.

use std::ops::Bound;

use stateplug_provider_api::{ProviderError, ProviderResult};

/// The bytes every key of `store_id` starts with.
pub(crate) fn store_prefix(store_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + store_id.len());
    push_prefix(&mut out, store_id);
    out
}

fn push_prefix(out: &mut Vec<u8>, store_id: &str) {
    out.extend_from_slice(&id_length(store_id));
    out.extend_from_slice(store_id.as_bytes());
}

/// The two bytes that start every key of `store_id`: its length.
fn id_length(store_id: &str) -> [u8; 2] {
    // store_ids are at most `max_store_id_bytes` (512) long: the adapter
    // refuses longer ones before the provider runs, so they fit in a u16.
    u16::try_from(store_id.len())
        .unwrap_or(u16::MAX)
        .to_be_bytes()
}

/// The `ENTRIES` key of `key` in `store_id`.
pub(crate) fn entry_key(store_id: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + store_id.len() + key.len());
    write_entry_key(&mut out, store_id, key);
    out
}

/// Runs `f` on the `ENTRIES` key of `key` in `store_id`, built on the
/// stack when it is short, so that a point read allocates nothing for it.
pub(crate) fn with_entry_key<R>(store_id: &str, key: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    const ON_STACK: usize = 128;
    let len = 2 + store_id.len() + key.len();
    if len > ON_STACK {
        return f(&entry_key(store_id, key));
    }
    let mut buf = [0u8; ON_STACK];
    buf[..2].copy_from_slice(&id_length(store_id));
    buf[2..2 + store_id.len()].copy_from_slice(store_id.as_bytes());
    buf[2 + store_id.len()..len].copy_from_slice(key.as_bytes());
    f(&buf[..len])
}

/// Replaces the contents of `out` with the `ENTRIES` key of `key` in
/// `store_id` (for writers that reuse one buffer for every key).
pub(crate) fn write_entry_key(out: &mut Vec<u8>, store_id: &str, key: &str) {
    out.clear();
    push_prefix(out, store_id);
    out.extend_from_slice(key.as_bytes());
}

/// The key part of an `ENTRIES` key.
pub(crate) fn decode_key(raw: &[u8]) -> ProviderResult<&str> {
    std::str::from_utf8(key_bytes(raw)?).map_err(|_| corrupt_key())
}

/// The key part of an `ENTRIES` key as the bytes stored (UTF-8 unless the
/// file is corrupt; see [`decode_key`]).
pub(crate) fn key_bytes(raw: &[u8]) -> ProviderResult<&[u8]> {
    let len = raw
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or_else(corrupt_key)?;
    raw.get(2 + len..).ok_or_else(corrupt_key)
}

/// The error for an entry key that cannot be what was written.
pub(crate) fn corrupt_key() -> ProviderError {
    ProviderError::storage(
        "an entry key in the database file is malformed; the file is corrupt, restore from backup",
    )
}

/// The `ENTRIES` value of `value` at `version`.
#[cfg(test)]
pub(crate) fn entry_value(version: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    write_entry_value(&mut out, version, value);
    out
}

/// Replaces the contents of `out` with the `ENTRIES` value of `value` at `version`.
pub(crate) fn write_entry_value(out: &mut Vec<u8>, version: u64, value: &[u8]) {
    out.clear();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(value);
}

/// The bit of an `ENTRIES` value's version word that says an expiry follows.
const EXPIRES: u64 = 1 << 63;

/// Replaces the contents of `out` with the `ENTRIES` value of `value` at
/// `version`, expiring at `expires_at_ms` (`None`: never).
pub(crate) fn write_entry_value_expiring(
    out: &mut Vec<u8>,
    version: u64,
    value: &[u8],
    expires_at_ms: Option<u64>,
) {
    match expires_at_ms {
        None => write_entry_value(out, version, value),
        Some(at) => {
            out.clear();
            out.extend_from_slice(&(version | EXPIRES).to_le_bytes());
            out.extend_from_slice(&at.to_le_bytes());
            out.extend_from_slice(value);
        }
    }
}

/// The version and value bytes of an `ENTRIES` value.
pub(crate) fn decode_value(raw: &[u8]) -> ProviderResult<(u64, &[u8])> {
    decode_expiring(raw).map(|(version, value, _)| (version, value))
}

/// The version, value bytes and expiry (`None`: never) of an `ENTRIES` value.
pub(crate) fn decode_expiring(raw: &[u8]) -> ProviderResult<(u64, &[u8], Option<u64>)> {
    let malformed = || {
        ProviderError::storage("an entry value in the database file is malformed; the file is corrupt, restore from backup")
    };
    let (word, rest) = raw.split_first_chunk::<8>().ok_or_else(malformed)?;
    let word = u64::from_le_bytes(*word);
    if word & EXPIRES == 0 {
        return Ok((word, rest, None));
    }
    let (at, value) = rest.split_first_chunk::<8>().ok_or_else(malformed)?;
    Ok((word & !EXPIRES, value, Some(u64::from_le_bytes(*at))))
}

/// Whether an entry expiring at `expires_at_ms` is still live at `now`.
pub(crate) fn live(expires_at_ms: Option<u64>, now: u64) -> bool {
    expires_at_ms.is_none_or(|at| at > now)
}

/// The version and value bytes of an `ENTRIES` value, or `None` if the key
/// has expired by `now()` (asked only of a key that has an expiry).
pub(crate) fn decode_live(
    raw: &[u8],
    now: impl FnOnce() -> u64,
) -> ProviderResult<Option<(u64, &[u8])>> {
    let (version, value, expires_at_ms) = decode_expiring(raw)?;
    Ok(expires_at_ms
        .is_none_or(|at| at > now())
        .then_some((version, value)))
}

/// The `ENTRIES` interval of one store, optionally narrowed to key bounds.
pub(crate) struct Span {
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
}

impl Span {
    /// Every key of `store_id`.
    pub(crate) fn store(store_id: &str) -> Self {
        Self::within(store_id, &(Bound::Unbounded, Bound::Unbounded))
    }

    /// The keys of `store_id` inside `keys` (bounds on the key alone, as
    /// `ScanRef::key_range` gives them).
    pub(crate) fn within(store_id: &str, keys: &(Bound<String>, Bound<String>)) -> Self {
        let prefix = store_prefix(store_id);
        let lower = match &keys.0 {
            Bound::Included(k) => Bound::Included(entry_key(store_id, k)),
            Bound::Excluded(k) => Bound::Excluded(entry_key(store_id, k)),
            Bound::Unbounded => Bound::Included(prefix.clone()),
        };
        let upper = match &keys.1 {
            Bound::Included(k) => Bound::Included(entry_key(store_id, k)),
            Bound::Excluded(k) => Bound::Excluded(entry_key(store_id, k)),
            Bound::Unbounded => match successor(prefix) {
                Some(end) => Bound::Excluded(end),
                None => Bound::Unbounded,
            },
        };
        Span { lower, upper }
    }

    /// The bounds, borrowed, for `Table::range`.
    pub(crate) fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (
            self.lower.as_ref().map(Vec::as_slice),
            self.upper.as_ref().map(Vec::as_slice),
        )
    }
}

/// The smallest byte string greater than every string starting with `prefix`.
fn successor(mut prefix: Vec<u8>) -> Option<Vec<u8>> {
    while let Some(last) = prefix.pop() {
        if last < u8::MAX {
            prefix.push(last + 1);
            return Some(prefix);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_one_store_are_contiguous_and_ordered_by_key() {
        let mut keys = [
            entry_key("ab", "b"),
            entry_key("a", "z"),
            entry_key("ab", ""),
            entry_key("a", "\u{10FFFF}"),
            entry_key("abc", "a"),
            entry_key("ab", "a\0"),
        ];
        keys.sort();
        let decoded: Vec<&str> = keys.iter().map(|k| decode_key(k).unwrap()).collect();
        assert_eq!(decoded, ["z", "\u{10FFFF}", "", "a\0", "b", "a"]);
        let span = Span::store("ab");
        let (lo, hi) = span.bounds();
        let inside: Vec<&str> = keys
            .iter()
            .filter(|k| {
                <(Bound<&[u8]>, Bound<&[u8]>) as std::ops::RangeBounds<&[u8]>>::contains(
                    &(lo, hi),
                    &k.as_slice(),
                )
            })
            .map(|k| decode_key(k).unwrap())
            .collect();
        assert_eq!(inside, ["", "a\0", "b"], "exactly the keys of store \"ab\"");
    }

    #[test]
    fn values_round_trip_and_malformed_bytes_are_storage_errors() {
        let raw = entry_value(42, b"hello");
        assert_eq!(decode_value(&raw).unwrap(), (42, &b"hello"[..]));
        assert_eq!(decode_value(&entry_value(7, b"")).unwrap(), (7, &b""[..]));
        assert!(decode_value(b"short").is_err());
        let mut expiring = Vec::new();
        write_entry_value_expiring(&mut expiring, 42, b"hello", Some(1_000));
        assert_eq!(
            decode_expiring(&expiring).unwrap(),
            (42, &b"hello"[..], Some(1_000))
        );
        assert_eq!(decode_value(&expiring).unwrap(), (42, &b"hello"[..]));
        assert_eq!(
            decode_live(&expiring, || 999).unwrap(),
            Some((42, &b"hello"[..]))
        );
        assert_eq!(
            decode_live(&expiring, || 1_000).unwrap(),
            None,
            "expired from its expiry on"
        );
        assert_eq!(
            decode_live(&raw, || u64::MAX).unwrap(),
            Some((42, &b"hello"[..]))
        );
        assert!(
            decode_expiring(&expiring[..12]).is_err(),
            "a cut expiry is malformed"
        );
        assert!(decode_key(&[0]).is_err());
        assert!(decode_key(&[0, 9, b'a']).is_err());
    }

    #[test]
    fn a_key_built_on_the_stack_is_the_key_built_on_the_heap() {
        for id_len in [0, 1, 60, 126, 127, 512] {
            for key_len in [0, 1, 60, 125, 126, 127, 4096] {
                let (store_id, key) = ("s".repeat(id_len), "k".repeat(key_len));
                assert_eq!(
                    with_entry_key(&store_id, &key, <[u8]>::to_vec),
                    entry_key(&store_id, &key),
                    "store_id {id_len} B, key {key_len} B"
                );
            }
        }
        // A key without an expiry never asks the time.
        let plain = entry_value(3, b"v");
        assert!(decode_live(&plain, || unreachable!("no expiry")).is_ok());
    }

    #[test]
    fn the_successor_carries() {
        assert_eq!(successor(vec![1, 255]), Some(vec![2]));
        assert_eq!(successor(vec![255, 255]), None);
    }
}
