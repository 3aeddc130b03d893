//! The conformance suite against the postgres provider loaded from its
//! `.so`, on the server named by `STATEPLUG_TEST_POSTGRES_URL` (each test
//! in its own schema). Without the variable each test prints one skip line.
//!
//! The suite runs as one test per provider setup through
//! `conformance::run_all`, which prints a pass/fail table: the
//! `conformance_tests!` macro cannot skip when the server is not configured.

mod postgres_support;

use std::sync::Arc;

use postgres_support::{url, TestSchema};
use stateplug::{
    conformance::{run_all, Outcome},
    StateStore,
};

/// Runs every case, prints the table, and fails naming each failed case.
async fn run_suite(label: &str, store: Arc<dyn StateStore>) {
    let report = run_all(store).await;
    println!("conformance of {label}:");
    let mut failed = Vec::new();
    let mut passed = 0;
    for (name, outcome) in &report {
        match outcome {
            Outcome::Passed => {
                passed += 1;
                println!("  pass  {name}");
            }
            Outcome::Skipped(why) => println!("  skip  {name} ({why})"),
            Outcome::Failed(why) => {
                println!("  FAIL  {name}: {why}");
                failed.push(format!("{name}: {why}"));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{label}: {} case(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let skipped: Vec<&str> = report
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Skipped(_)))
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        skipped,
        [
            "history_lists_versions_newest_first",
            "expiry_feed_reports_each_removal_and_nothing_else"
        ],
        "only history and an expiry-only feed (postgres has a full change feed) are not declared"
    );
    assert!(passed >= 30, "{passed} cases passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_through_the_loaded_library() {
    let Some(url) = url() else { return };
    let schema = TestSchema::fresh(&url);
    run_suite("the postgres .so", schema.open()).await;
}

/// The same suite through a watch layer that follows the provider's change
/// feed, with a live watcher (never read, so it lags).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_through_a_watch_layer_on_the_feed() {
    let Some(url) = url() else { return };
    let schema = TestSchema::fresh(&url);
    let layer = stateplug_tests::Watched::new(schema.open(), 1024);
    assert!(layer.follows_change_feed());
    let _watcher = layer.watch_all();
    assert!(layer.ready().await);
    run_suite(
        "the postgres .so under a watch layer",
        layer.store().clone(),
    )
    .await;
}

/// Data and versions survive dropping the provider and opening it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_preserves_data() {
    let Some(url) = url() else { return };
    let schema = TestSchema::fresh(&url);
    stateplug::conformance::reopen_preserves_data(|| schema.open()).await;
}
