//! The cost of fencing: a reaction-style commit (an output key and its
//! checkpoint in one transaction) with and without the check on the owner
//! record that fencing adds, taking turns commit by commit in one run, on
//! the redb `.so` (durable) and, when `STATEPLUG_TEST_POSTGRES_URL` names a
//! server, the postgres `.so`.

use std::{sync::Arc, time::Instant};

use stateplug::{runtime::OWNER_KEY, Expected, StateStore, TxnOp};

use super::runtime;
use crate::{library, measure::median, report::Row, Sizes};

/// µs of one commit of `n` to `store_id`, fenced or not.
async fn commit(store: &Arc<dyn StateStore>, store_id: &str, n: usize, owner: Option<u64>) -> f64 {
    let mut ops = vec![
        TxnOp::put(format!("count/w{}", n % 100), n.to_string().into_bytes()),
        TxnOp::put("$checkpoint/numbers", n.to_string().into_bytes()),
    ];
    if let Some(version) = owner {
        ops.push(TxnOp::check(OWNER_KEY, Expected::Version(version)));
    }
    let start = Instant::now();
    store.transaction(store_id, ops).await.expect("commit");
    start.elapsed().as_nanos() as f64 / 1_000.0
}

/// The medians of `commits` plain and fenced commits, taking turns.
fn compare(store: &Arc<dyn StateStore>, runs: usize, commits: usize) -> (f64, f64) {
    let (mut plain_us, mut fenced_us) = (Vec::new(), Vec::new());
    runtime().block_on(async {
        let owner = store
            .compare_and_set("fenced", OWNER_KEY, Expected::Absent, b"{}".to_vec())
            .await
            .expect("owner record");
        for run in 0..runs {
            let (mut p, mut f) = (Vec::new(), Vec::new());
            for n in 0..commits {
                if (n + run) % 2 == 0 {
                    p.push(commit(store, "plain", n, None).await);
                    f.push(commit(store, "fenced", n, Some(owner)).await);
                } else {
                    f.push(commit(store, "fenced", n, Some(owner)).await);
                    p.push(commit(store, "plain", n, None).await);
                }
            }
            plain_us.push(median(&p));
            fenced_us.push(median(&f));
        }
    });
    (median(&plain_us), median(&fenced_us))
}

fn row(provider: &str, (plain, fenced): (f64, f64), commits: usize) -> Row {
    Row {
        scenario: format!("reaction commit, {provider}"),
        metric: "p50 µs/commit".into(),
        baseline: (format!("{provider} .so, output + checkpoint"), plain),
        candidate: ("the same + owner check (fenced)".into(), fenced),
        ratio: fenced / plain,
        target: None,
        note: format!("{commits} commits a run, taking turns"),
    }
}

/// The fencing rows.
pub fn run(sizes: &Sizes) -> Vec<Row> {
    let commits = 300;
    let dir = tempfile::tempdir().expect("temp dir");
    let redb = library("redb")
        .open(&serde_json::json!({ "path": dir.path().join("fencing.redb") }))
        .expect("redb .so");
    let mut rows = vec![row("redb", compare(&redb, sizes.runs, commits), commits)];
    match std::env::var("STATEPLUG_TEST_POSTGRES_URL") {
        Ok(url) => {
            let schema = format!("stateplug_bench_fencing_{}", std::process::id());
            let pg = library("postgres")
                .open(&serde_json::json!({ "url": url, "schema": schema, "pool_size": 2 }))
                .expect("postgres .so");
            rows.push(row("postgres", compare(&pg, sizes.runs, commits), commits));
            drop(pg);
            if let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
        Err(_) => eprintln!("skipped fencing on postgres: STATEPLUG_TEST_POSTGRES_URL is not set"),
    }
    rows
}
