//! The whole conformance suite against the redb provider loaded from its
//! `.so` with history on (`history_versions = 3`), so the history case runs
//! instead of being skipped, beside every other behaviour.

use std::sync::Arc;

use stateplug::{CapabilityFlags, StateStore};

fn redb_with_history() -> (Arc<dyn StateStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = serde_json::json!({
        "path": dir.path().join("state.redb"),
        "history_versions": 3,
    });
    let store = stateplug_tests::load("stateplug-provider-redb")
        .open(&config)
        .expect("open redb with history");
    (store, dir)
}

stateplug::conformance_tests!(redb_with_history);

#[test]
fn history_is_declared_by_the_opened_instance_only() {
    let library = stateplug_tests::load("stateplug-provider-redb");
    assert!(
        !library.capabilities().has(CapabilityFlags::HISTORY),
        "the library's default configuration keeps history off"
    );
    let (store, _dir) = redb_with_history();
    assert!(store.capabilities().has(CapabilityFlags::HISTORY));
}
