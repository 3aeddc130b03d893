//! The fencing metrics: a takeover is counted by the host that takes over,
//! the stop of the superseded instance by the host it ran in. Its own test
//! binary, since it installs the process's one metrics recorder.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use stateplug::{
    runtime::metrics::{PLUGIN_FENCED, PLUGIN_TAKEOVERS},
    Host, StateStore,
};
use stateplug_plugins_example::Generator;

fn host(store: &Arc<dyn StateStore>, name: &str) -> Host {
    let numbers = Generator::new("numbers").rate(2000).durable(false);
    stateplug_tests::counting_host(store, name, numbers, 20)
        .build()
        .unwrap()
}

/// The value of `name{plugin="<plugin>",...}` in the rendered text, 0 if absent.
fn counter(handle: &PrometheusHandle, name: &str, plugin: &str) -> f64 {
    let label = format!("plugin=\"{plugin}\"");
    handle
        .render()
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(&label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeovers_and_fenced_stops_are_counted() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();
    let store = stateplug_tests::memory_so().0;

    let mut a = host(&store, "host-a").start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for plugin in ["numbers", "counts"] {
        assert_eq!(
            counter(&handle, PLUGIN_TAKEOVERS, plugin),
            0.0,
            "a first start takes nothing over"
        );
    }
    let b = host(&store, "host-b").start().await.unwrap();
    for plugin in ["numbers", "counts"] {
        assert_eq!(counter(&handle, PLUGIN_TAKEOVERS, plugin), 1.0, "{plugin}");
    }
    tokio::time::timeout(Duration::from_secs(20), a.wait())
        .await
        .expect("the superseded host notices within 20 s");
    assert!(a.stop().await.is_err(), "host-a's plugins stop fenced");
    for plugin in ["numbers", "counts"] {
        assert_eq!(counter(&handle, PLUGIN_FENCED, plugin), 1.0, "{plugin}");
    }
    b.stop().await.unwrap();
}
