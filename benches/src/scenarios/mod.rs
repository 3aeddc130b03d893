//! The scenarios; each returns rows comparing a candidate with its baseline.

pub mod batch;
pub mod contenders;
pub mod disk;
pub mod dump;
pub mod durable;
pub mod e2e;
pub mod fencing;
pub mod get;
pub mod memory;
pub mod metrics_cost;
pub mod postgres;
pub mod scan;
pub mod tally;
pub mod watch;

use std::sync::Arc;

use stateplug::StateStore;

/// A current-thread runtime: the host API is awaited in a plain loop.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A multi-thread runtime for concurrent writers.
pub fn multi_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `key-00000042`.
pub fn key(i: usize) -> String {
    format!("key-{i:08}")
}

/// A deterministic value of `len` bytes.
pub fn value(i: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| (i.wrapping_mul(31).wrapping_add(j)) as u8)
        .collect()
}

/// Loads `n` keys into `store_id` with `set_many` batches.
pub async fn fill(store: &Arc<dyn StateStore>, store_id: &str, n: usize, value_len: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let entries = chunk
            .iter()
            .map(|&i| (key(i), value(i, value_len)))
            .collect();
        store.set_many(store_id, entries).await.expect("fill");
    }
}

/// Gets `keys[i]` for each `i` of `order` from store `bench` through the
/// host API, in order; the bytes the values held.
pub async fn get_in_order(store: &Arc<dyn StateStore>, keys: &[String], order: &[usize]) -> usize {
    let mut bytes = 0;
    for &i in order {
        bytes += store
            .get("bench", &keys[i])
            .await
            .expect("get")
            .map_or(0, |v| v.len());
    }
    bytes
}

/// A fixed pseudo-random read order over `n` keys.
pub fn read_order(n: usize, count: usize) -> Vec<usize> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    (0..count).map(|_| rng.random_range(0..n)).collect()
}
