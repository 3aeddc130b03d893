//! What recording metrics costs: the memory `.so` get and the redb `.so`
//! durable set, bare and wrapped in the host's `MetricsLayer`, with the
//! Prometheus recorder `stateplug run --metrics-addr` installs. Both sides
//! use the same provider instance and data, interleaved in the same run.

use std::{sync::Arc, time::Instant};

use stateplug::{
    layers::{metrics::CALL_DURATION, Layered, MetricsLayer},
    StateStore,
};

use super::{fill, key, read_order, runtime, value};
use crate::{library, measure::median, report::at_most, report::Row, Sizes};

const VALUE_LEN: usize = 64;

/// Installs the recorder the command installs (latency buckets for the
/// call histogram); false if another recorder is already installed.
fn install_recorder() -> bool {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(CALL_DURATION.to_string()),
            &[
                1e-6, 5e-6, 2.5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 2.5e-2, 0.1, 0.5, 2.5, 10.0,
            ],
        )
        .expect("buckets")
        .build_recorder();
    metrics::set_global_recorder(recorder).is_ok()
}

fn ns_per_get(store: &Arc<dyn StateStore>, keys: &[String], order: &[usize]) -> f64 {
    runtime().block_on(async {
        let start = Instant::now();
        let mut bytes = 0;
        for &i in order {
            bytes += store
                .get("bench", &keys[i])
                .await
                .expect("get")
                .map_or(0, |v| v.len());
        }
        assert_eq!(bytes, order.len() * VALUE_LEN);
        start.elapsed().as_nanos() as f64 / order.len() as f64
    })
}

/// The metrics-cost rows.
pub fn run(sizes: &Sizes) -> Vec<Row> {
    if !install_recorder() {
        eprintln!("metrics: a recorder was already installed; measuring with it");
    }
    let keys: Vec<String> = (0..sizes.get_keys).map(key).collect();
    let order = read_order(sizes.get_keys, sizes.gets);
    let bare = library("memory")
        .open(&serde_json::json!({}))
        .expect("memory .so");
    runtime().block_on(fill(&bare, "bench", sizes.get_keys, VALUE_LEN));
    let measured: Arc<dyn StateStore> = Arc::new(Layered::new(
        Arc::clone(&bare),
        MetricsLayer::new("memory", false),
    ));
    let (mut bare_ns, mut measured_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..sizes.runs.max(3) {
        // Alternate which side goes first, so neither always runs warm.
        let (a, b) = if run % 2 == 0 {
            let a = ns_per_get(&bare, &keys, &order);
            (a, ns_per_get(&measured, &keys, &order))
        } else {
            let b = ns_per_get(&measured, &keys, &order);
            (ns_per_get(&bare, &keys, &order), b)
        };
        bare_ns.push(a);
        measured_ns.push(b);
        ratios.push(b / a);
    }
    let get_ratio = median(&ratios);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("metrics.redb");
    let redb = library("redb")
        .open(&serde_json::json!({ "path": path }))
        .expect("redb .so");
    let measured_redb: Arc<dyn StateStore> = Arc::new(Layered::new(
        Arc::clone(&redb),
        MetricsLayer::new("redb", true),
    ));
    let n = sizes.durable_sets;
    let (mut bare_us, mut measured_us) = (Vec::with_capacity(n), Vec::with_capacity(n));
    runtime().block_on(async {
        for i in 0..n {
            let (k, v) = (key(i), value(i, 100));
            // Set by set, taking turns, so both see the same disk.
            for turn in 0..2 {
                let with_metrics = (i + turn) % 2 == 1;
                let store = if with_metrics { &measured_redb } else { &redb };
                let start = Instant::now();
                store.set("bench", &k, v.clone()).await.expect("set");
                let us = start.elapsed().as_nanos() as f64 / 1000.0;
                if with_metrics {
                    measured_us.push(us);
                } else {
                    bare_us.push(us);
                }
            }
        }
    });
    let set_ratio = median(&measured_us) / median(&bare_us);
    vec![
        Row {
            scenario: "metrics cost, memory get".into(),
            metric: "ns/get".into(),
            baseline: ("memory .so".into(), median(&bare_ns)),
            candidate: ("memory .so + MetricsLayer".into(), median(&measured_ns)),
            ratio: get_ratio,
            target: at_most(get_ratio, 1.05),
            note: format!(
                "{} keys, {}-byte values, {} random gets, Prometheus recorder installed",
                sizes.get_keys, VALUE_LEN, sizes.gets
            ),
        },
        Row {
            scenario: "metrics cost, durable set".into(),
            metric: "us/set (median)".into(),
            baseline: ("redb .so".into(), median(&bare_us)),
            candidate: ("redb .so + MetricsLayer".into(), median(&measured_us)),
            ratio: set_ratio,
            target: None,
            note: format!("{n} sets of 100-byte values each side, taking turns"),
        },
    ]
}
