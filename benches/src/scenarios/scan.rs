//! A paged walk over every key: raw redb range iteration against the redb
//! `.so` through the host in pages of 1,000 (`scan_rows`: rows lent out of
//! one buffer per page); peak memory of the paged walk.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use redb::{ReadableDatabase, TableDefinition};
use stateplug::{Scan, StateStore};

use super::{fill, key, runtime, value};
use crate::{library, measure, measure::median, report::Row, Sizes};

const VALUE_LEN: usize = 64;
const PAGE: u32 = 1_000;
const RAW: TableDefinition<&str, &[u8]> = TableDefinition::new("raw");

/// What the walk's consumer does with a row: it reads the key and every
/// value byte, as any use of the row would. (A walk that only takes the
/// lengths never touches the value bytes: on the raw side they would stay
/// in memory uncached while the host side has copied them.) Never inlined:
/// both walks run the very same machine code for it, whatever the build.
#[inline(never)]
fn consume(key: &str, value: &[u8]) -> usize {
    key.len() + value.iter().map(|&b| usize::from(b)).sum::<usize>()
}

/// Walks every key through the host, calling `sample` while each page is
/// alive; returns the rows seen and the time taken.
fn host_walk(store: &Arc<dyn StateStore>, sample: &mut dyn FnMut()) -> (usize, Duration) {
    runtime().block_on(async {
        let start = Instant::now();
        let mut scan = Scan::prefix("").limit(PAGE);
        let (mut seen, mut bytes) = (0usize, 0usize);
        loop {
            let page = store.scan_rows("bench", &scan).await.expect("scan");
            for row in page.iter() {
                bytes += consume(row.key, row.value);
                seen += 1;
            }
            sample();
            match page.next() {
                Some(next) => scan = scan.after(next),
                None => break,
            }
        }
        std::hint::black_box(bytes);
        (seen, start.elapsed())
    })
}

/// Scan rows.
pub fn run(sizes: &Sizes) -> Vec<Row> {
    let n = sizes.scan_keys;
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = redb::Database::create(dir.path().join("raw.redb")).expect("raw redb");
    // Filled the way `fill` fills the provider's file (one commit per
    // 5,000 keys), so both walks read pages laid out alike.
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let txn = raw.begin_write().expect("write");
        {
            let mut table = txn.open_table(RAW).expect("table");
            for &i in chunk {
                table
                    .insert(key(i).as_str(), value(i, VALUE_LEN).as_slice())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    let store = library("redb")
        .open(&serde_json::json!({ "path": dir.path().join("host.redb") }))
        .expect("redb");
    runtime().block_on(async {
        fill(&store, "bench", n, VALUE_LEN).await;
        // Both walks read committed rows: the raw side's are in its table,
        // and a key count returns once the provider has applied every
        // acknowledged write of the fill to its file (see the redb README).
        assert_eq!(store.key_count("bench").await.expect("count"), n as u64);
    });

    let (mut raw_rate, mut host_rate, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.runs {
        let start = Instant::now();
        let txn = raw.begin_read().expect("read");
        let table = txn.open_table(RAW).expect("table");
        let mut seen = 0usize;
        let mut bytes = 0usize;
        for row in table.range::<&str>(..).expect("range") {
            let (k, v) = row.expect("row");
            bytes += consume(k.value(), v.value());
            seen += 1;
        }
        assert_eq!(seen, n);
        std::hint::black_box(bytes);
        raw_rate.push(n as f64 / start.elapsed().as_secs_f64());
        drop((table, txn));

        let (seen, elapsed) = host_walk(&store, &mut || {});
        assert_eq!(seen, n);
        host_rate.push(n as f64 / elapsed.as_secs_f64());

        // Memory in a walk of its own: reading /proc per page would slow the timed one.
        let before = measure::rss_kib();
        let mut peak = before;
        host_walk(&store, &mut || peak = peak.max(measure::rss_kib()));
        peaks.push(peak.saturating_sub(before) as f64 / 1024.0);
    }
    let ratio: Vec<f64> = host_rate
        .iter()
        .zip(&raw_rate)
        .map(|(a, b)| a / b)
        .collect();
    let data_mib = (n * (VALUE_LEN + 12)) as f64 / (1024.0 * 1024.0);
    vec![Row {
        scenario: format!("paged scan of {n} keys"),
        metric: "keys/s".into(),
        baseline: ("raw redb range iteration".into(), median(&raw_rate)),
        candidate: (
            format!("redb .so via host, pages of {PAGE}"),
            median(&host_rate),
        ),
        ratio: median(&ratio),
        target: Some((">= 0.5".into(), median(&ratio) >= 0.5)),
        note: format!(
            "peak memory growth during the walk {:.0} KiB for {:.0} MiB of data",
            median(&peaks) * 1024.0,
            data_mib
        ),
    }]
}
