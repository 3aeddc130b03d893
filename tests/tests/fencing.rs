//! Fencing within one process: two hosts share one store object (the
//! memory `.so`, the redb `.so`); the second takes the plugins over while
//! the first runs; the first commits nothing more and says who took over;
//! the counts are exact. Commits whose answer is lost are resolved by
//! reading back.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use stateplug::{
    layers::{Fault, FaultLayer},
    runtime::{OwnerRecord, OWNER_KEY},
    store::Operation,
    ErrorKind, Host, HostError, RunningHost, Scan, StateStore,
};
use stateplug_plugins_example::{count_words, line_for, Generator, COUNT_PREFIX};

async fn counts(store: &Arc<dyn StateStore>, reaction: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut scan = Scan::prefix(COUNT_PREFIX).limit(1000);
    loop {
        let page = store.scan(reaction, &scan).await.unwrap();
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

fn expected_for(numbers: u64) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for n in 1..=numbers {
        count_words(&line_for(n), &mut out);
    }
    out
}

fn committed(running: &RunningHost, id: &str) -> u64 {
    running
        .report()
        .iter()
        .find(|p| p.id == id)
        .map_or(0, |p| p.events)
}

/// A host named `name` running the generator `numbers` (`count` lines at
/// `rate` per second) and the word-count reaction `counts` on `store`.
fn host(store: &Arc<dyn StateStore>, name: &str, count: u64, rate: u64) -> Host {
    let numbers = Generator::new("numbers")
        .count(count)
        .rate(rate)
        .durable(false);
    stateplug_tests::counting_host(store, name, numbers, 20)
        .build()
        .unwrap()
}

async fn owner(store: &Arc<dyn StateStore>, plugin: &str) -> OwnerRecord {
    let bytes = store.get(plugin, OWNER_KEY).await.unwrap().unwrap();
    OwnerRecord::parse(&bytes).unwrap()
}

/// Host A runs; host B takes both plugins over while A still runs; A's
/// plugins stop fenced, naming B; B finishes; every count is exact.
async fn a_takeover_fences_the_old_instance_and_counts_stay_exact(store: Arc<dyn StateStore>) {
    const LINES: u64 = 1500;
    let mut a = host(&store, "host-a", LINES, 3000).start().await.unwrap();
    for _ in 0..400 {
        if committed(&a, "counts") >= 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(committed(&a, "counts") >= 200, "{:?}", a.report());
    let epoch_a = owner(&store, "counts").await.epoch;

    let mut b = host(&store, "host-b", LINES, 3000).start().await.unwrap();
    let taken = owner(&store, "counts").await;
    assert_eq!(taken.host, "host-b");
    assert_eq!(taken.pid, std::process::id());
    assert_eq!(
        taken.epoch,
        epoch_a + 1,
        "a takeover raises the epoch by one"
    );

    // A's next commit is refused: it stops with a failure saying so.
    tokio::time::timeout(Duration::from_secs(20), a.wait())
        .await
        .expect("the superseded host notices within 20 s");
    let err = a.stop().await.unwrap_err();
    let HostError::PluginsFailed(failures) = &err else {
        panic!("expected fenced plugins, got {err}");
    };
    let mut ids: Vec<&str> = failures.iter().map(|f| f.id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["counts", "numbers"],
        "both plugins report: {failures:?}"
    );
    for f in failures {
        assert!(f.fenced, "{f:?}");
        let by = format!("was taken over by host-b pid {}", std::process::id());
        assert!(f.message.contains(&by), "{}", f.message);
        assert!(f.message.ends_with("this instance stops"), "{}", f.message);
    }
    let reaction = failures.iter().find(|f| f.id == "counts").unwrap();
    assert!(
        reaction
            .message
            .starts_with("reaction counts was taken over"),
        "{}",
        reaction.message
    );

    // B goes on from the checkpoint to the end: nothing twice, nothing lost.
    tokio::time::timeout(Duration::from_secs(30), b.wait())
        .await
        .expect("the new owner finishes");
    let report = b.stop().await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(counts(&store, "counts").await, expected_for(LINES));
    assert_eq!(owner(&store, "numbers").await.host, "host-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_on_the_memory_so_fences_the_old_instance() {
    a_takeover_fences_the_old_instance_and_counts_stay_exact(stateplug_tests::memory_so().0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_on_the_redb_so_fences_the_old_instance() {
    let (store, _dir) = stateplug_tests::redb_so();
    a_takeover_fences_the_old_instance_and_counts_stay_exact(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_start_takes_the_store_over_with_the_next_epoch() {
    let store = stateplug_tests::memory_so().0;
    for epoch in 1..=3 {
        let mut running = host(&store, "host-a", 10, 100_000).start().await.unwrap();
        assert_eq!(owner(&store, "counts").await.epoch, epoch);
        assert_eq!(owner(&store, "numbers").await.epoch, epoch);
        running.wait().await;
        running.stop().await.unwrap();
    }
    assert_eq!(counts(&store, "counts").await, expected_for(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_whose_answer_is_lost_are_resolved_by_reading_back() {
    const LINES: u64 = 2000;
    let inner = stateplug_tests::memory_so().0;
    let faults = Arc::new(FaultLayer::new());
    // Applied, answer lost: the host reads back, finds it landed, goes on.
    faults.lose_answers(Operation::Transaction, 5);
    // Not applied, outcome unknown: the host reads back, finds it missing,
    // runs the same conditional commit again.
    faults.fail_operation(
        Operation::Transaction,
        Fault {
            kind: ErrorKind::OUTCOME_UNKNOWN,
            temporary: true,
            message: "connection lost after COMMIT".into(),
        },
        Some(5),
    );
    let store: Arc<dyn StateStore> =
        Arc::new(stateplug::layers::Layered::new(inner, Arc::clone(&faults)));
    let mut running = host(&store, "host-a", LINES, 100_000)
        .start()
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), running.wait())
        .await
        .expect("the pipeline finishes");
    let report = running.stop().await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(
        counts(&store, "counts").await,
        expected_for(LINES),
        "no batch applied twice, none lost"
    );
}
