//! Durability across close and reopen.

use std::sync::Arc;

use super::{fresh_store_id, ok};
use crate::store::{Expected, StateStore, TxnOp};

/// Everything acknowledged before the store is closed is there after it is
/// reopened, with the same versions, and new versions keep increasing.
/// `open` must open the same underlying storage each time. Only durable
/// providers make this promise; the case returns early for others.
pub async fn reopen_preserves_data<F>(open: F)
where
    F: Fn() -> Arc<dyn StateStore>,
{
    let store = open();
    if !store.is_durable() {
        eprintln!(
            "skipped reopen_preserves_data: provider {} is not durable",
            store.info().name
        );
        return;
    }
    let s = fresh_store_id("reopen");
    let other = fresh_store_id("reopen-other");
    ok(store.set(&s, "single", b"1".to_vec()).await, "set");
    ok(
        store
            .set_many(
                &s,
                vec![("m1".into(), b"2".to_vec()), ("m2".into(), b"3".to_vec())],
            )
            .await,
        "set_many",
    );
    ok(store.set(&s, "gone", b"x".to_vec()).await, "set");
    ok(store.delete(&s, "gone").await, "delete");
    ok(store.set(&other, "k", b"other".to_vec()).await, "set other");
    if store
        .capabilities()
        .has(crate::store::CapabilityFlags::TRANSACTIONS)
    {
        ok(
            store
                .transaction(&s, vec![TxnOp::put("t", b"4".to_vec())])
                .await,
            "transaction",
        );
    }
    let before = ok(store.get_entry(&s, "single").await, "get_entry").expect("written");
    let max_before = ok(store.get_entry(&s, "m1").await, "get_entry")
        .expect("written")
        .version;
    ok(store.sync().await, "sync");
    drop(store);

    let store = open();
    let after = ok(
        store.get_entry(&s, "single").await,
        "get_entry after reopen",
    )
    .expect("single survives reopen");
    assert_eq!(after, before, "value and version survive reopen");
    assert_eq!(
        ok(store.get(&s, "m2").await, "get"),
        Some(b"3".to_vec()),
        "set_many survives reopen"
    );
    assert_eq!(
        ok(store.get(&s, "gone").await, "get"),
        None,
        "a delete survives reopen"
    );
    assert_eq!(
        ok(store.get(&other, "k").await, "get"),
        Some(b"other".to_vec())
    );
    let v = ok(
        store
            .compare_and_set(
                &s,
                "single",
                Expected::Version(before.version),
                b"5".to_vec(),
            )
            .await,
        "cas",
    );
    assert!(
        v > max_before,
        "versions after reopen exceed every version before it"
    );
    ok(store.clear_store(&s).await, "clear_store");
    ok(store.clear_store(&other).await, "clear_store");
}
