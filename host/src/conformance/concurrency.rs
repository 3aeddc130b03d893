//! Concurrent callers.

use std::sync::Arc;

use super::{fresh_store_id, ok};
use crate::store::{Expected, StateStore};

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
