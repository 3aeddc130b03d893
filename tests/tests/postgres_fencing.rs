//! Fencing on PostgreSQL through the loaded `.so`: three hosts, each with
//! its own provider instance (its own connection pool) on one schema, take
//! a word-count pipeline over from each other while the previous owner
//! still runs, with backend connections terminated at random moments. Every
//! superseded instance reports that it was fenced, naming its successor,
//! and the final counts are exact. Needs `STATEPLUG_TEST_POSTGRES_URL`;
//! without it the test prints one skip line. `STATEPLUG_TEST_FENCING_MOVES`
//! sets the number of takeovers (default 4; a long run uses hundreds).
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod postgres_support;

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use postgres_support::{random, url, TestSchema};
use stateplug::{Host, HostError, Scan, StateStore};
use stateplug_plugins_example::{count_words, line_for, Generator, COUNT_PREFIX};

const HOSTS: [&str; 3] = ["host-a", "host-b", "host-c"];
/// Lines the generator emits per takeover, at `RATE` per second.
const LINES_PER_MOVE: u64 = 2_500;
const RATE: u64 = 2_000;

async fn counts(store: &Arc<dyn StateStore>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut scan = Scan::prefix(COUNT_PREFIX).limit(1000);
    loop {
        let page = store.scan("counts", &scan).await.unwrap();
        for row in page.entries {
            out.insert(
                row.key[COUNT_PREFIX.len()..].to_string(),
                String::from_utf8(row.value).unwrap().parse().unwrap(),
            );
        }
        match page.next {
            Some(next) => scan = scan.after(next),
            None => return out,
        }
    }
}

fn host(store: &Arc<dyn StateStore>, name: &str, lines: u64) -> Host {
    let numbers = Generator::new("numbers").count(lines).rate(RATE);
    stateplug_tests::counting_host(store, name, numbers, 25)
        .stop_timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_taking_a_pipeline_over_fence_each_other_and_counts_stay_exact() {
    let Some(url) = url() else { return };
    let moves: usize = std::env::var("STATEPLUG_TEST_FENCING_MOVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let lines = LINES_PER_MOVE * (moves as u64 + 1);
    let schema = Arc::new(TestSchema::fresh(&url));
    let stores: Vec<Arc<dyn StateStore>> = HOSTS.iter().map(|_| schema.open()).collect();

    // Backend connections die at random moments throughout.
    let stop_killing = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicI64::new(0));
    let killer = {
        let (schema, stop, killed) = (
            Arc::clone(&schema),
            Arc::clone(&stop_killing),
            Arc::clone(&killed),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50 + random() % 250));
                killed.fetch_add(schema.terminate_backends(), Ordering::Relaxed);
            }
        })
    };

    let mut owner = 0usize;
    let mut running = host(&stores[owner], HOSTS[owner], lines)
        .start()
        .await
        .unwrap();
    let mut fenced_reports = 0;
    for _ in 0..moves {
        tokio::time::sleep(Duration::from_millis(300 + random() % 600)).await;
        let next = (owner + 1 + (random() % 2) as usize) % HOSTS.len();
        // The new owner starts while the old one still runs.
        let started = host(&stores[next], HOSTS[next], lines).start().await;
        let successor = started.unwrap();
        tokio::time::timeout(Duration::from_secs(30), running.wait())
            .await
            .expect("the superseded host notices within 30 s");
        let err = running.stop().await.unwrap_err();
        let HostError::PluginsFailed(failures) = &err else {
            panic!("{} stopped with {err}", HOSTS[owner]);
        };
        let mut ids: Vec<&str> = failures.iter().map(|f| f.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["counts", "numbers"], "{failures:?}");
        for f in failures {
            assert!(f.fenced, "{} reported {f:?}", HOSTS[owner]);
            assert!(
                f.message
                    .contains(&format!("was taken over by {} pid", HOSTS[next])),
                "{}",
                f.message
            );
            fenced_reports += 1;
        }
        running = successor;
        owner = next;
    }
    tokio::time::timeout(Duration::from_secs(120), running.wait())
        .await
        .expect("the last owner finishes");
    stop_killing.store(true, Ordering::Relaxed);
    killer.join().unwrap();
    let report = running.stop().await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    let mut expected = BTreeMap::new();
    for n in 1..=lines {
        count_words(&line_for(n), &mut expected);
    }
    let fresh = schema.open();
    assert_eq!(
        counts(&fresh).await,
        expected,
        "exact after {moves} takeovers and {} terminated backends",
        killed.load(Ordering::Relaxed)
    );
    assert_eq!(fenced_reports, 2 * moves, "every superseded plugin said so");
    eprintln!(
        "fencing on postgres: {moves} takeovers, {lines} lines, {} backends terminated, exact",
        killed.load(Ordering::Relaxed)
    );
}
