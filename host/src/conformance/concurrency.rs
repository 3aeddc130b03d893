//! Concurrent callers.

use std::sync::Arc;

use super::{fresh_store_id, ok};
use crate::store::{CapabilityFlags, ErrorKind, Expected, StateStore};

const TASKS: u64 = 8;
const INCREMENTS: u64 = 50;

/// 8 tasks each add 1 to a counter 50 times with compare-and-set retry
/// loops; the counter ends at exactly 400 (no lost update).
pub async fn concurrent_cas_counter_is_exact(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("counter");
    ok(store.set(&s, "n", 0u64.to_le_bytes().to_vec()).await, "set");
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (store, s) = (Arc::clone(&store), s.clone());
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            for _ in 0..INCREMENTS {
                loop {
                    let entry =
                        ok(store.get_entry(&s, "n").await, "get_entry").expect("counter exists");
                    let n = u64::from_le_bytes(
                        entry.value.as_slice().try_into().expect("8-byte counter"),
                    );
                    match store
                        .compare_and_set(
                            &s,
                            "n",
                            Expected::Version(entry.version),
                            (n + 1).to_le_bytes().to_vec(),
                        )
                        .await
                    {
                        Ok(_) => break,
                        Err(e) if e.is_conflict() => conflicts += 1,
                        Err(e) => panic!("compare_and_set failed: {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for task in tasks {
        task.await.expect("counter task panicked");
    }
    let value = ok(store.get(&s, "n").await, "get").expect("counter exists");
    let n = u64::from_le_bytes(value.as_slice().try_into().expect("8-byte counter"));
    assert_eq!(
        n,
        TASKS * INCREMENTS,
        "concurrent compare-and-set lost updates"
    );
    ok(store.clear_store(&s).await, "clear_store");
}

/// Concurrent plain writers to distinct keys all land.
pub async fn concurrent_writers_to_distinct_keys_all_land(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("writers");
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (store, s) = (Arc::clone(&store), s.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                ok(
                    store
                        .set(&s, &format!("t{t}-{i:02}"), vec![t as u8, i as u8])
                        .await,
                    "set",
                );
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task panicked");
    }
    assert_eq!(ok(store.key_count(&s).await, "key_count"), 200);
    assert_eq!(ok(store.get(&s, "t7-24").await, "get"), Some(vec![7, 24]));
    ok(store.clear_store(&s).await, "clear_store");
}

/// Many concurrent writers of every kind at once (a provider that declares
/// `GROUP_WRITES` gets them in groups): each answer is what the write alone
/// would answer, and a refused write among them fails alone.
pub async fn concurrent_writes_answer_as_if_alone(store: Arc<dyn StateStore>) {
    const WRITERS: usize = 32;
    let s = fresh_store_id("grouped");
    let cas = store.capabilities().has(CapabilityFlags::COMPARE_AND_SET);
    let mut tasks = Vec::new();
    for t in 0..WRITERS {
        let (store, s) = (Arc::clone(&store), s.clone());
        tasks.push(tokio::spawn(async move {
            let own = format!("w{t:02}");
            let mut last = 0;
            for round in 0..10u8 {
                let v = ok(store.set(&s, &own, vec![round]).await, "set");
                assert!(v > last, "each writer's versions grow");
                last = v;
                assert!(
                    !ok(store.delete(&s, &format!("{own}-missing")).await, "delete"),
                    "a delete of a missing key says so, whatever else is in its group"
                );
                if cas {
                    // Refused, alone: the writes around it still land.
                    let stale = store
                        .compare_and_set(&s, &own, Expected::Version(v + 1_000_000), vec![])
                        .await;
                    let err = stale.expect_err("a stale compare-and-set is refused");
                    assert_eq!(err.kind(), ErrorKind::VERSION_CONFLICT, "{err}");
                    let next = ok(
                        store
                            .compare_and_set(&s, &own, Expected::Version(v), vec![round, 1])
                            .await,
                        "compare_and_set at the current version",
                    );
                    assert!(next > v);
                    last = next;
                }
            }
            (own, last)
        }));
    }
    for task in tasks {
        let (own, last) = task.await.expect("writer task panicked");
        let entry = ok(store.get_entry(&s, &own).await, "get_entry").expect("written");
        assert_eq!(
            entry.version, last,
            "{own} ends at its last acknowledged write"
        );
    }
    assert_eq!(ok(store.key_count(&s).await, "key_count"), WRITERS as u64);
    ok(store.clear_store(&s).await, "clear_store");
}
