//! The commit metrics of a durable provider, through the loaded redb `.so`:
//! a commit is counted once, however many writes it acknowledged, and the
//! group size histogram holds the writes of each commit, and each commit is
//! timed once, its sync included. Its own test
//! binary, since it installs the process's one metrics recorder.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use stateplug::{
    layers::{
        metrics::{COMMIT_DURATION, DURABLE_COMMITS, WRITE_GROUP_SIZE},
        Layered, MetricsLayer,
    },
    StateStore,
};

/// The value of the sample `name{provider="<provider>"}` in the rendered text.
fn sample(handle: &PrometheusHandle, name: &str, provider: &str) -> f64 {
    let label = format!("provider=\"{provider}\"");
    handle
        .render()
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(&label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `store` (durable) counted under `provider`.
fn measured(store: Arc<dyn StateStore>, provider: &str) -> Arc<dyn StateStore> {
    Arc::new(Layered::new(store, MetricsLayer::new(provider, true)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_is_counted_once_with_the_writes_it_acknowledged() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();
    let (lone_so, _lone_dir) = stateplug_tests::redb_so();
    let (grouped_so, _grouped_dir) = stateplug_tests::redb_so();

    // One writer: every write is a commit of its own.
    let lone = measured(lone_so, "lone");
    for i in 0..20 {
        lone.set("s", &format!("k{i}"), b"v").await.unwrap();
    }
    assert_eq!(sample(&handle, DURABLE_COMMITS, "lone"), 20.0);
    let sum = format!("{WRITE_GROUP_SIZE}_sum");
    let count = format!("{WRITE_GROUP_SIZE}_count");
    assert_eq!(sample(&handle, &sum, "lone"), 20.0);
    assert_eq!(sample(&handle, &count, "lone"), 20.0);
    let took = format!("{COMMIT_DURATION}_sum");
    let timed = format!("{COMMIT_DURATION}_count");
    assert_eq!(sample(&handle, &timed, "lone"), 20.0);
    // Each commit waited for a sync of the disk: more than nothing, less than a second.
    let lone_took = sample(&handle, &took, "lone");
    assert!(
        lone_took > 0.0 && lone_took < 20.0,
        "{lone_took} s for 20 commits"
    );

    // 32 writers at once: the host hands their writes over in groups, and
    // each group is one commit holding all of its writes.
    let grouped = measured(grouped_so, "grouped");
    let (writers, each) = (32, 25);
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = Arc::clone(&grouped);
            tokio::spawn(async move {
                for i in 0..each {
                    store.set("s", &format!("w{w}-{i}"), b"v").await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let writes = f64::from(writers * each);
    let commits = sample(&handle, DURABLE_COMMITS, "grouped");
    assert_eq!(
        sample(&handle, &sum, "grouped"),
        writes,
        "the groups hold every acknowledged write once"
    );
    assert_eq!(sample(&handle, &count, "grouped"), commits);
    assert_eq!(
        sample(&handle, &timed, "grouped"),
        commits,
        "one duration per commit, not per write"
    );
    assert!(
        commits < writes,
        "{writes} concurrent writes took {commits} commits: none was grouped"
    );
    assert_eq!(
        grouped.key_count("s").await.unwrap(),
        writers as u64 * each as u64
    );
}
