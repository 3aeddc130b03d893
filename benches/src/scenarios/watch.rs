//! The cost of change events: sets to the memory `.so` through the host,
//! bare, and under a watch layer with a live watcher (drained as it goes),
//! taking turns batch by batch in one run.

use std::{sync::Arc, time::Instant};

use stateplug::{
    layers::{Layered, WatchEvent, WatchLayer},
    StateStore,
};

use super::runtime;
use crate::{library, measure::median, report::Row, Sizes};

/// Sets per batch; the watcher is drained after each.
const BATCH: usize = 500;

/// ns per set of one batch of sets to `store`, keys cycling over 1,000.
async fn batch_of_sets(store: &Arc<dyn StateStore>, round: usize) -> f64 {
    let start = Instant::now();
    for i in 0..BATCH {
        let key = format!("k{:04}", (round * BATCH + i) % 1000);
        store
            .set("watched", &key, [i as u8; 32])
            .await
            .expect("set");
    }
    start.elapsed().as_nanos() as f64 / BATCH as f64
}

/// The watch rows: ns per set, watched against bare.
pub fn run(sizes: &Sizes) -> Vec<Row> {
    let bare = library("memory")
        .open(&serde_json::json!({}))
        .expect("memory .so");
    let inner = library("memory")
        .open(&serde_json::json!({}))
        .expect("memory .so");
    let layer = Arc::new(Layered::new(inner.clone(), WatchLayer::new(&inner)));
    let watched: Arc<dyn StateStore> = layer.clone();
    let mut watcher = layer.layer().watch("watched", "");
    let batches = (sizes.gets / BATCH / 10).max(20);
    let (mut bare_ns, mut watched_ns) = (Vec::new(), Vec::new());
    runtime().block_on(async {
        let mut events = 0usize;
        for run in 0..sizes.runs {
            let (mut b, mut w) = (Vec::new(), Vec::new());
            for round in 0..batches {
                // Taking turns, each side first in every other batch.
                if (round + run) % 2 == 0 {
                    b.push(batch_of_sets(&bare, round).await);
                    w.push(batch_of_sets(&watched, round).await);
                } else {
                    w.push(batch_of_sets(&watched, round).await);
                    b.push(batch_of_sets(&bare, round).await);
                }
                while let Some(event) = watcher.try_next() {
                    if let WatchEvent::Changes(changes) = event {
                        events += changes.len();
                    }
                }
            }
            bare_ns.push(median(&b));
            watched_ns.push(median(&w));
        }
        assert_eq!(
            events,
            sizes.runs * batches * BATCH,
            "every set was reported once"
        );
    });
    let (b, w) = (median(&bare_ns), median(&watched_ns));
    vec![Row {
        scenario: "set under a watch layer, memory".into(),
        metric: "ns/set".into(),
        baseline: ("memory .so via host".into(), b),
        candidate: ("the same, watched (a live watcher)".into(), w),
        ratio: w / b,
        target: None,
        note: format!("{BATCH} sets a batch, taking turns; every change received once"),
    }]
}
