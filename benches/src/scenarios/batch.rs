//! `set_many` of 1,000 keys: raw redb, one transaction and one commit, against
//! the redb `.so` through the host.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use redb::TableDefinition;
use stateplug::StateStore;

use super::{key, multi_runtime, value};
use crate::{library, measure::median, report::Row, Sizes};

const BATCH: usize = 1_000;
const VALUE_LEN: usize = 64;
const RAW: TableDefinition<&str, &[u8]> = TableDefinition::new("raw");

/// Batch `b`: the entries both sides are given, built the same way.
fn entries(b: usize) -> Vec<(String, Vec<u8>)> {
    (0..BATCH)
        .map(|i| (key(b * BATCH + i), value(b * BATCH + i, VALUE_LEN)))
        .collect()
}

/// Batch `b` written to raw redb in one transaction and one commit.
fn raw_batch(raw: &redb::Database, b: usize) -> Duration {
    let start = Instant::now();
    let entries = entries(b);
    let txn = raw.begin_write().expect("write");
    {
        let mut table = txn.open_table(RAW).expect("table");
        for (k, v) in &entries {
            table.insert(k.as_str(), v.as_slice()).expect("insert");
        }
    }
    txn.commit().expect("commit");
    drop(entries);
    start.elapsed()
}

/// Batch `b` written through the host with one `set_many`.
async fn host_batch(store: &Arc<dyn StateStore>, b: usize) -> Duration {
    let start = Instant::now();
    store.set_many("bench", entries(b)).await.expect("set_many");
    start.elapsed()
}

/// Batch rows.
pub fn run(sizes: &Sizes) -> Vec<Row> {
    let batches = 50;
    let (mut raw_us, mut host_us) = (Vec::new(), Vec::new());
    for _ in 0..sizes.runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let raw = redb::Database::create(dir.path().join("raw.redb")).expect("raw redb");
        let store = library("redb")
            .open(&serde_json::json!({ "path": dir.path().join("host.redb") }))
            .expect("redb");
        // Batch by batch, alternating, and each pair in the other order
        // than the last: both see the same disk (fsync times drift by
        // several times within seconds on a shared machine), and neither
        // always runs right after the other's fsync.
        let (raw_time, host_time) = multi_runtime().block_on(async {
            let (mut raw_time, mut host_time) = (Duration::ZERO, Duration::ZERO);
            for b in 0..batches {
                if b % 2 == 0 {
                    raw_time += raw_batch(&raw, b);
                    host_time += host_batch(&store, b).await;
                } else {
                    host_time += host_batch(&store, b).await;
                    raw_time += raw_batch(&raw, b);
                }
            }
            (raw_time, host_time)
        });
        raw_us.push(raw_time.as_secs_f64() * 1e6 / batches as f64);
        host_us.push(host_time.as_secs_f64() * 1e6 / batches as f64);
    }
    let ratio: Vec<f64> = host_us.iter().zip(&raw_us).map(|(a, b)| a / b).collect();
    vec![Row {
        scenario: "set_many of 1,000".into(),
        metric: "µs/batch".into(),
        baseline: ("raw redb, one commit".into(), median(&raw_us)),
        candidate: ("redb .so via host".into(), median(&host_us)),
        ratio: median(&ratio),
        target: Some(("<= 1.1".into(), median(&ratio) <= 1.1)),
        note: format!(
            "{batches} batches of new keys, raw and host alternating, in turns first; both are given the same 1,000 entries, built inside the timing"
        ),
    }]
}
