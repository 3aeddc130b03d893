//! The PostgreSQL provider beside the redb provider, both through the host
//! in the same run: durable sets (1 and 8 writers), gets and a paged scan.
//! Runs when `STATEPLUG_TEST_POSTGRES_URL` names a server.

use std::{sync::Arc, time::Instant};

use stateplug::{Scan, StateStore};

use super::{fill, key, multi_runtime, read_order, value};
use crate::{
    library,
    measure::{median, Latencies},
    report::Row,
    Sizes,
};

const VALUE_LEN: usize = 64;

/// A schema of its own, dropped at the end.
struct Schema {
    url: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

fn sets(store: &Arc<dyn StateStore>, writers: usize, per_writer: usize) -> (f64, Latencies) {
    multi_runtime().block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let store = Arc::clone(store);
                tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(per_writer);
                    for i in 0..per_writer {
                        let t = Instant::now();
                        store
                            .set(
                                "bench-sets",
                                &format!("w{w}-{}", key(i)),
                                value(i, VALUE_LEN),
                            )
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
        (
            (writers * per_writer) as f64 / start.elapsed().as_secs_f64(),
            Latencies::new(all),
        )
    })
}

fn gets(store: &Arc<dyn StateStore>, keys: &[String], order: &[usize]) -> f64 {
    multi_runtime().block_on(async {
        let start = Instant::now();
        for &i in order {
            store.get("bench", &keys[i]).await.expect("get");
        }
        start.elapsed().as_nanos() as f64 / order.len() as f64
    })
}

fn scan(store: &Arc<dyn StateStore>, n: usize) -> f64 {
    multi_runtime().block_on(async {
        let start = Instant::now();
        let mut scan = Scan::prefix("").limit(1_000);
        let mut seen = 0;
        loop {
            let page = store.scan("bench", &scan).await.expect("scan");
            seen += page.entries.len();
            match page.next {
                Some(next) => scan = scan.after(next),
                None => break,
            }
        }
        assert_eq!(seen, n);
        n as f64 / start.elapsed().as_secs_f64()
    })
}

/// PostgreSQL rows.
pub fn run(sizes: &Sizes, url: &str) -> Vec<Row> {
    let schema = Schema {
        url: url.to_string(),
        name: format!("stateplug_bench_{}", std::process::id()),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let redb = library("redb")
        .open(&serde_json::json!({ "path": dir.path().join("bench.redb") }))
        .expect("redb");
    let pg = library("postgres")
        .open(&serde_json::json!({ "url": url, "schema": schema.name, "pool_size": 8 }))
        .expect("postgres");
    let n = (sizes.get_keys / 10).max(1_000);
    let keys: Vec<String> = (0..n).map(key).collect();
    let order = read_order(n, (sizes.gets / 30).max(1_000));
    multi_runtime().block_on(async {
        fill(&redb, "bench", n, VALUE_LEN).await;
        fill(&pg, "bench", n, VALUE_LEN).await;
    });
    let single = (sizes.durable_sets / 2).max(100);
    let (mut r1, mut p1, mut r8, mut p8, mut rg, mut pgg, mut rs, mut ps) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for _ in 0..sizes.runs {
        r1.push(sets(&redb, 1, single).1.p50_us());
        p1.push(sets(&pg, 1, single).1.p50_us());
        r8.push(sets(&redb, 8, sizes.concurrent_sets_per_writer).0);
        p8.push(sets(&pg, 8, sizes.concurrent_sets_per_writer).0);
        rg.push(gets(&redb, &keys, &order));
        pgg.push(gets(&pg, &keys, &order));
        rs.push(scan(&redb, n));
        ps.push(scan(&pg, n));
    }
    let ratio =
        |a: &[f64], b: &[f64]| median(&a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>());
    let row = |scenario: &str, metric: &str, redb: &[f64], pg: &[f64], note: String| Row {
        scenario: scenario.into(),
        metric: metric.into(),
        baseline: ("redb .so via host".into(), median(redb)),
        candidate: ("postgres .so via host".into(), median(pg)),
        ratio: ratio(pg, redb),
        target: None,
        note,
    };
    vec![
        row(
            "postgres: durable set, 1 writer",
            "p50 µs/set",
            &r1,
            &p1,
            format!("{single} sets"),
        ),
        row(
            "postgres: durable set, 8 writers",
            "ops/s",
            &r8,
            &p8,
            format!("{} sets", 8 * sizes.concurrent_sets_per_writer),
        ),
        row(
            "postgres: point get",
            "ns/get",
            &rg,
            &pgg,
            format!("{n} keys, {} gets", order.len()),
        ),
        row(
            "postgres: paged scan",
            "keys/s",
            &rs,
            &ps,
            format!("{n} keys, pages of 1,000"),
        ),
    ]
}
