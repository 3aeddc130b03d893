//! Time to live (providers declaring `TTL`): expired keys vanish from
//! every read once the store's clock passes their expiry, without a test
//! waiting for it.

use std::{sync::Arc, time::Duration};

use super::{fails_with, feed::collect, fresh_store_id, ok};
use crate::{
    store::{CapabilityFlags, ErrorKind, Expected, Scan, StateStore, TxnOp},
    ChangeKind,
};

/// Longer than any case runs, so only a moved clock expires it.
const TTL: Duration = Duration::from_secs(3_600);

/// Moves the store's clock past every expiry set with [`TTL`].
fn pass_the_expiry(store: &Arc<dyn StateStore>) {
    store.clock().advance(TTL * 2);
}

/// An expired key is returned by no read: get, get_entry, contains_key,
/// get_many, list_keys, key_count, store_exists, scans and list_stores;
/// keys without a time to live stay.
pub async fn expired_keys_are_absent_from_every_read(store: Arc<dyn StateStore>) {
    let caps = store.capabilities();
    let s = fresh_store_id("ttl-reads");
    let only_ttl = fresh_store_id("ttl-only");
    ok(store.set_with_ttl(&s, "a", b"1", TTL).await, "set_with_ttl");
    ok(store.set(&s, "b", b"2").await, "set");
    ok(store.set_with_ttl(&s, "c", b"3", TTL).await, "set_with_ttl");
    ok(
        store.set_with_ttl(&only_ttl, "k", b"", TTL).await,
        "set_with_ttl",
    );
    assert_eq!(
        ok(store.get(&s, "a").await, "get"),
        Some(b"1".to_vec()),
        "a key is readable until it expires"
    );
    assert_eq!(ok(store.key_count(&s).await, "key_count"), 3);
    pass_the_expiry(&store);
    assert_eq!(ok(store.get(&s, "a").await, "get"), None, "get");
    assert_eq!(ok(store.get_entry(&s, "a").await, "get_entry"), None);
    assert!(!ok(store.contains_key(&s, "c").await, "contains_key"));
    let many = ok(store.get_many(&s, &["a", "b", "c"]).await, "get_many");
    assert_eq!(many.keys().collect::<Vec<_>>(), ["b"], "get_many");
    assert_eq!(ok(store.list_keys(&s).await, "list_keys"), ["b"]);
    assert_eq!(ok(store.key_count(&s).await, "key_count"), 1);
    assert!(ok(store.store_exists(&s).await, "store_exists"));
    assert!(
        !ok(store.store_exists(&only_ttl).await, "store_exists"),
        "a store holding only expired keys does not exist"
    );
    assert_eq!(ok(store.key_count(&only_ttl).await, "key_count"), 0);
    if caps.has(CapabilityFlags::ORDERED_SCANS) {
        for scan in [Scan::prefix(""), Scan::prefix("").descending().limit(1)] {
            let page = ok(store.scan(&s, &scan).await, "scan");
            let keys: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys, ["b"], "scan {scan:?}");
            assert_eq!(page.next, None, "nothing follows the last live key");
        }
    }
    if caps.has(CapabilityFlags::LIST_STORES) {
        let stores = ok(store.list_stores().await, "list_stores");
        assert!(stores.contains(&s));
        assert!(!stores.contains(&only_ttl), "list_stores: {stores:?}");
    }
    ok(store.clear_store(&s).await, "clear_store");
    ok(store.clear_store(&only_ttl).await, "clear_store");
}

/// Writes see an expired key as absent: a delete finds nothing, a clear
/// counts it not, and a put creates the key anew at a fresh version.
pub async fn expired_keys_are_absent_to_writes(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("ttl-writes");
    let first = ok(store.set_with_ttl(&s, "a", b"1", TTL).await, "set_with_ttl");
    ok(store.set_with_ttl(&s, "b", b"1", TTL).await, "set_with_ttl");
    ok(store.set_with_ttl(&s, "c", b"1", TTL).await, "set_with_ttl");
    pass_the_expiry(&store);
    assert!(
        !ok(store.delete(&s, "a").await, "delete"),
        "deleting an expired key finds nothing"
    );
    let again = if store.capabilities().has(CapabilityFlags::COMPARE_AND_SET) {
        ok(
            store.compare_and_set(&s, "b", Expected::Absent, b"2").await,
            "create-if-absent over an expired key",
        )
    } else {
        ok(store.set(&s, "b", b"2").await, "set")
    };
    assert!(
        again > first,
        "versions keep growing: {again} after {first}"
    );
    assert_eq!(ok(store.clear_store(&s).await, "clear_store"), 1, "only b");
}

/// A put without a time to live clears the key's expiry; a put with one
/// moves it; a TTL put gets a version like any write.
pub async fn a_put_without_ttl_clears_the_expiry(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("ttl-clear");
    let v1 = ok(
        store.set_with_ttl(&s, "kept", b"1", TTL).await,
        "set_with_ttl",
    );
    let v2 = ok(store.set(&s, "kept", b"2").await, "set");
    assert!(v2 > v1, "a TTL put is versioned as any write");
    ok(store.set(&s, "moved", b"1").await, "set");
    ok(
        store.set_with_ttl(&s, "moved", b"2", TTL * 4).await,
        "set_with_ttl",
    );
    pass_the_expiry(&store);
    let kept = ok(store.get_entry(&s, "kept").await, "get_entry").expect("kept has no expiry");
    assert_eq!((kept.value, kept.version), (b"2".to_vec(), v2));
    assert_eq!(
        ok(store.get(&s, "moved").await, "get"),
        Some(b"2".to_vec()),
        "its expiry is 4 TTL away"
    );
    pass_the_expiry(&store);
    assert_eq!(ok(store.get(&s, "moved").await, "get"), None);
    ok(store.clear_store(&s).await, "clear_store");
}

/// A transaction's put may carry a time to live; the checks of the
/// transaction see expired keys as absent.
pub async fn transaction_puts_may_carry_a_ttl(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("ttl-txn");
    let ops = vec![
        TxnOp::check("a", Expected::Absent),
        TxnOp::put_with_ttl("a", b"1".to_vec(), TTL),
        TxnOp::put("b", b"1".to_vec()),
    ];
    let v = ok(store.transaction(&s, ops).await, "transaction");
    assert_eq!(
        ok(store.get_entry(&s, "a").await, "get_entry").map(|e| e.version),
        Some(v)
    );
    pass_the_expiry(&store);
    assert_eq!(ok(store.list_keys(&s).await, "list_keys"), ["b"]);
    let recreate = vec![
        TxnOp::check("a", Expected::Absent),
        TxnOp::put("a", b"2".to_vec()),
    ];
    ok(
        store.transaction(&s, recreate).await,
        "create over an expired key",
    );
    ok(store.clear_store(&s).await, "clear_store");
}

/// `expiries` answers each key's expiry: the store's clock at the write
/// plus the time to live; `None` for a key without one and a missing key.
pub async fn expiries_answer_when_each_key_expires(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("ttl-expiries");
    let before = store.clock().now_ms();
    ok(store.set_with_ttl(&s, "a", b"1", TTL).await, "set_with_ttl");
    let after = store.clock().now_ms();
    ok(store.set(&s, "b", b"1").await, "set");
    let found = ok(store.expiries(&s, &["a", "b", "missing"]).await, "expiries");
    let ttl_ms = TTL.as_millis() as u64;
    assert!(
        matches!(found[..], [Some(at), None, None] if (before + ttl_ms..=after + ttl_ms).contains(&at)),
        "expiries {found:?}, written between {before} and {after} with {ttl_ms} ms to live"
    );
    assert!(ok(store.expiries(&s, &[]).await, "expiries").is_empty());
    ok(store.clear_store(&s).await, "clear_store");
}

/// Concurrent puts with a time to live (which a provider may queue and
/// commit in groups) all land, each with its value and its expiry.
pub async fn concurrent_puts_with_a_ttl_all_land(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("ttl-concurrent");
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (store, s) = (Arc::clone(&store), s.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let key = format!("t{t}-{i:02}");
                let version = ok(
                    store.set_with_ttl(&s, &key, b"v", TTL).await,
                    "set_with_ttl",
                );
                assert!(version > 0, "{key}: a put is acknowledged with its version");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task panicked");
    }
    let keys: Vec<String> = (0..8)
        .flat_map(|t| (0..25).map(move |i| format!("t{t}-{i:02}")))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let found = ok(store.get_many(&s, &refs).await, "get_many");
    assert_eq!(found.len(), keys.len(), "every put landed");
    let expiries = ok(store.expiries(&s, &refs).await, "expiries");
    assert!(
        expiries.iter().all(Option::is_some),
        "every put kept its expiry: {expiries:?}"
    );
    pass_the_expiry(&store);
    assert_eq!(ok(store.key_count(&s).await, "key_count"), 0, "all expired");
    ok(store.clear_store(&s).await, "clear_store");
}

/// A time to live of zero is refused with INVALID_ARGUMENT, writing nothing.
pub async fn zero_ttl_is_refused(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("ttl-zero");
    fails_with(
        store.set_with_ttl(&s, "k", b"", Duration::ZERO).await,
        ErrorKind::INVALID_ARGUMENT,
        "set_with_ttl of zero",
    );
    assert!(!ok(store.store_exists(&s).await, "store_exists"));
}

/// The provider removes expired keys in the background and its change
/// feed reports each removal as `Expired`, at a revision of its own.
pub async fn expiry_is_reported_by_the_change_feed(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("ttl-feed");
    let head = ok(store.change_head().await, "change_head");
    let put = ok(store.set_with_ttl(&s, "k", b"1", TTL).await, "set_with_ttl");
    pass_the_expiry(&store);
    let changes = collect(&store, &s, head, 2).await;
    let got: Vec<(&str, ChangeKind)> = changes.iter().map(|c| (c.key.as_str(), c.kind)).collect();
    assert_eq!(
        got,
        [("k", ChangeKind::Created), ("k", ChangeKind::Expired)],
        "the feed reports the put, then the expiry"
    );
    assert!(
        changes[1].version > put,
        "the expiry has a revision of its own ({} after {put})",
        changes[1].version
    );
    assert!(!ok(store.store_exists(&s).await, "store_exists"));
}

/// A provider's expiry feed reports each removal of an expired key as
/// `Expired`, at a revision of its own between the put's and that of any
/// later write, and reports no write.
pub async fn expiry_feed_reports_each_removal_and_nothing_else(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("ttl-expiry-feed");
    let head = ok(store.change_head().await, "change_head");
    let put = ok(store.set_with_ttl(&s, "k", b"1", TTL).await, "set_with_ttl");
    ok(store.set(&s, "kept", b"1").await, "set");
    pass_the_expiry(&store);
    let changes = collect(&store, &s, head, 1).await;
    let got: Vec<(&str, ChangeKind)> = changes.iter().map(|c| (c.key.as_str(), c.kind)).collect();
    assert_eq!(
        got,
        [("k", ChangeKind::Expired)],
        "the feed reports the removal and no write"
    );
    let removed = changes[0].version;
    assert!(
        removed > put,
        "the removal has a revision of its own ({removed} after {put})"
    );
    let later = ok(store.set(&s, "k", b"2").await, "set");
    assert!(
        later > removed,
        "a later write has a later revision ({later} after {removed})"
    );
    let after = ok(
        store
            .wait_changes(head, 100, Duration::from_millis(50))
            .await,
        "wait_changes",
    );
    let of_s: Vec<_> = after.changes.iter().filter(|c| c.store_id == s).collect();
    assert_eq!(of_s.len(), 1, "only the removal: {of_s:?}");
    ok(store.clear_store(&s).await, "clear_store");
}
