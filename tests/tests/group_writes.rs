//! Single-key writes of many concurrent tasks, which the host hands to the
//! redb `.so` in groups (`GROUP_WRITES`): every call gets its own answer,
//! exactly as if it ran alone, a refused call fails alone, and tasks that
//! give up waiting never stall the others.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use stateplug::{CapabilityFlags, ErrorKind, Expected, StateStore};
use stateplug_tests::redb_so;

const TASKS: usize = 64;
const ROUNDS: usize = 30;

/// Adds one to the counter at `key` with compare-and-set, retrying on conflict.
async fn increment(store: &Arc<dyn StateStore>, key: &str) -> u64 {
    loop {
        let current = store.get_entry("shared", key).await.expect("get_entry");
        let (expected, next) = match &current {
            Some(e) => {
                let n: u64 = std::str::from_utf8(&e.value).unwrap().parse().unwrap();
                (Expected::Version(e.version), n + 1)
            }
            None => (Expected::Absent, 1),
        };
        match store
            .compare_and_set("shared", key, expected, next.to_string().into_bytes())
            .await
        {
            Ok(version) => return version,
            Err(e)
                if e.kind == ErrorKind::VERSION_CONFLICT || e.kind == ErrorKind::ALREADY_EXISTS => {
            }
            Err(e) => panic!("compare_and_set: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_answer_as_if_alone() {
    let (store, _dir) = redb_so();
    assert!(store.capabilities().has(CapabilityFlags::GROUP_WRITES));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let own = format!("task-{t}");
                let mut last_version = 0;
                for round in 0..ROUNDS {
                    let version = store
                        .set(&own, "k", round.to_string().into_bytes())
                        .await
                        .expect("set");
                    assert!(version > last_version, "versions grow with each write");
                    last_version = version;
                    let counted = increment(&store, "counter").await;
                    assert!(counted > 0);
                    // A delete answers whether the key existed.
                    assert!(store
                        .delete(&own, "gone")
                        .await
                        .is_ok_and(|existed| !existed));
                    store.set(&own, "gone", b"x".to_vec()).await.expect("set");
                    assert!(store.delete(&own, "gone").await.expect("delete"));
                    // Compare-and-delete at another version fails alone.
                    let stale = store
                        .compare_and_delete(&own, "k", version + 1_000_000)
                        .await;
                    assert_eq!(
                        stale.expect_err("stale version").kind,
                        ErrorKind::VERSION_CONFLICT
                    );
                }
                store
                    .compare_and_delete(&own, "k", last_version)
                    .await
                    .expect("compare_and_delete at the current version");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let total = store
        .get("shared", "counter")
        .await
        .expect("get")
        .expect("counter");
    assert_eq!(
        String::from_utf8(total).unwrap(),
        (TASKS * ROUNDS).to_string(),
        "every compare-and-set increment counted exactly once"
    );
    for t in 0..TASKS {
        assert_eq!(store.key_count(&format!("task-{t}")).await.unwrap(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_fails_alone_in_its_group() {
    let (store, _dir) = redb_so();
    let too_long = "k".repeat(store.capabilities().limits().max_key_bytes as usize + 1);
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (store, too_long) = (Arc::clone(&store), too_long.clone());
            tokio::spawn(async move {
                for round in 0..10 {
                    if (t + round) % 7 == 0 {
                        let err = store
                            .set("s", &too_long, b"v".to_vec())
                            .await
                            .expect_err("a key past the limit");
                        assert_eq!(err.kind, ErrorKind::INVALID_ARGUMENT);
                    } else {
                        store
                            .set("s", &format!("{t}-{round}"), b"v".to_vec())
                            .await
                            .expect("set");
                    }
                }
            })
        })
        .collect();
    let mut written = 0;
    for (t, task) in tasks.into_iter().enumerate() {
        task.await.expect("task");
        written += (0..10).filter(|round| (t + round) % 7 != 0).count() as u64;
    }
    assert_eq!(store.key_count("s").await.unwrap(), written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_that_give_up_waiting_never_stall_the_others() {
    let (store, _dir) = redb_so();
    let writers: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let key = t.to_string();
                for round in 0..ROUNDS {
                    let set = store.set("s", &key, round.to_string().into_bytes());
                    if t % 2 == 0 {
                        // Half the tasks give up at once, mid-group.
                        let _ = tokio::time::timeout(Duration::from_micros(50), set).await;
                    } else {
                        set.await.expect("set");
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(60), writer)
            .await
            .expect("no writer hangs")
            .expect("writer");
    }
    let after = tokio::time::timeout(
        Duration::from_secs(10),
        store.set("s", "after", b"v".to_vec()),
    )
    .await
    .expect("a write after the cancellations completes");
    assert!(after.is_ok());
    for t in (1..TASKS).step_by(2) {
        assert_eq!(
            store.get("s", &format!("{t}")).await.unwrap(),
            Some((ROUNDS - 1).to_string().into_bytes()),
            "the tasks that waited saw every write land"
        );
    }
}
