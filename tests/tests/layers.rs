//! The host layers: the whole conformance suite through each layer over the
//! loaded memory and redb libraries, the watch layer's change events, and
//! the tracing layer's fields.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Once},
};

use stateplug::{
    conformance::fresh_store_id,
    layers::{Layered, TracingLayer, WatchEvent, WatchLayer, Watcher},
    ChangeKind, ChangeRecord as Change, ErrorKind, Expected, StateStore, TxnOp,
};
use tracing::{field::Visit, Subscriber};
use tracing_subscriber::{layer::Context, prelude::*, Layer};

// ---------------------------------------------------------------------------
// Tracing capture: one global subscriber for this test binary, so that the
// tracing conformance suites below also run the layer's enabled path.

/// Events of the tracing layer whose store_id starts with this are kept.
const TRACED_PREFIX: &str = "layers-traced-";

/// One captured event: its level and its fields as text.
#[derive(Debug, Clone)]
struct Captured {
    level: tracing::Level,
    fields: HashMap<String, String>,
}

static CAPTURED: Mutex<Vec<Captured>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

#[derive(Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

struct Capture;

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let keep = fields
            .0
            .get("store_id")
            .is_some_and(|s| s.starts_with(TRACED_PREFIX));
        if keep {
            CAPTURED.lock().unwrap().push(Captured {
                level: *event.metadata().level(),
                fields: fields.0,
            });
        }
    }
}

/// Installs the capturing subscriber (TRACE, layer events only) once.
fn capture_tracing() {
    INSTALL.call_once(|| {
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("stateplug::layers", tracing::Level::TRACE);
        tracing_subscriber::registry()
            .with(Capture.with_filter(filter))
            .init();
    });
}

fn traced(open: fn() -> (Arc<dyn StateStore>, ())) -> (Arc<dyn StateStore>, ()) {
    capture_tracing();
    let (store, guard) = open();
    (Arc::new(Layered::new(store, TracingLayer)), guard)
}

// ---------------------------------------------------------------------------
// The conformance suite through each layer.

mod tracing_memory {
    use std::sync::Arc;

    use stateplug::StateStore;

    stateplug::conformance_tests!(|| -> (Arc<dyn StateStore>, ()) {
        super::traced(stateplug_tests::memory_so)
    });
}

mod tracing_redb {
    use std::sync::Arc;

    use stateplug::{
        layers::{Layered, TracingLayer},
        StateStore,
    };

    stateplug::conformance_tests!(|| {
        super::capture_tracing();
        let (store, dir) = stateplug_tests::redb_so();
        (
            Arc::new(Layered::new(store, TracingLayer)) as Arc<dyn StateStore>,
            dir,
        )
    });
}

/// Wraps `store` in a watch layer with a live watcher of everything (never
/// read, so it lags), so that every write takes the publishing path.
fn watched<G>((store, guard): (Arc<dyn StateStore>, G)) -> (Arc<dyn StateStore>, (G, Watcher)) {
    let layer = Arc::new(Layered::new(store.clone(), WatchLayer::new(&store)));
    let watcher = layer.layer().watch_all();
    (layer, (guard, watcher))
}

mod watch_memory {
    stateplug::conformance_tests!(|| super::watched(stateplug_tests::memory_so()));
}

mod watch_redb {
    stateplug::conformance_tests!(|| super::watched(stateplug_tests::redb_so()));
}

/// The minimal provider declares no scans, no CAS, no transactions: the
/// layer lists keys for `clear_store` with `list_keys`, and passes the
/// refusals through.
mod watch_minimal {
    stateplug::conformance_tests!(|| {
        let store = stateplug_tests::load("fixture-minimal")
            .open(&serde_json::json!({}))
            .expect("open minimal");
        super::watched((store, ()))
    });
}

// ---------------------------------------------------------------------------
// Watch behaviour.

use stateplug_tests::Watched;

fn watch_layer(capacity: usize) -> Arc<Watched> {
    let (store, ()) = stateplug_tests::memory_so();
    Arc::new(Watched::new(store, capacity))
}

fn c(store_id: &str, key: &str, kind: ChangeKind, version: u64) -> Change {
    Change {
        store_id: store_id.to_string(),
        key: key.to_string(),
        kind,
        version,
    }
}

/// The batch waiting on `watcher` (a write publishes before it returns).
#[track_caller]
fn batch(watcher: &mut Watcher) -> Vec<Change> {
    match watcher.try_next() {
        Some(WatchEvent::Changes(changes)) => changes,
        other => panic!("expected a batch of changes, got {other:?}"),
    }
}

/// The batch waiting on `watcher`: deletions of `keys` (in order) by one
/// write, at its own revision, which is greater than `after`; returns it.
#[track_caller]
fn deletions(watcher: &mut Watcher, store_id: &str, keys: &[&str], after: u64) -> u64 {
    let got = batch(watcher);
    let revision = got.first().map_or(0, |c| c.version);
    assert!(
        revision > after,
        "a deletion has the revision of its write: {got:?}"
    );
    let want: Vec<Change> = keys
        .iter()
        .map(|k| c(store_id, k, ChangeKind::Deleted, revision))
        .collect();
    assert_eq!(got, want);
    revision
}

#[track_caller]
fn quiet(watcher: &mut Watcher) {
    let pending = watcher.try_next();
    assert_eq!(pending, None, "expected no event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reports_created_updated_deleted_with_versions() {
    let layer = watch_layer(64);
    let s = fresh_store_id("watch-kinds");
    let mut w = layer.watch(&s, "");
    use ChangeKind::*;

    let v1 = layer.set(&s, "a", b"1".to_vec()).await.unwrap();
    assert_eq!(batch(&mut w), [c(&s, "a", Created, v1)]);
    let v2 = layer.set(&s, "a", b"2".to_vec()).await.unwrap();
    assert_eq!(batch(&mut w), [c(&s, "a", Updated, v2)]);
    assert!(layer.delete(&s, "a").await.unwrap());
    let deleted = deletions(&mut w, &s, &["a"], v2);
    assert!(!layer.delete(&s, "a").await.unwrap());
    quiet(&mut w);

    let v3 = layer
        .compare_and_set(&s, "b", Expected::Absent, b"1".to_vec())
        .await
        .unwrap();
    assert!(v3 > deleted, "changes of every kind order by version");
    assert_eq!(batch(&mut w), [c(&s, "b", Created, v3)]);
    let v4 = layer
        .compare_and_set(&s, "b", Expected::Version(v3), b"2".to_vec())
        .await
        .unwrap();
    assert_eq!(batch(&mut w), [c(&s, "b", Updated, v4)]);
    layer.compare_and_delete(&s, "b", v4).await.unwrap();
    deletions(&mut w, &s, &["b"], v4);

    let v5 = layer.set(&s, "c", b"1".to_vec()).await.unwrap();
    batch(&mut w);
    let v6 = layer
        .set_many(
            &s,
            vec![("d".into(), b"1".to_vec()), ("c".into(), b"2".to_vec())],
        )
        .await
        .unwrap();
    assert_eq!(
        batch(&mut w),
        [c(&s, "d", Created, v6), c(&s, "c", Updated, v6)],
        "a set_many is one batch"
    );
    assert!(v6 > v5);
    assert_eq!(
        layer.delete_many(&s, &["c", "missing", "d"]).await.unwrap(),
        2
    );
    // A delete_many is one batch of the keys that existed.
    deletions(&mut w, &s, &["c", "d"], v6);
    assert_eq!(layer.delete_many(&s, &["missing"]).await.unwrap(), 0);
    assert_eq!(layer.set_many(&s, vec![]).await.unwrap(), 0);
    quiet(&mut w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_arrive_in_commit_order() {
    let layer = watch_layer(1024);
    let s = fresh_store_id("watch-order");
    let mut w = layer.watch(&s, "");
    let mut written = Vec::new();
    for i in 0..50u32 {
        let key = format!("k{}", i % 5);
        let version = layer.set(&s, &key, i.to_le_bytes().to_vec()).await.unwrap();
        written.push((key, version));
    }
    let mut seen = Vec::new();
    while seen.len() < written.len() {
        match w.next().await {
            Some(WatchEvent::Changes(changes)) => {
                seen.extend(changes.into_iter().map(|c| (c.key, c.version)))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, written, "events follow the commit order");
    assert!(
        seen.windows(2).all(|p| p[0].1 < p[1].1),
        "versions increase: {seen:?}"
    );
    layer.clear_store(&s).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_filters_by_store_id_and_prefix() {
    let layer = watch_layer(64);
    let (s1, s2) = (fresh_store_id("watch-f1"), fresh_store_id("watch-f2"));
    let mut w = layer.watch(&s1, "a/");
    let mut all = layer.watch_all();
    use ChangeKind::*;

    let v1 = layer.set(&s1, "a/1", vec![]).await.unwrap();
    let v2 = layer.set(&s1, "b/1", vec![]).await.unwrap();
    let v3 = layer.set(&s2, "a/1", vec![]).await.unwrap();
    let v4 = layer
        .set_many(&s1, vec![("b/2".into(), vec![]), ("a/2".into(), vec![])])
        .await
        .unwrap();
    assert_eq!(batch(&mut w), [c(&s1, "a/1", Created, v1)]);
    assert_eq!(
        batch(&mut w),
        [c(&s1, "a/2", Created, v4)],
        "a batch is cut to the watched prefix"
    );
    quiet(&mut w);

    assert_eq!(batch(&mut all), [c(&s1, "a/1", Created, v1)]);
    assert_eq!(batch(&mut all), [c(&s1, "b/1", Created, v2)]);
    assert_eq!(batch(&mut all), [c(&s2, "a/1", Created, v3)]);
    assert_eq!(
        batch(&mut all),
        [c(&s1, "b/2", Created, v4), c(&s1, "a/2", Created, v4)]
    );
    quiet(&mut all);
    layer.clear_store(&s1).await.unwrap();
    layer.clear_store(&s2).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_delivers_a_transaction_as_one_batch() {
    let layer = watch_layer(64);
    let s = fresh_store_id("watch-txn");
    let vx = layer.set(&s, "x", b"1".to_vec()).await.unwrap();
    layer.set(&s, "y", b"1".to_vec()).await.unwrap();
    let mut w = layer.watch(&s, "");
    use ChangeKind::*;

    let v = layer
        .transaction(
            &s,
            vec![
                TxnOp::check("x", Expected::Version(vx)),
                TxnOp::put("x", b"2".to_vec()),
                TxnOp::put("z", b"1".to_vec()),
                TxnOp::delete("y"),
                TxnOp::delete("missing"),
                TxnOp::put("w", b"1".to_vec()),
                TxnOp::delete("w"),
                TxnOp::delete("w"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        batch(&mut w),
        [
            c(&s, "x", Updated, v),
            c(&s, "z", Created, v),
            c(&s, "y", Deleted, v),
            c(&s, "w", Created, v),
            c(&s, "w", Deleted, v),
        ],
        "one batch; checks and deletes of absent keys publish nothing"
    );
    quiet(&mut w);

    let only_checks = layer
        .transaction(&s, vec![TxnOp::check("x", Expected::Version(v))])
        .await;
    assert!(only_checks.is_ok(), "{only_checks:?}");
    quiet(&mut w);
    layer.clear_store(&s).await.unwrap();
}

/// `clear_store` publishes one batch with a `Deleted` per key, at the
/// revision of the clear.
async fn clear_store_emits_deleted_for_each_key(store: Arc<dyn StateStore>) {
    let layer = Watched::new(store, 1024);
    let s = fresh_store_id("watch-clear");
    for key in ["a", "b", "c"] {
        layer.set(&s, key, b"1".to_vec()).await.unwrap();
    }
    let v = layer.set(&s, "b", b"2".to_vec()).await.unwrap();
    let mut w = layer.watch(&s, "");
    let mut other = layer.watch(&fresh_store_id("watch-clear-other"), "");
    assert_eq!(layer.clear_store(&s).await.unwrap(), 3);
    deletions(&mut w, &s, &["a", "b", "c"], v);
    quiet(&mut w);
    quiet(&mut other);
    assert_eq!(layer.clear_store(&s).await.unwrap(), 0);
    quiet(&mut w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_clear_store_memory() {
    clear_store_emits_deleted_for_each_key(stateplug_tests::memory_so().0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_clear_store_redb() {
    let (store, _dir) = stateplug_tests::redb_so();
    clear_store_emits_deleted_for_each_key(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_clear_store_of_a_provider_with_the_old_write_methods() {
    // A library built against provider-api 0.1 writes through its 0.1
    // methods: its clear has no revision, so each deletion comes with the
    // version the key had.
    let store = stateplug_tests::frozen_memory_0_1()
        .open(&serde_json::json!({}))
        .expect("open the 0.1 memory provider");
    let layer = Watched::new(store, 1024);
    let s = fresh_store_id("watch-clear-old");
    let va = layer.set(&s, "a", b"1".to_vec()).await.unwrap();
    let vb = layer.set(&s, "b", b"1".to_vec()).await.unwrap();
    let mut w = layer.watch(&s, "");
    assert_eq!(layer.clear_store(&s).await.unwrap(), 2);
    assert_eq!(
        batch(&mut w),
        [
            c(&s, "a", ChangeKind::Deleted, va),
            c(&s, "b", ChangeKind::Deleted, vb)
        ]
    );
    quiet(&mut w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_failed_writes_publish_nothing() {
    let layer = watch_layer(64);
    let s = fresh_store_id("watch-fail");
    let v = layer.set(&s, "k", b"1".to_vec()).await.unwrap();
    let mut w = layer.watch(&s, "");

    let conflict = layer
        .compare_and_set(&s, "k", Expected::Version(v + 1000), b"2".to_vec())
        .await
        .unwrap_err();
    assert!(conflict.is_conflict(), "{conflict}");
    let exists = layer
        .compare_and_set(&s, "k", Expected::Absent, b"2".to_vec())
        .await
        .unwrap_err();
    assert!(exists.is_conflict(), "{exists}");
    let stale = layer.compare_and_delete(&s, "k", v + 1000).await;
    assert!(stale.is_err());
    let failed_check = layer
        .transaction(
            &s,
            vec![
                TxnOp::check("k", Expected::Absent),
                TxnOp::put("k", b"3".to_vec()),
            ],
        )
        .await
        .unwrap_err();
    assert!(failed_check.is_conflict(), "{failed_check}");
    let long_key = "k".repeat(layer.capabilities().limits().max_key_bytes as usize + 1);
    let refused = layer.set(&s, &long_key, vec![]).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::INVALID_ARGUMENT);
    assert_eq!(
        refused.operation,
        stateplug::store::Operation::Set,
        "the error names the caller's operation"
    );
    let empty = layer.set("", "k", vec![]).await.unwrap_err();
    assert_eq!(empty.kind(), ErrorKind::INVALID_ARGUMENT);

    quiet(&mut w);
    assert_eq!(layer.get(&s, "k").await.unwrap(), Some(b"1".to_vec()));
    layer.clear_store(&s).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_signals_lag_then_continues() {
    let layer = watch_layer(4);
    let s = fresh_store_id("watch-lag");
    let mut w = layer.watch(&s, "");
    let mut versions = Vec::new();
    for i in 0..20u32 {
        versions.push(layer.set(&s, &format!("k{i:02}"), vec![]).await.unwrap());
    }
    let missed = match w.next().await {
        Some(WatchEvent::Lagged { missed }) => missed,
        other => panic!("expected Lagged, got {other:?}"),
    };
    assert!(missed > 0);
    let mut rest = Vec::new();
    while let Some(event) = w.try_next() {
        match event {
            WatchEvent::Changes(changes) => rest.extend(changes.into_iter().map(|c| c.version)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        missed as usize + rest.len(),
        versions.len(),
        "every batch is either delivered or counted as missed"
    );
    assert_eq!(
        rest,
        versions[missed as usize..],
        "the newest batches follow"
    );

    let later = layer.set(&s, "later", vec![]).await.unwrap();
    assert_eq!(batch(&mut w), [c(&s, "later", ChangeKind::Created, later)]);
    layer.clear_store(&s).await.unwrap();
}

/// Concurrent writers to one store: every write is reported once, in an
/// order where each key's versions strictly increase.
async fn concurrent_writers_keep_versions_increasing(store: Arc<dyn StateStore>) {
    const TASKS: usize = 4;
    const WRITES: usize = 40;
    let layer = Arc::new(Watched::new(store, 4096));
    let s = fresh_store_id("watch-concurrent");
    let mut w = layer.watch(&s, "");
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (layer, s) = (Arc::clone(&layer), s.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..WRITES {
                let key = format!("k{}", (t + i) % 3);
                if i % 7 == 6 {
                    layer.delete(&s, &key).await.unwrap();
                } else {
                    layer.set(&s, &key, vec![t as u8, i as u8]).await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut events = Vec::new();
    while let Some(event) = w.try_next() {
        match event {
            WatchEvent::Changes(changes) => events.extend(changes),
            other => panic!("unexpected {other:?}"),
        }
    }
    let sets = events
        .iter()
        .filter(|c| c.kind != ChangeKind::Deleted)
        .count();
    assert_eq!(
        sets,
        TASKS * WRITES - TASKS * (WRITES / 7),
        "every set is reported"
    );
    let mut last: HashMap<&str, (u64, ChangeKind)> = HashMap::new();
    for change in &events {
        match last.get(change.key.as_str()) {
            Some(&(v, kind)) => {
                assert!(
                    change.version > v,
                    "versions of {} go back: {events:?}",
                    change.key
                );
                if change.kind == ChangeKind::Deleted {
                    assert_ne!(kind, ChangeKind::Deleted, "deleted twice: {change:?}");
                } else {
                    assert!(
                        change.version > v,
                        "versions of {} go back: {events:?}",
                        change.key
                    );
                    let want = if kind == ChangeKind::Deleted {
                        ChangeKind::Created
                    } else {
                        ChangeKind::Updated
                    };
                    assert_eq!(change.kind, want, "{change:?} after {kind:?}");
                }
            }
            None => assert_eq!(change.kind, ChangeKind::Created, "{change:?}"),
        }
        last.insert(&change.key, (change.version, change.kind));
    }
    let writes: Vec<u64> = events
        .iter()
        .filter(|c| c.kind != ChangeKind::Deleted)
        .map(|c| c.version)
        .collect();
    assert!(
        writes.windows(2).all(|p| p[0] < p[1]),
        "events of one store arrive in commit order"
    );
    layer.clear_store(&s).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_concurrent_writers_memory() {
    concurrent_writers_keep_versions_increasing(stateplug_tests::memory_so().0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_concurrent_writers_redb() {
    let (store, _dir) = stateplug_tests::redb_so();
    concurrent_writers_keep_versions_increasing(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_ends_when_layer_is_dropped() {
    let layer = watch_layer(64);
    let s = fresh_store_id("watch-drop");
    let mut w = layer.watch(&s, "");
    let _stream = layer.watch(&s, "").into_stream();
    assert_eq!(layer.watcher_count(), 2);
    let v = layer.set(&s, "k", vec![]).await.unwrap();
    layer.clear_store(&s).await.unwrap();
    drop(layer);
    assert_eq!(
        w.next().await,
        Some(WatchEvent::Changes(vec![c(
            &s,
            "k",
            ChangeKind::Created,
            v
        )])),
        "events before the drop are still delivered"
    );
    assert!(matches!(w.next().await, Some(WatchEvent::Changes(_))));
    assert_eq!(w.next().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwatched_writes_pass_through() {
    let layer = watch_layer(64);
    let s = fresh_store_id("watch-none");
    assert_eq!(layer.watcher_count(), 0);
    let v1 = layer.set(&s, "k", vec![1]).await.unwrap();
    let w = layer.watch(&s, "");
    assert_eq!(layer.watcher_count(), 1);
    drop(w);
    assert_eq!(
        layer.watcher_count(),
        0,
        "a dropped watcher stops the locked path"
    );
    let mut w = layer.watch(&s, "");
    let v2 = layer.set(&s, "k", vec![2]).await.unwrap();
    assert!(v2 > v1);
    assert_eq!(batch(&mut w), [c(&s, "k", ChangeKind::Updated, v2)]);
    layer.clear_store(&s).await.unwrap();
}

// ---------------------------------------------------------------------------
// Tracing fields.

fn traced_events(store_id: &str) -> Vec<Captured> {
    CAPTURED
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.fields.get("store_id").map(String::as_str) == Some(store_id))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_layer_logs_operation_provider_store_outcome_duration() {
    capture_tracing();
    let (store, ()) = stateplug_tests::memory_so();
    let layer: Arc<dyn StateStore> = Arc::new(Layered::new(store, TracingLayer));
    let s = format!("{TRACED_PREFIX}{}", fresh_store_id("fields"));
    let v = layer.set(&s, "k", b"1".to_vec()).await.unwrap();
    assert_eq!(layer.get(&s, "k").await.unwrap(), Some(b"1".to_vec()));
    let conflict = layer
        .compare_and_set(&s, "k", Expected::Version(v + 1000), vec![])
        .await
        .unwrap_err();
    assert!(conflict.is_conflict());
    layer.clear_store(&s).await.unwrap();

    let events = traced_events(&s);
    let ops: Vec<&str> = events
        .iter()
        .map(|e| e.fields.get("operation").map(String::as_str).unwrap_or("?"))
        .collect();
    assert_eq!(
        ops,
        ["set", "get", "compare_and_set", "clear_store"],
        "one event per call: {events:#?}"
    );
    for event in &events {
        for field in [
            "operation",
            "provider",
            "store_id",
            "outcome",
            "duration_us",
        ] {
            assert!(event.fields.contains_key(field), "no {field}: {event:?}");
        }
        assert_eq!(event.fields["provider"], "memory");
        assert!(
            event.fields["duration_us"].parse::<u64>().is_ok(),
            "duration in microseconds: {event:?}"
        );
    }
    assert_eq!(events[0].fields["outcome"], "ok");
    assert_eq!(events[0].level, tracing::Level::TRACE);
    let failed = &events[2];
    assert_eq!(failed.level, tracing::Level::DEBUG, "errors log at debug");
    assert_eq!(
        failed.fields["outcome"],
        ErrorKind::VERSION_CONFLICT.as_str()
    );
    assert!(failed.fields.contains_key("error"), "{failed:?}");
}
