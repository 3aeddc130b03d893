//! End to end: events per second through the example pipeline (generator
//! -> word-count on the redb `.so`, a durable checkpoint per batch).

use std::time::Instant;

use stateplug::Host;
use stateplug_plugins_example::{Generator, WordCount};

use super::multi_runtime;
use crate::{measure::median, report::Row, Sizes};

/// End-to-end rows.
pub fn run(sizes: &Sizes) -> Vec<Row> {
    let n = sizes.e2e_events;
    let mut rates = Vec::new();
    let mut per_event = Vec::new();
    for _ in 0..sizes.runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let library = crate::library("redb");
        let rt = multi_runtime();
        let elapsed = rt.block_on(async {
            let host = Host::builder()
                .provider_library(
                    library.path(),
                    serde_json::json!({ "path": dir.path().join("e2e.redb") }),
                )
                .source(Generator::new("numbers").count(n))
                .reaction(WordCount::new("counts", &["numbers"]).batch(256))
                .build()
                .expect("build");
            let start = Instant::now();
            let mut running = host.start().await.expect("start");
            running.wait().await;
            running.stop().await.expect("clean run");
            start.elapsed()
        });
        rates.push(n as f64 / elapsed.as_secs_f64());
        per_event.push(elapsed.as_secs_f64() * 1e6 / n as f64);
    }
    vec![Row {
        scenario: "end to end: generator -> word-count".into(),
        metric: "events/s".into(),
        baseline: ("µs/event".into(), median(&per_event)),
        candidate: ("events/s".into(), median(&rates)),
        ratio: f64::NAN,
        target: None,
        note: format!("{n} events, redb .so, batches of 256, a durable commit per batch"),
    }]
}
