//! Size limits and undeclared capabilities.

use std::sync::Arc;

use super::{fails_with, fresh_store_id, ok};
use crate::store::{
    CapabilityFlags, ErrorKind, Expected, Operation, Scan, StateStore, TxnOp, WriteOp,
};

/// Input at each declared limit is accepted; one past it is refused with
/// INVALID_ARGUMENT naming the limit.
pub async fn limits_refuse_oversized_input(store: Arc<dyn StateStore>) {
    let limits = *store.capabilities().limits();
    let s = fresh_store_id("limits");
    let bad = ErrorKind::INVALID_ARGUMENT;

    let long_key = "k".repeat(limits.max_key_bytes as usize);
    ok(
        store.set(&s, &long_key, b"v".to_vec()).await,
        "a key at max_key_bytes",
    );
    assert_eq!(
        ok(store.get(&s, &long_key).await, "get"),
        Some(b"v".to_vec())
    );
    let err = fails_with(
        store.set(&s, &format!("{long_key}k"), b"v".to_vec()).await,
        bad,
        "key past the limit",
    );
    assert!(
        err.message.contains("max_key_bytes"),
        "the error names the limit: {err}"
    );
    fails_with(
        store.get(&s, &format!("{long_key}k")).await,
        bad,
        "get with a key past the limit",
    );

    let sid = format!(
        "{s}{}",
        "s".repeat(limits.max_store_id_bytes as usize - s.len())
    );
    ok(
        store.set(&sid, "k", b"v".to_vec()).await,
        "a store_id at max_store_id_bytes",
    );
    let err = fails_with(
        store.set(&format!("{sid}s"), "k", b"v".to_vec()).await,
        bad,
        "store_id past the limit",
    );
    assert!(
        err.message.contains("max_store_id_bytes"),
        "the error names the limit: {err}"
    );

    if limits.max_value_bytes <= 64 * 1024 * 1024 {
        let at_limit: Vec<u8> = (0..limits.max_value_bytes as usize)
            .map(|i| (i % 251) as u8)
            .collect();
        ok(
            store.set(&s, "big", at_limit.clone()).await,
            "a value at max_value_bytes",
        );
        assert!(
            ok(store.get(&s, "big").await, "get").as_deref() == Some(at_limit.as_slice()),
            "a value at max_value_bytes reads back whole"
        );
        ok(store.delete(&s, "big").await, "delete");
        let err = fails_with(
            store
                .set(&s, "big", vec![0; limits.max_value_bytes as usize + 1])
                .await,
            bad,
            "value past the limit",
        );
        assert!(
            err.message.contains("max_value_bytes"),
            "the error names the limit: {err}"
        );
        assert!(
            !ok(store.contains_key(&s, "big").await, "contains_key"),
            "a refused value is not stored"
        );
    }

    let n = limits.max_batch_ops as usize + 1;
    let keys: Vec<String> = (0..n).map(|i| format!("b{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let err = fails_with(
        store.get_many(&s, &refs).await,
        bad,
        "get_many past max_batch_ops",
    );
    assert!(
        err.message.contains("max_batch_ops"),
        "the error names the limit: {err}"
    );
    fails_with(
        store.delete_many(&s, &refs).await,
        bad,
        "delete_many past max_batch_ops",
    );
    let entries = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
    fails_with(
        store.set_many(&s, entries).await,
        bad,
        "set_many past max_batch_ops",
    );
    assert_eq!(
        ok(store.key_count(&s).await, "key_count"),
        1,
        "a refused batch writes nothing"
    );
    let at_limit: Vec<(String, Vec<u8>)> = keys[..n - 1]
        .iter()
        .map(|k| (k.clone(), Vec::new()))
        .collect();
    ok(
        store.set_many(&s, at_limit).await,
        "set_many at max_batch_ops",
    );

    if store.capabilities().has(CapabilityFlags::ORDERED_SCANS) {
        fails_with(
            store.scan(&s, &Scan::prefix("").limit(0)).await,
            bad,
            "scan with limit 0",
        );
        fails_with(
            store
                .scan(&s, &Scan::prefix("").limit(limits.max_scan_limit + 1))
                .await,
            bad,
            "scan past the limit",
        );
        let page = ok(
            store
                .scan(&s, &Scan::prefix("").limit(limits.max_scan_limit))
                .await,
            "scan at the limit",
        );
        assert!(page.entries.len() <= limits.max_scan_limit as usize);
    }
    ok(store.clear_store(&s).await, "clear_store");
    ok(store.clear_store(&sid).await, "clear_store");
}

/// An empty store_id is refused by every operation that takes one.
pub async fn empty_store_id_is_refused(store: Arc<dyn StateStore>) {
    let bad = ErrorKind::INVALID_ARGUMENT;
    let err = fails_with(
        store.set("", "k", b"v".to_vec()).await,
        bad,
        "set with an empty store_id",
    );
    assert!(
        err.message.contains("store_id"),
        "the error names the store_id: {err}"
    );
    fails_with(store.get("", "k").await, bad, "get");
    fails_with(store.delete("", "k").await, bad, "delete");
    fails_with(store.clear_store("").await, bad, "clear_store");
    fails_with(store.list_keys("").await, bad, "list_keys");
    fails_with(store.key_count("").await, bad, "key_count");
    fails_with(
        store.set_many("", vec![("k".into(), vec![])]).await,
        bad,
        "set_many",
    );
}

/// What a provider does not declare is refused with UNSUPPORTED, never
/// silently ignored (a compare-and-set that ignores its condition loses updates).
pub async fn undeclared_capabilities_are_unsupported(store: Arc<dyn StateStore>) {
    let caps = store.capabilities();
    let s = fresh_store_id("unsupported");
    let no = ErrorKind::UNSUPPORTED;
    if !caps.has(CapabilityFlags::COMPARE_AND_SET) {
        fails_with(
            store
                .compare_and_set(&s, "k", Expected::Absent, vec![])
                .await,
            no,
            "compare_and_set",
        );
        fails_with(
            store.compare_and_delete(&s, "k", 1).await,
            no,
            "compare_and_delete",
        );
    }
    if !caps.has(CapabilityFlags::TRANSACTIONS) {
        fails_with(
            store.transaction(&s, vec![TxnOp::put("k", vec![])]).await,
            no,
            "transaction",
        );
    }
    if !caps.has(CapabilityFlags::ORDERED_SCANS) {
        fails_with(store.scan(&s, &Scan::prefix("")).await, no, "scan");
    }
    if !caps.has(CapabilityFlags::LIST_STORES) {
        fails_with(store.list_stores().await, no, "list_stores");
    }
    if !caps.has(CapabilityFlags::HISTORY) {
        fails_with(store.history(&s, "k", 10).await, no, "history");
        fails_with(store.get_version(&s, "k", 1).await, no, "get_version");
    }
    if !caps.has(CapabilityFlags::TTL) {
        let ttl = std::time::Duration::from_secs(60);
        fails_with(
            store.set_with_ttl(&s, "k", b"", ttl).await,
            no,
            "set_with_ttl",
        );
        // Past the host's own check, straight to the provider: it refuses
        // too, and never writes the key without its expiry.
        let expiring = [WriteOp::put_expiring("k", b"", u64::MAX)];
        fails_with(
            store.write(Operation::Set, &s, &expiring).await,
            no,
            "a put with an expiry",
        );
        fails_with(store.expiries(&s, &["k"]).await, no, "expiries");
    }
    if !caps.has(CapabilityFlags::CHANGE_FEED) && !caps.has(CapabilityFlags::EXPIRY_FEED) {
        fails_with(store.change_head().await, no, "change_head");
        let wait = store
            .wait_changes(0, 10, std::time::Duration::from_millis(1))
            .await;
        fails_with(wait, no, "wait_changes");
    }
    assert!(
        !ok(store.store_exists(&s).await, "store_exists"),
        "refused operations write nothing"
    );
}
