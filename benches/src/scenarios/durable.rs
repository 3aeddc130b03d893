//! Durable single-key sets: one writer (raw redb commit per set, the redb
//! `.so` through the host, SQLite in WAL mode with synchronous=FULL as the
//! peer), and 8 / 64 concurrent writers (naive commit per set, as Drasi's
//! provider does, against the `.so` through the host).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use redb::TableDefinition;

use super::{key, multi_runtime, value};
use crate::{
    commits, library,
    measure::{median, Latencies},
    report::Row,
    Sizes,
};

const VALUE_LEN: usize = 64;
const RAW: TableDefinition<&str, &[u8]> = TableDefinition::new("raw");

fn raw_set(db: &redb::Database, k: &str, v: &[u8]) {
    let txn = db.begin_write().expect("write");
    {
        let mut table = txn.open_table(RAW).expect("table");
        table.insert(k, v).expect("insert");
    }
    txn.commit().expect("commit");
}

/// One writer: latency per durable set.
pub fn single(sizes: &Sizes) -> Vec<Row> {
    let n = sizes.durable_sets;
    let (mut raw_p50, mut host_p50, mut lite_p50) = (Vec::new(), Vec::new(), Vec::new());
    let (mut raw_p99, mut host_p99, mut lite_p99) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..sizes.runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let raw = redb::Database::create(dir.path().join("raw.redb")).expect("raw redb");
        let store = library("redb")
            .open(&serde_json::json!({ "path": dir.path().join("provider.redb") }))
            .expect("redb");
        let lite = rusqlite::Connection::open(dir.path().join("peer.sqlite")).expect("sqlite");
        lite.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE kv (store TEXT, key TEXT, value BLOB, PRIMARY KEY (store, key));")
            .expect("sqlite setup");
        let mut insert = lite
            .prepare("INSERT OR REPLACE INTO kv (store, key, value) VALUES ('bench', ?1, ?2)")
            .expect("prepare");
        // Set by set, the three alternating: all see the same disk (fsync
        // times drift by several times within seconds on a shared machine).
        // A multi-thread runtime, as `stateplug run` uses.
        let (raw_l, host_l, lite_l) = multi_runtime().block_on(async {
            let mut samples = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            for i in 0..n {
                let start = Instant::now();
                raw_set(&raw, &key(i), &value(i + run, VALUE_LEN));
                samples.0.push(start.elapsed());

                let start = Instant::now();
                store
                    .set("bench", &key(i), value(i + run, VALUE_LEN))
                    .await
                    .expect("set");
                samples.1.push(start.elapsed());

                let start = Instant::now();
                insert
                    .execute(rusqlite::params![key(i), value(i + run, VALUE_LEN)])
                    .expect("insert");
                samples.2.push(start.elapsed());
            }
            (
                Latencies::new(samples.0),
                Latencies::new(samples.1),
                Latencies::new(samples.2),
            )
        });
        raw_p50.push(raw_l.p50_us());
        raw_p99.push(raw_l.p99_us());
        host_p50.push(host_l.p50_us());
        host_p99.push(host_l.p99_us());
        lite_p50.push(lite_l.p50_us());
        lite_p99.push(lite_l.p99_us());
    }
    let ratio: Vec<f64> = host_p50.iter().zip(&raw_p50).map(|(a, b)| a / b).collect();
    let peer: Vec<f64> = lite_p50.iter().zip(&host_p50).map(|(a, b)| a / b).collect();
    vec![
        Row {
            scenario: "durable set, 1 writer".into(),
            metric: "p50 µs/set".into(),
            baseline: ("raw redb commit per set".into(), median(&raw_p50)),
            candidate: ("redb .so via host".into(), median(&host_p50)),
            ratio: median(&ratio),
            target: Some(("<= 1.15".into(), median(&ratio) <= 1.15)),
            note: format!(
                "p99 {:.0} / {:.0} µs; {n} sets",
                median(&raw_p99),
                median(&host_p99)
            ),
        },
        Row {
            scenario: "durable set, 1 writer".into(),
            metric: "p50 µs/set".into(),
            baseline: ("redb .so via host".into(), median(&host_p50)),
            candidate: (
                "SQLite WAL, synchronous=FULL (peer)".into(),
                median(&lite_p50),
            ),
            ratio: median(&peer),
            target: None,
            note: format!("peer p99 {:.0} µs", median(&lite_p99)),
        },
    ]
}

struct Outcome {
    ops_per_sec: f64,
    p50: f64,
    p99: f64,
    writes_per_commit: f64,
}

fn naive(writers: usize, per_writer: usize, dir: &std::path::Path) -> Outcome {
    let db = Arc::new(redb::Database::create(dir.join("naive.redb")).expect("raw redb"));
    let start = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut samples = Vec::with_capacity(per_writer);
                for i in 0..per_writer {
                    let t = Instant::now();
                    raw_set(&db, &format!("w{w}-{}", key(i)), &value(i, VALUE_LEN));
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let samples: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("writer"))
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    let l = Latencies::new(samples);
    Outcome {
        ops_per_sec: (writers * per_writer) as f64 / elapsed,
        p50: l.p50_us(),
        p99: l.p99_us(),
        writes_per_commit: 1.0,
    }
}

fn through_host(writers: usize, per_writer: usize, dir: &std::path::Path) -> Outcome {
    let store = library("redb")
        .open(&serde_json::json!({ "path": dir.join("host.redb") }))
        .expect("redb");
    let (commits_before, writes_before) = commits::snapshot();
    let rt = multi_runtime();
    let (samples, elapsed) = rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(per_writer);
                    for i in 0..per_writer {
                        let t = Instant::now();
                        store
                            .set("bench", &format!("w{w}-{}", key(i)), value(i, VALUE_LEN))
                            .await
                            .expect("set");
                        samples.push(t.elapsed());
                    }
                    samples
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("writer"));
        }
        (all, start.elapsed().as_secs_f64())
    });
    let (commits_after, writes_after) = commits::snapshot();
    let commits = commits_after - commits_before;
    let writes = writes_after - writes_before;
    let l = Latencies::new(samples);
    Outcome {
        ops_per_sec: (writers * per_writer) as f64 / elapsed,
        p50: l.p50_us(),
        p99: l.p99_us(),
        writes_per_commit: if commits == 0 {
            f64::NAN
        } else {
            writes as f64 / commits as f64
        },
    }
}

/// `writers` concurrent durable writers.
pub fn concurrent(sizes: &Sizes, writers: usize) -> Vec<Row> {
    let per_writer = sizes.concurrent_sets_per_writer;
    let (mut naive_runs, mut host_runs) = (Vec::new(), Vec::new());
    for _ in 0..sizes.runs {
        let dir = tempfile::tempdir().expect("temp dir");
        naive_runs.push(naive(writers, per_writer, dir.path()));
        host_runs.push(through_host(writers, per_writer, dir.path()));
    }
    let pick =
        |runs: &[Outcome], f: fn(&Outcome) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let speedup: Vec<f64> = host_runs
        .iter()
        .zip(&naive_runs)
        .map(|(h, n)| h.ops_per_sec / n.ops_per_sec)
        .collect();
    let p99_ratio: Vec<f64> = host_runs
        .iter()
        .zip(&naive_runs)
        .map(|(h, n)| h.p99 / n.p99)
        .collect();
    let per_commit = pick(&host_runs, |o| o.writes_per_commit);
    let scenario = format!("durable set, {writers} writers");
    let mut rows = vec![
        Row {
            scenario: scenario.clone(),
            metric: "ops/s".into(),
            baseline: (
                "naive commit per set".into(),
                pick(&naive_runs, |o| o.ops_per_sec),
            ),
            candidate: (
                "redb .so via host".into(),
                pick(&host_runs, |o| o.ops_per_sec),
            ),
            ratio: median(&speedup),
            target: (writers == 64).then(|| (">= 10".to_string(), median(&speedup) >= 10.0)),
            note: format!(
                "{} sets; writes per fsync {:.1} (naive 1.0)",
                writers * per_writer,
                per_commit
            ),
        },
        Row {
            scenario: scenario.clone(),
            metric: "p50 / p99 µs".into(),
            baseline: ("naive".into(), pick(&naive_runs, |o| o.p50)),
            candidate: ("host".into(), pick(&host_runs, |o| o.p50)),
            ratio: median(&p99_ratio),
            target: (writers == 64)
                .then(|| ("p99 ratio <= 1".to_string(), median(&p99_ratio) <= 1.0)),
            note: format!(
                "p99 naive {:.0} µs, host {:.0} µs (ratio column: p99)",
                pick(&naive_runs, |o| o.p99),
                pick(&host_runs, |o| o.p99)
            ),
        },
    ];
    if writers == 64 {
        rows.push(Row {
            scenario,
            metric: "writes per fsync".into(),
            baseline: ("naive".into(), 1.0),
            candidate: ("host".into(), per_commit),
            ratio: per_commit,
            target: Some((">= 8".into(), per_commit >= 8.0)),
            note:
                "acknowledged writes / durable commits, counted from the provider's commit events"
                    .into(),
        });
    }
    rows
}
