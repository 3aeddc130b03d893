//! Version history (providers declaring `HISTORY`).

use std::sync::Arc;

use super::{fresh_store_id, ok};
use crate::store::StateStore;

/// History lists retained versions newest first, the newest being the
/// current value, with deletions as `None`; `get_version` reads them back.
pub async fn history_lists_versions_newest_first(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("history");
    let v1 = ok(store.set(&s, "k", b"one".to_vec()).await, "set");
    let v2 = ok(store.set(&s, "k", b"two".to_vec()).await, "set");
    let history = ok(store.history(&s, "k", 10).await, "history");
    assert!(!history.is_empty(), "a written key has history");
    assert_eq!(
        history[0].version, v2,
        "the newest entry is the current version"
    );
    assert_eq!(history[0].value.as_deref(), Some(&b"two"[..]));
    assert!(
        history.windows(2).all(|w| w[0].version > w[1].version),
        "newest first: {history:?}"
    );
    if let Some(older) = history.get(1) {
        assert_eq!(
            (older.version, older.value.as_deref()),
            (v1, Some(&b"one"[..]))
        );
        let past = ok(store.get_version(&s, "k", v1).await, "get_version")
            .expect("a retained version reads back");
        assert_eq!(past.value, b"one");
    }
    assert_eq!(
        ok(store.history(&s, "k", 1).await, "history").len(),
        1,
        "the limit holds"
    );
    assert!(
        ok(
            store.get_version(&s, "k", v2 + 1_000_000).await,
            "get_version"
        )
        .is_none(),
        "an unknown version is None"
    );
    assert!(ok(store.history(&s, "never-written", 10).await, "history").is_empty());

    ok(store.delete(&s, "k").await, "delete");
    let history = ok(store.history(&s, "k", 10).await, "history");
    assert_eq!(
        history[0].value, None,
        "a deletion is recorded as None: {history:?}"
    );
    assert!(history[0].version > v2);
    ok(store.clear_store(&s).await, "clear_store");
}
