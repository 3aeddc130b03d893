//! A watcher sees the removal of an expired key as a change of kind
//! `Expired`, through the memory and redb `.so` (whose feeds report only
//! expiries), also while no writes come, and never after the event of a
//! later write to the same key.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use stateplug::{
    layers::{FaultLayer, Layered, WatchEvent, Watcher},
    store::{ChangeRecord, Operation},
    ChangeKind, StateStore,
};
use stateplug_tests::Watched;

/// Longer than a test runs: only a moved clock expires it.
const TTL: Duration = Duration::from_secs(3_600);

/// The next batch of changes, waiting up to 10 s (the background sweep
/// runs every second).
async fn next_batch(watcher: &mut Watcher) -> Vec<ChangeRecord> {
    match tokio::time::timeout(Duration::from_secs(10), watcher.next()).await {
        Ok(Some(WatchEvent::Changes(changes))) => changes,
        other => panic!("expected a batch of changes, got {other:?}"),
    }
}

fn kinds(changes: &[ChangeRecord]) -> Vec<(&str, ChangeKind)> {
    changes.iter().map(|c| (c.key.as_str(), c.kind)).collect()
}

async fn a_removal_with_no_writes_reaches_the_watcher(store: Arc<dyn StateStore>) {
    let watched = Watched::new(store, 64);
    assert!(!watched.follows_change_feed(), "the layer observes writes");
    let mut watcher = watched.watch("s", "");
    assert!(watched.ready().await);
    let put = watched.set_with_ttl("s", "k", b"1", TTL).await.unwrap();
    watched.set("s", "kept", b"1").await.unwrap();
    assert_eq!(
        kinds(&next_batch(&mut watcher).await),
        [("k", ChangeKind::Created)]
    );
    assert_eq!(
        kinds(&next_batch(&mut watcher).await),
        [("kept", ChangeKind::Created)]
    );
    watched.clock().advance(TTL * 2);
    // No write: the background sweep removes the key.
    let expired = next_batch(&mut watcher).await;
    assert_eq!(kinds(&expired), [("k", ChangeKind::Expired)]);
    assert!(expired[0].version > put, "a revision of its own");
    let again = watched.set("s", "k", b"2").await.unwrap();
    let created = next_batch(&mut watcher).await;
    assert_eq!(kinds(&created), [("k", ChangeKind::Created)]);
    assert_eq!(created[0].version, again);
    assert!(again > expired[0].version);
    assert_eq!(watcher.try_next(), None, "nothing else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_removal_with_no_writes_reaches_the_watcher() {
    a_removal_with_no_writes_reaches_the_watcher(stateplug_tests::memory_so().0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_a_removal_with_no_writes_reaches_the_watcher() {
    let (store, _dir) = stateplug_tests::redb_so();
    a_removal_with_no_writes_reaches_the_watcher(store).await;
}

/// Every read of the feed is slowed down below the watch layer, so the
/// layer's background reader always comes late: each write's own read of
/// the feed is what puts the removal before the write's event.
async fn an_expiry_is_published_before_a_later_write_to_its_key(store: Arc<dyn StateStore>) {
    let faults = FaultLayer::new();
    faults.delay_operation(Operation::WaitChanges, Duration::from_millis(300));
    let slowed: Arc<dyn StateStore> = Arc::new(Layered::new(store, faults));
    let watched = Watched::new(slowed, 64);
    let mut watcher = watched.watch("s", "");
    assert!(watched.ready().await);
    for round in 0..3 {
        watched.set_with_ttl("s", "k", b"1", TTL).await.unwrap();
        assert_eq!(
            kinds(&next_batch(&mut watcher).await),
            [("k", ChangeKind::Created)],
            "round {round}"
        );
        watched.clock().advance(TTL * 2);
        // A write elsewhere removes the expired key on its way (or the
        // background sweep does, before it): then the key is written again.
        watched.set("s", "other", b"1").await.unwrap();
        watched.set("s", "k", b"2").await.unwrap();
        let mut seen = Vec::new();
        while !seen
            .iter()
            .any(|c: &ChangeRecord| c.key == "k" && c.kind != ChangeKind::Expired)
        {
            seen.extend(next_batch(&mut watcher).await);
        }
        let of_k: Vec<ChangeKind> = seen
            .iter()
            .filter(|c| c.key == "k")
            .map(|c| c.kind)
            .collect();
        assert_eq!(
            of_k,
            [ChangeKind::Expired, ChangeKind::Created],
            "round {round}: the removal first, then the write ({seen:?})"
        );
        assert!(
            seen.windows(2).all(|w| w[0].version < w[1].version),
            "round {round}: events in revision order: {seen:?}"
        );
        watched.delete("s", "k").await.unwrap();
        watched.delete("s", "other").await.unwrap();
        while !kinds(&next_batch(&mut watcher).await).contains(&("other", ChangeKind::Deleted)) {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_an_expiry_is_published_before_a_later_write_to_its_key() {
    an_expiry_is_published_before_a_later_write_to_its_key(stateplug_tests::memory_so().0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_an_expiry_is_published_before_a_later_write_to_its_key() {
    let (store, _dir) = stateplug_tests::redb_so();
    an_expiry_is_published_before_a_later_write_to_its_key(store).await;
}

/// Outside a tokio runtime (another executor) the layer cannot follow the
/// feed, and a watched write neither waits for it nor panics: its own
/// change still reaches the watcher.
#[test]
fn outside_a_tokio_runtime_watched_writes_still_publish() {
    let watched = Watched::new(stateplug_tests::memory_so().0, 64);
    let mut watcher = watched.watch("s", "");
    let version = futures::executor::block_on(watched.set("s", "k", b"1")).unwrap();
    match watcher.try_next() {
        Some(WatchEvent::Changes(changes)) => {
            assert_eq!(kinds(&changes), [("k", ChangeKind::Created)]);
            assert_eq!(changes[0].version, version);
        }
        other => panic!("expected the write's change, got {other:?}"),
    }
}
