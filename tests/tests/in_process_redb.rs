//! The conformance suite against the redb provider compiled into this
//! process (no dynamic loading), through the same adapter as its `.so`.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use stateplug::StateStore;

fn redb() -> (Arc<dyn StateStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = stateplug_tests::redb_config(dir.path());
    let store = stateplug::provider::open_in_process_with(
        stateplug_provider_redb::open_in_process_with,
        &config,
        &stateplug::Clock::system(),
    )
    .expect("open redb in process");
    (store, dir)
}

stateplug::conformance_tests!(redb);
