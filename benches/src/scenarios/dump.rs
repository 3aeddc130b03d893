//! A dump of one store through `stateplug::ops::dump` (the command line's
//! `stateplug dump`) against the plain paged walk it is built on, on the
//! memory and the redb `.so`: what the dump format (JSON lines, base64,
//! SHA-256) and the expiry reads per page cost beside reading the data.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use stateplug::{Scan, StateStore};

use super::{fill, runtime};
use crate::{library, measure::median, report::Row, Sizes};

const VALUE_LEN: usize = 64;
/// The dump's own page size, so both read the store alike.
const PAGE: u32 = 1_000;

/// Reads every key and value of `store_id` in pages; the time taken.
async fn walk(store: &Arc<dyn StateStore>, store_id: &str, n: usize) -> Duration {
    let start = Instant::now();
    let mut scan = Scan::prefix("").limit(PAGE);
    let (mut seen, mut bytes) = (0usize, 0usize);
    loop {
        let page = store.scan_rows(store_id, &scan).await.expect("scan");
        for row in page.iter() {
            bytes += row.key.len() + row.value.len();
            seen += 1;
        }
        match page.next() {
            Some(next) => scan = scan.after(next),
            None => break,
        }
    }
    assert_eq!(seen, n);
    std::hint::black_box(bytes);
    start.elapsed()
}

/// Dumps `store_id` into a sink; the time taken.
async fn dump(store: &Arc<dyn StateStore>, store_id: &str, n: usize) -> Duration {
    let start = Instant::now();
    let summary = stateplug::ops::dump(store, &[store_id.to_string()], &mut std::io::sink(), &())
        .await
        .expect("dump");
    assert_eq!(summary.entries, n as u64);
    start.elapsed()
}

/// Dump against walk, keys/s, for each shipped local provider.
pub fn run(sizes: &Sizes) -> Vec<Row> {
    let n = sizes.scan_keys / 4;
    let dir = tempfile::tempdir().expect("temp dir");
    let providers = [
        ("memory", serde_json::json!({})),
        (
            "redb",
            serde_json::json!({ "path": dir.path().join("dump.redb") }),
        ),
    ];
    let mut rows = Vec::new();
    for (name, config) in providers {
        let store = library(name).open(&config).expect("open");
        let rt = runtime();
        rt.block_on(fill(&store, "bench", n, VALUE_LEN));
        let (mut walked, mut dumped, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..sizes.runs {
            let w = n as f64 / rt.block_on(walk(&store, "bench", n)).as_secs_f64();
            let d = n as f64 / rt.block_on(dump(&store, "bench", n)).as_secs_f64();
            walked.push(w);
            dumped.push(d);
            ratio.push(d / w);
        }
        rows.push(Row {
            scenario: format!("dump of {n} keys, {name}"),
            metric: "keys/s".into(),
            baseline: (
                format!("{name} .so via host, paged walk (scan_rows)"),
                median(&walked),
            ),
            candidate: ("stateplug::ops::dump to a sink".into(), median(&dumped)),
            ratio: median(&ratio),
            target: None,
            note: format!(
                "{VALUE_LEN}-byte values, no expiries: every page also reads its expiries and \
                 re-reads the keys that have none"
            ),
        });
    }
    rows
}
