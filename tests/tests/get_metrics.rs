//! The `get` counts of the `MetricsLayer`, through the loaded memory `.so`
//! (whose gets are answered at once and counted per thread): every get and
//! every byte it read reaches the recorder, from threads that are still
//! running (within the publisher's second), from threads that ended, and
//! when more layers are alive than there are per-thread slots. Its own test
//! binary, since it installs the process's one metrics recorder.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{
    sync::{mpsc, Arc, OnceLock},
    time::{Duration, Instant},
};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use stateplug::{
    layers::{
        metrics::{BYTES_READ, CALLS},
        Layered, MetricsLayer,
    },
    StateStore,
};

/// The process's recorder, installed by the first test that asks.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).unwrap();
        handle
    })
}

/// The value of `name{provider="<provider>",operation="get"}`, 0 if absent.
fn get_sample(name: &str, provider: &str) -> f64 {
    let labels = format!("{{provider=\"{provider}\",operation=\"get\"}}");
    handle()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}{labels} ")))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// The memory `.so` counted under `provider`, with `hits` keys of 10 bytes.
fn measured(provider: &str, hits: usize) -> Arc<dyn StateStore> {
    let (bare, ()) = stateplug_tests::memory_so();
    let store: Arc<dyn StateStore> =
        Arc::new(Layered::new(bare, MetricsLayer::new(provider, false)));
    futures::executor::block_on(async {
        for i in 0..hits {
            store
                .set("s", &format!("k{i}"), b"0123456789")
                .await
                .unwrap();
        }
    });
    store
}

/// `per_thread` gets on this thread: one a hit (10 bytes), one a miss, in turn.
fn gets(store: &Arc<dyn StateStore>, per_thread: usize) {
    futures::executor::block_on(async {
        for i in 0..per_thread {
            let key = if i % 2 == 0 { "k0" } else { "absent" };
            store.get("s", key).await.unwrap();
        }
    });
}

/// Waits (at most 10 s) until `provider`'s get counts are `calls` and
/// `bytes`; fails with what they were.
fn await_counts(provider: &str, calls: f64, bytes: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = (
            get_sample(CALLS, provider),
            get_sample(BYTES_READ, provider),
        );
        if seen == (calls, bytes) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{provider}: (calls, bytes) {seen:?}, expected {:?}",
            (calls, bytes)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn gets_of_running_and_ended_threads_all_reach_the_recorder() {
    handle();
    let store = measured("threads", 1);
    let (threads, per_thread) = (4, 1_001);
    // Half the threads stay alive after their gets; half end.
    let (done_tx, done_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (store, done, release) =
                (Arc::clone(&store), done_tx.clone(), Arc::clone(&release_rx));
            std::thread::spawn(move || {
                gets(&store, per_thread);
                done.send(()).unwrap();
                if t % 2 == 0 {
                    let _ = release.lock().unwrap().recv();
                }
            })
        })
        .collect();
    for _ in 0..threads {
        done_rx.recv().unwrap();
    }
    let hits = per_thread.div_ceil(2);
    await_counts(
        "threads",
        (threads * per_thread) as f64,
        (threads * hits * 10) as f64,
    );
    drop(release_tx);
    for worker in workers {
        worker.join().unwrap();
    }
    // Ended threads' counts stay counted, and the layer's drop adds nothing.
    drop(store);
    assert_eq!(get_sample(CALLS, "threads"), (threads * per_thread) as f64);
    assert_eq!(
        get_sample(BYTES_READ, "threads"),
        (threads * hits * 10) as f64
    );
}

#[test]
fn a_dropped_layer_publishes_its_last_gets_at_once_and_the_next_adds_to_them() {
    handle();
    let store = measured("dropped", 1);
    gets(&store, 10);
    drop(store);
    // No wait: the drop published them.
    assert_eq!(get_sample(CALLS, "dropped"), 10.0);
    assert_eq!(get_sample(BYTES_READ, "dropped"), 50.0);
    // A new layer under the same name (it may take the freed slot) adds to them.
    let again = measured("dropped", 1);
    gets(&again, 4);
    drop(again);
    assert_eq!(get_sample(CALLS, "dropped"), 14.0);
    assert_eq!(get_sample(BYTES_READ, "dropped"), 70.0);
}

#[test]
fn more_layers_than_slots_still_count_every_get() {
    handle();
    let layers: Vec<_> = (0..80).map(|_| measured("many", 1)).collect();
    for store in &layers {
        gets(store, 3);
    }
    drop(layers);
    assert_eq!(get_sample(CALLS, "many"), 240.0);
    assert_eq!(get_sample(BYTES_READ, "many"), 1_600.0);
}
