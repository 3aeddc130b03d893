//! The conformance suite against the redb provider loaded from its `.so`.

stateplug::conformance_tests!(stateplug_tests::redb_so);

/// Data and versions survive closing and reopening the same file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_preserves_data() {
    let dir = tempfile::tempdir().unwrap();
    let library = stateplug_tests::load("stateplug-provider-redb");
    let config = stateplug_tests::redb_config(dir.path());
    stateplug::conformance::reopen_preserves_data(|| library.open(&config).expect("open redb"))
        .await;
}
