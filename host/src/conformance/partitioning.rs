//! store_id partitioning: isolation, clearing, listing.

use std::sync::Arc;

use super::{fresh_store_id, ok};
use crate::store::{StateStore, TxnOp};

/// The same key in two stores is two independent entries.
pub async fn store_id_isolation(store: Arc<dyn StateStore>) {
    let a = fresh_store_id("iso-a");
    let b = fresh_store_id("iso-b");
    ok(store.set(&a, "k", b"a".to_vec()).await, "set a");
    ok(store.set(&b, "k", b"b".to_vec()).await, "set b");
    assert_eq!(ok(store.get(&a, "k").await, "get a"), Some(b"a".to_vec()));
    assert_eq!(ok(store.get(&b, "k").await, "get b"), Some(b"b".to_vec()));
    ok(store.delete(&a, "k").await, "delete a");
    assert_eq!(
        ok(store.get(&b, "k").await, "get b"),
        Some(b"b".to_vec()),
        "deleting in a leaves b alone"
    );
    // A store_id that is a prefix of another shares nothing with it.
    let prefix = fresh_store_id("iso");
    let longer = format!("{prefix}x");
    ok(
        store.set(&longer, "k", b"long".to_vec()).await,
        "set longer",
    );
    assert_eq!(ok(store.get(&prefix, "k").await, "get prefix"), None);
    assert_eq!(ok(store.key_count(&prefix).await, "key_count"), 0);
    for s in [&a, &b, &prefix, &longer] {
        ok(store.clear_store(s).await, "clear_store");
    }
}

/// `clear_store` empties one store, returns how many keys it removed, and touches no other store.
pub async fn clear_store_removes_one_store_and_counts(store: Arc<dyn StateStore>) {
    let a = fresh_store_id("clear-a");
    let b = fresh_store_id("clear-b");
    for i in 0..5 {
        ok(store.set(&a, &format!("k{i}"), vec![i]).await, "set a");
    }
    ok(store.set(&b, "k0", b"b".to_vec()).await, "set b");
    assert_eq!(
        ok(store.clear_store(&a).await, "clear_store"),
        5,
        "clear_store returns the count removed"
    );
    assert_eq!(ok(store.key_count(&a).await, "key_count"), 0);
    assert!(
        !ok(store.store_exists(&a).await, "store_exists"),
        "a cleared store does not exist"
    );
    assert_eq!(
        ok(store.get(&b, "k0").await, "get b"),
        Some(b"b".to_vec()),
        "other stores keep their keys"
    );
    assert_eq!(
        ok(store.clear_store(&a).await, "clear again"),
        0,
        "clearing an empty store removes 0"
    );
    assert_eq!(
        ok(
            store.clear_store(&fresh_store_id("unknown")).await,
            "clear unknown"
        ),
        0
    );
    ok(store.clear_store(&b).await, "clear_store");
}

/// `list_keys`, `key_count` and `store_exists` agree after every kind of write.
pub async fn listing_tracks_every_kind_of_write(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("listing");
    let check = |expected: &'static [&'static str], step: &'static str| {
        let store = Arc::clone(&store);
        let s = s.clone();
        async move {
            let keys = ok(store.list_keys(&s).await, step);
            assert_eq!(keys, expected, "list_keys after {step}");
            assert_eq!(
                ok(store.key_count(&s).await, step),
                expected.len() as u64,
                "key_count after {step}"
            );
            assert_eq!(
                ok(store.store_exists(&s).await, step),
                !expected.is_empty(),
                "store_exists after {step}"
            );
        }
    };
    check(&[], "nothing").await;
    ok(store.set(&s, "b", b"1".to_vec()).await, "set");
    check(&["b"], "set").await;
    ok(
        store
            .set_many(
                &s,
                vec![("a".into(), b"2".to_vec()), ("c".into(), b"3".to_vec())],
            )
            .await,
        "set_many",
    );
    check(&["a", "b", "c"], "set_many").await;
    ok(store.delete(&s, "b").await, "delete");
    check(&["a", "c"], "delete").await;
    let caps = store.capabilities();
    if caps.has(crate::store::CapabilityFlags::TRANSACTIONS) {
        ok(
            store
                .transaction(&s, vec![TxnOp::put("d", b"4".to_vec()), TxnOp::delete("a")])
                .await,
            "transaction",
        );
        check(&["c", "d"], "transaction").await;
        ok(store.delete_many(&s, &["c"]).await, "delete_many");
        check(&["d"], "delete_many").await;
    } else {
        ok(store.delete_many(&s, &["a"]).await, "delete_many");
        check(&["c"], "delete_many").await;
    }
    ok(store.clear_store(&s).await, "clear_store");
    check(&[], "clear_store").await;
}

/// `list_stores` lists stores that hold keys and forgets them once emptied.
pub async fn list_stores_lists_stores_with_keys(store: Arc<dyn StateStore>) {
    let a = fresh_store_id("stores-a");
    let b = fresh_store_id("stores-b");
    ok(store.set(&a, "k", b"1".to_vec()).await, "set a");
    ok(store.set(&b, "k", b"1".to_vec()).await, "set b");
    let stores = ok(store.list_stores().await, "list_stores");
    assert!(
        stores.contains(&a) && stores.contains(&b),
        "list_stores shows both new stores"
    );
    assert!(
        stores.windows(2).all(|w| w[0] < w[1]),
        "list_stores is ascending and without duplicates"
    );
    ok(store.delete(&a, "k").await, "delete");
    ok(store.clear_store(&b).await, "clear_store");
    let stores = ok(store.list_stores().await, "list_stores");
    assert!(
        !stores.contains(&a),
        "a store emptied by delete is not listed"
    );
    assert!(!stores.contains(&b), "a cleared store is not listed");
}
