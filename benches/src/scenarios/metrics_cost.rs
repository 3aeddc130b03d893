//! What recording metrics costs: the memory `.so` get and the redb `.so`
//! durable set, bare and wrapped in the host's `MetricsLayer`, with the
//! Prometheus recorder `stateplug run --metrics-addr` installs (see
//! [`crate::commits`]). Both sides
//! use the same provider instance and data, interleaved in the same run.

use std::{sync::Arc, time::Instant};

use stateplug::{
    layers::{Layered, MetricsLayer},
    StateStore,
};

use super::{fill, get_in_order, key, read_order, runtime, value};
use crate::{library, measure::median, report::at_most, report::Row, Sizes};

const VALUE_LEN: usize = 64;

/// Gets per timed stretch. The two sides take turns stretch by stretch,
/// so both see the same machine: on a shared one the speed of a get drifts
/// by 2× between runs of a few hundred milliseconds.
const STRETCH: usize = 1_000;

/// The nanoseconds per get of `bare` and of `measured` over `order`, each
/// side reading half of it. The stretches come in pairs: in pair `j` one
/// side reads the first stretch and the other the next, the first turn
/// alternating with `j`, so each side reads as many stretches first as
/// second, all of them keys the other side did not just read.
fn ns_per_get(
    bare: &Arc<dyn StateStore>,
    measured: &Arc<dyn StateStore>,
    keys: &[String],
    order: &[usize],
) -> [f64; 2] {
    runtime().block_on(async {
        let (mut nanos, mut gets, mut bytes) = ([0u128; 2], [0usize; 2], 0);
        for (j, pair) in order.chunks(2 * STRETCH).enumerate() {
            let (first, second) = pair.split_at(pair.len() / 2);
            for (turn, stretch) in [first, second].into_iter().enumerate() {
                let side = (j + turn) % 2;
                let store = if side == 0 { bare } else { measured };
                let start = Instant::now();
                bytes += get_in_order(store, keys, stretch).await;
                nanos[side] += start.elapsed().as_nanos();
                gets[side] += stretch.len();
            }
        }
        assert_eq!(bytes, order.len() * VALUE_LEN);
        [0, 1].map(|side| nanos[side] as f64 / gets[side].max(1) as f64)
    })
}

/// The metrics-cost rows.
pub fn run(sizes: &Sizes) -> Vec<Row> {
    // The recorder is the one `crate::commits::install` installed: the
    // command's Prometheus recorder.
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
    for _ in 0..sizes.runs.max(3) {
        let [a, b] = ns_per_get(&bare, &measured, &keys, &order);
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
                "{} keys, {}-byte values, {} random gets, each side half of them, taking turns every {STRETCH}; Prometheus recorder installed",
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
