//! Single-key behaviour: round trips, overwrites, absence, deletes, odd input.

use std::sync::Arc;

use super::{fresh_store_id, ok};
use crate::store::StateStore;

/// A value written can be read back unchanged.
pub async fn round_trip(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("round-trip");
    ok(store.set(&s, "k", b"v".to_vec()).await, "set");
    assert_eq!(
        ok(store.get(&s, "k").await, "get"),
        Some(b"v".to_vec()),
        "get returns what set wrote"
    );
    let entry = ok(store.get_entry(&s, "k").await, "get_entry").expect("get_entry finds the key");
    assert_eq!(entry.value, b"v");
    assert!(
        entry.version >= 1,
        "versions start at 1, got {}",
        entry.version
    );
    ok(store.clear_store(&s).await, "clear_store");
}

/// Writing an existing key replaces its value.
pub async fn overwrite_replaces_value(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("overwrite");
    ok(store.set(&s, "k", b"first".to_vec()).await, "set");
    ok(store.set(&s, "k", b"second".to_vec()).await, "set again");
    assert_eq!(
        ok(store.get(&s, "k").await, "get"),
        Some(b"second".to_vec())
    );
    assert_eq!(
        ok(store.key_count(&s).await, "key_count"),
        1,
        "an overwrite adds no key"
    );
    ok(store.clear_store(&s).await, "clear_store");
}

/// A missing key, in a known or an unknown store, reads as absent, never as an error.
pub async fn missing_key_and_store_read_as_absent(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("missing");
    let unknown = fresh_store_id("never-written");
    ok(store.set(&s, "present", b"x".to_vec()).await, "set");
    for (sid, what) in [(&s, "known store"), (&unknown, "unknown store")] {
        assert_eq!(
            ok(store.get(sid, "absent").await, what),
            None,
            "get in {what}"
        );
        assert_eq!(
            ok(store.get_entry(sid, "absent").await, what),
            None,
            "get_entry in {what}"
        );
        assert!(
            !ok(store.contains_key(sid, "absent").await, what),
            "contains_key in {what}"
        );
    }
    assert!(
        !ok(store.store_exists(&unknown).await, "store_exists"),
        "an unknown store does not exist"
    );
    assert_eq!(ok(store.key_count(&unknown).await, "key_count"), 0);
    assert!(ok(store.list_keys(&unknown).await, "list_keys").is_empty());
    assert!(
        !ok(store.store_exists(&unknown).await, "store_exists"),
        "reading an unknown store does not create it"
    );
    ok(store.clear_store(&s).await, "clear_store");
}

/// `delete` returns whether the key existed, and removes it.
pub async fn delete_returns_whether_key_existed(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("delete");
    ok(store.set(&s, "k", b"v".to_vec()).await, "set");
    assert!(
        ok(store.delete(&s, "k").await, "delete"),
        "deleting an existing key returns true"
    );
    assert_eq!(
        ok(store.get(&s, "k").await, "get"),
        None,
        "a deleted key is gone"
    );
    assert!(
        !ok(store.delete(&s, "k").await, "delete again"),
        "deleting a missing key returns false"
    );
    assert!(
        !ok(store.delete(&fresh_store_id("none"), "k").await, "delete"),
        "unknown store: false"
    );
    assert!(
        !ok(store.store_exists(&s).await, "store_exists"),
        "a store whose last key was deleted does not exist"
    );
}

/// `contains_key` follows sets and deletes.
pub async fn contains_key_tracks_writes(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("contains");
    assert!(!ok(store.contains_key(&s, "k").await, "contains_key"));
    ok(store.set(&s, "k", Vec::new()).await, "set");
    assert!(
        ok(store.contains_key(&s, "k").await, "contains_key"),
        "a key with an empty value exists"
    );
    ok(store.delete(&s, "k").await, "delete");
    assert!(!ok(store.contains_key(&s, "k").await, "contains_key"));
}

/// Values are bytes: every byte value, the empty value and 1 MiB round trip exactly.
pub async fn binary_empty_and_large_values_round_trip(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("values");
    let binary: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let large: Vec<u8> = (0..1024 * 1024)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for (key, value) in [("binary", binary), ("empty", Vec::new()), ("large", large)] {
        ok(store.set(&s, key, value.clone()).await, key);
        let back = ok(store.get(&s, key).await, key);
        assert!(
            back.as_deref() == Some(value.as_slice()),
            "value {key} ({} bytes) did not round trip",
            value.len()
        );
    }
    ok(store.clear_store(&s).await, "clear_store");
}

/// Keys are any UTF-8: empty, unicode, and the characters paths and formats trip on.
pub async fn odd_keys_round_trip(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("keys");
    let keys = [
        "",
        "ключ",
        "鍵/🔑",
        "a/b",
        "a:b",
        "a\\b",
        "tab\there",
        "new\nline",
        "quote\"d",
        " ",
        "\u{0}nul",
        "%2F",
    ];
    for (i, key) in keys.iter().enumerate() {
        ok(
            store.set(&s, key, vec![i as u8]).await,
            &format!("set {key:?}"),
        );
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            ok(store.get(&s, key).await, "get"),
            Some(vec![i as u8]),
            "key {key:?}"
        );
    }
    let mut listed = ok(store.list_keys(&s).await, "list_keys");
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected, "list_keys returns every key, ascending");
    listed.dedup();
    assert_eq!(listed.len(), keys.len());
    ok(store.clear_store(&s).await, "clear_store");
}
