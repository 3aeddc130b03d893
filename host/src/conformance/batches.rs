//! Batch operations: get_many, set_many, delete_many, empty batches.

use std::sync::Arc;

use super::{fresh_store_id, ok};
use crate::store::{CapabilityFlags, StateStore};

/// `get_many` returns the keys that exist and simply omits the rest.
pub async fn get_many_skips_missing_keys(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("get-many");
    ok(store.set(&s, "a", b"1".to_vec()).await, "set");
    ok(store.set(&s, "c", b"3".to_vec()).await, "set");
    let found = ok(store.get_many(&s, &["a", "b", "c", "a"]).await, "get_many");
    assert_eq!(found.len(), 2, "only existing keys are returned: {found:?}");
    assert_eq!(found.get("a"), Some(&b"1".to_vec()));
    assert_eq!(found.get("c"), Some(&b"3".to_vec()));
    assert!(!found.contains_key("b"));
    let none = ok(
        store.get_many(&fresh_store_id("unknown"), &["a"]).await,
        "get_many unknown store",
    );
    assert!(none.is_empty());
    ok(store.clear_store(&s).await, "clear_store");
}

/// `set_many` writes every pair, all with the one version it returns.
pub async fn set_many_writes_one_version(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("set-many");
    let entries: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| (format!("k{i:03}"), vec![i as u8; 10]))
        .collect();
    let version = ok(store.set_many(&s, entries.clone()).await, "set_many");
    assert!(version >= 1);
    assert_eq!(ok(store.key_count(&s).await, "key_count"), 100);
    for (key, value) in &entries {
        let entry =
            ok(store.get_entry(&s, key).await, "get_entry").expect("every key of set_many exists");
        assert_eq!(&entry.value, value);
        assert_eq!(
            entry.version, version,
            "every key of one set_many has the returned version"
        );
    }
    ok(store.clear_store(&s).await, "clear_store");
}

/// `delete_many` removes the keys and returns how many of them existed.
pub async fn delete_many_counts_existing_keys(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("delete-many");
    ok(
        store
            .set_many(
                &s,
                vec![
                    ("a".into(), vec![1]),
                    ("b".into(), vec![2]),
                    ("c".into(), vec![3]),
                ],
            )
            .await,
        "set_many",
    );
    assert_eq!(
        ok(
            store.delete_many(&s, &["a", "c", "zz"]).await,
            "delete_many"
        ),
        2,
        "missing keys are not counted"
    );
    assert_eq!(
        ok(store.list_keys(&s).await, "list_keys"),
        vec!["b".to_string()]
    );
    assert_eq!(
        ok(
            store.delete_many(&fresh_store_id("unknown"), &["a"]).await,
            "unknown store"
        ),
        0
    );
    ok(store.clear_store(&s).await, "clear_store");
}

/// Empty batches are valid and change nothing.
pub async fn empty_batches_change_nothing(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("empty-batch");
    assert_eq!(
        ok(store.set_many(&s, Vec::new()).await, "empty set_many"),
        0,
        "an empty set_many returns 0"
    );
    assert!(ok(store.get_many(&s, &[]).await, "empty get_many").is_empty());
    assert_eq!(ok(store.delete_many(&s, &[]).await, "empty delete_many"), 0);
    assert!(
        !ok(store.store_exists(&s).await, "store_exists"),
        "empty batches create no store"
    );
    if store.capabilities().has(CapabilityFlags::TRANSACTIONS) {
        assert_eq!(
            ok(store.transaction(&s, Vec::new()).await, "empty transaction"),
            0
        );
        assert!(
            !ok(store.store_exists(&s).await, "store_exists"),
            "an empty transaction creates no store"
        );
    }
}
