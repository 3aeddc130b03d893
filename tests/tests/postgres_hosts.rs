//! Several hosts on one PostgreSQL database: host processes sharing a CAS
//! counter, watch events crossing hosts through the change feed, and
//! connections lost under load. Needs `STATEPLUG_TEST_POSTGRES_URL`;
//! without it each test prints one skip line.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod postgres_support;

use std::{
    collections::HashMap,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use postgres_support::{url, TestSchema, URL_VAR};
use stateplug::{
    conformance::fresh_store_id,
    layers::{WatchEvent, Watcher},
    ChangeKind, ChangeRecord as Change, ErrorKind, Expected, StateStore, TxnOp,
};

/// Set in a child process: the schema the parent created.
const CHILD_SCHEMA: &str = "STATEPLUG_TEST_POSTGRES_CHILD_SCHEMA";
/// Set in a child process: the counter's store_id.
const CHILD_STORE: &str = "STATEPLUG_TEST_POSTGRES_CHILD_STORE";
/// Processes sharing the counter, and increments each makes.
const PROCESSES: u64 = 3;
const INCREMENTS: u64 = 60;

fn counter(value: &[u8]) -> u64 {
    u64::from_le_bytes(value.try_into().expect("an 8-byte counter"))
}

/// Adds 1 to `key` with a compare-and-set retry loop, `n` times, from
/// `tasks` concurrent tasks sharing `store`.
async fn increment(store: Arc<dyn StateStore>, s: &str, n: u64, tasks: u64) {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (store, s) = (Arc::clone(&store), s.to_string());
            tokio::spawn(async move {
                for _ in 0..n / tasks {
                    loop {
                        let entry = store.get_entry(&s, "n").await.unwrap().expect("counter");
                        let next = (counter(&entry.value) + 1).to_le_bytes().to_vec();
                        match store
                            .compare_and_set(&s, "n", Expected::Version(entry.version), next)
                            .await
                        {
                            Ok(_) => break,
                            Err(e) if e.is_conflict() => {}
                            Err(e) => panic!("compare_and_set: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("increment task");
    }
}

/// The parent creates the counter and starts this same test binary
/// `PROCESSES` times in child mode; each child opens the provider (its own
/// pool) and increments the counter from two tasks. No update is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_processes_sharing_a_cas_counter_end_exact() {
    if let (Ok(schema), Ok(s)) = (std::env::var(CHILD_SCHEMA), std::env::var(CHILD_STORE)) {
        // Child mode: one host process.
        let url = std::env::var(URL_VAR).expect("the parent passes the URL");
        let store = TestSchema::borrowed(&url, &schema).open();
        increment(store, &s, INCREMENTS, 2).await;
        return;
    }
    let Some(url) = url() else { return };
    let schema = TestSchema::fresh(&url);
    let store = schema.open();
    let s = fresh_store_id("processes");
    store
        .set(&s, "n", 0u64.to_le_bytes().to_vec())
        .await
        .unwrap();
    let exe = std::env::current_exe().expect("the test binary");
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "host_processes_sharing_a_cas_counter_end_exact"])
                .arg("--test-threads=1")
                .env(URL_VAR, &url)
                .env(CHILD_SCHEMA, &schema.name)
                .env(CHILD_STORE, &s)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a child host process")
        })
        .collect();
    for child in children {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            output.status.success(),
            "a child host process failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let value = store.get(&s, "n").await.unwrap().expect("counter");
    assert_eq!(
        counter(&value),
        PROCESSES * INCREMENTS,
        "compare-and-set lost updates between host processes"
    );
}

/// The next event of `w`, waiting up to 10 s.
async fn next(w: &mut Watcher) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("a watch event within 10 s")
        .expect("the layer is alive")
}

async fn changes(w: &mut Watcher) -> Vec<(String, ChangeKind, u64)> {
    match next(w).await {
        WatchEvent::Changes(changes) => changes
            .into_iter()
            .map(
                |Change {
                     key, kind, version, ..
                 }| (key, kind, version),
            )
            .collect(),
        other => panic!("expected changes, got {other:?}"),
    }
}

fn c(key: &str, kind: ChangeKind, version: u64) -> (String, ChangeKind, u64) {
    (key.to_string(), kind, version)
}

/// Two hosts = two provider instances (two pools) on one database. Writes
/// made on host A reach a watcher on host B, one batch per write call;
/// writes made through B's own layer arrive exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_one_host_reach_watchers_on_another() {
    let Some(url) = url() else { return };
    let schema = TestSchema::fresh(&url);
    let host_a = schema.open();
    let host_b = Arc::new(stateplug_tests::Watched::new(schema.open(), 1024));
    assert!(host_b.follows_change_feed());
    let s = fresh_store_id("cross-host");
    let mut w = host_b.watch(&s, "");
    let mut other_prefix = host_b.watch(&s, "zzz");
    assert!(host_b.ready().await, "host B follows the feed");

    use ChangeKind::*;
    let v1 = host_a.set(&s, "a", b"1".to_vec()).await.unwrap();
    assert_eq!(changes(&mut w).await, [c("a", Created, v1)]);
    let v2 = host_a
        .set_many(
            &s,
            vec![("a".into(), b"2".to_vec()), ("b".into(), b"3".to_vec())],
        )
        .await
        .unwrap();
    assert_eq!(
        changes(&mut w).await,
        [c("a", Updated, v2), c("b", Created, v2)]
    );
    let v3 = host_a
        .transaction(&s, vec![TxnOp::put("c", b"4".to_vec()), TxnOp::delete("a")])
        .await
        .unwrap();
    assert_eq!(
        changes(&mut w).await,
        [c("c", Created, v3), c("a", Deleted, v3)]
    );
    // A write through B's own layer: reported once, from the feed.
    let v4 = host_b.set(&s, "d", b"5".to_vec()).await.unwrap();
    assert_eq!(changes(&mut w).await, [c("d", Created, v4)]);
    assert_eq!(host_a.clear_store(&s).await.unwrap(), 3);
    let cleared = changes(&mut w).await;
    assert_eq!(cleared.len(), 3);
    assert!(cleared
        .iter()
        .all(|(_, kind, v)| *kind == Deleted && *v > v4));
    // A refused write reports nothing; other stores are filtered out.
    host_a
        .set(&fresh_store_id("elsewhere"), "x", vec![])
        .await
        .unwrap();
    assert!(host_a
        .compare_and_set(&s, "b", Expected::Version(v1), vec![])
        .await
        .is_err());
    let v5 = host_a.set(&s, "e", vec![]).await.unwrap();
    assert_eq!(
        changes(&mut w).await,
        [c("e", Created, v5)],
        "nothing in between, nothing twice"
    );
    assert!(other_prefix.try_next().is_none(), "prefix filter");
}

/// Backends terminated again and again while writers and a cross-host
/// watcher run: every call either succeeds or fails with a temporary
/// UNAVAILABLE error, everything acknowledged is stored, and the watcher
/// keeps receiving changes after the connections come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_lose_nothing_acknowledged() {
    let Some(url) = url() else { return };
    let schema = Arc::new(TestSchema::fresh(&url));
    let store = schema.open();
    let watching = Arc::new(stateplug_tests::Watched::new(schema.open(), 1024));
    let s = fresh_store_id("lost-connections");
    let mut w = watching.watch(&s, "");
    assert!(watching.ready().await);

    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let (schema, stop) = (Arc::clone(&schema), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) {
                schema.terminate_backends();
                rounds += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            rounds
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (store, s) = (Arc::clone(&store), s.clone());
            tokio::spawn(async move {
                let mut acknowledged = HashMap::new();
                let mut refused = 0;
                for i in 0..60 {
                    let key = format!("t{t}-{i:02}");
                    match store.set(&s, &key, key.clone().into_bytes()).await {
                        Ok(v) => {
                            acknowledged.insert(key, v);
                        }
                        Err(e) => {
                            // Lost while committing, the outcome is unknown.
                            assert!(
                                [ErrorKind::UNAVAILABLE, ErrorKind::OUTCOME_UNKNOWN]
                                    .contains(&e.kind()),
                                "{e}"
                            );
                            assert!(e.temporary, "{e}");
                            refused += 1;
                        }
                    }
                }
                (acknowledged, refused)
            })
        })
        .collect();
    let mut acknowledged = HashMap::new();
    let mut refused = 0;
    for writer in writers {
        let (a, r) = writer.await.unwrap();
        acknowledged.extend(a);
        refused += r;
    }
    stop.store(true, Ordering::SeqCst);
    let rounds = killer.join().unwrap();
    println!(
        "{} writes acknowledged, {refused} refused as temporarily unavailable, {rounds} rounds of terminated backends",
        acknowledged.len()
    );
    // Once the backends stay up, every call succeeds again: the pool
    // replaced the terminated connections by itself.
    for i in 0..20 {
        let key = format!("after-outage-{i}");
        let v = store
            .set(&s, &key, key.clone().into_bytes())
            .await
            .expect("writes succeed after the outage");
        acknowledged.insert(key, v);
    }
    for (key, version) in &acknowledged {
        let entry = store
            .get_entry(&s, key)
            .await
            .unwrap()
            .expect("acknowledged write is stored");
        assert_eq!(
            (entry.value, entry.version),
            (key.clone().into_bytes(), *version)
        );
    }
    // The watcher on the other instance still follows: a write after the
    // outage arrives (after whatever it had not delivered yet).
    let v = store.set(&s, "after", vec![]).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let event = tokio::time::timeout_at(deadline, w.next())
            .await
            .expect("the watcher receives the write made after the outage")
            .expect("layer alive");
        if let WatchEvent::Changes(batch) = event {
            if batch.iter().any(|ch| ch.key == "after" && ch.version == v) {
                break;
            }
        }
    }
}
