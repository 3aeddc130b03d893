//! The change feed (providers declaring `CHANGE_FEED`).

use std::{sync::Arc, time::Duration};

use super::{fresh_store_id, ok};
use crate::{
    store::{ChangeRecord, StateStore, TxnOp},
    ChangeKind,
};

/// Reads the feed from `after` until `want` changes of store `s` arrived (or 10 s passed).
pub(crate) async fn collect(
    store: &Arc<dyn StateStore>,
    s: &str,
    after: u64,
    want: usize,
) -> Vec<ChangeRecord> {
    let mut seen = Vec::new();
    let mut cursor = after;
    for _ in 0..100 {
        let page = ok(
            store
                .wait_changes(cursor, 100, Duration::from_millis(100))
                .await,
            "wait_changes",
        );
        assert!(page.cursor >= cursor, "the cursor never moves back");
        cursor = page.cursor;
        seen.extend(page.changes.into_iter().filter(|c| c.store_id == s));
        if seen.len() >= want {
            break;
        }
    }
    seen
}

/// Every committed change appears in the feed once, in commit order, with
/// the write's version; failed writes appear not at all.
pub async fn change_feed_reports_every_write_in_order(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("feed");
    let head = ok(store.change_head().await, "change_head");
    let v1 = ok(store.set(&s, "a", b"1".to_vec()).await, "set");
    let v2 = ok(store.set(&s, "a", b"2".to_vec()).await, "set");
    let v3 = ok(
        store
            .transaction(&s, vec![TxnOp::put("b", b"3".to_vec()), TxnOp::delete("a")])
            .await,
        "transaction",
    );
    let refused = store
        .compare_and_set(&s, "b", crate::store::Expected::Absent, b"x".to_vec())
        .await;
    assert!(refused.is_err());
    let changes = collect(&store, &s, head, 4).await;
    let got: Vec<(&str, ChangeKind, u64)> = changes
        .iter()
        .map(|c| (c.key.as_str(), c.kind, c.version))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", ChangeKind::Created, v1),
            ("a", ChangeKind::Updated, v2),
            ("b", ChangeKind::Created, v3),
            ("a", ChangeKind::Deleted, v3)
        ],
        "the feed reports each change once, in order"
    );
    let idle = ok(
        store
            .wait_changes(u64::MAX - 1, 10, Duration::from_millis(10))
            .await,
        "wait_changes",
    );
    assert!(
        idle.changes.is_empty(),
        "nothing lies past the end of the feed"
    );
    ok(store.clear_store(&s).await, "clear_store");
}
