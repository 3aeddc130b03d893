//! The clock an embedder installs with `HostBuilder::clock` is the one the
//! loaded provider reads: moving it expires keys inside the `.so`.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use stateplug::{Clock, Host};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builders_clock_reaches_every_provider_library() {
    let clock = Clock::system();
    let dir = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .provider_library(
            stateplug_tests::library_path("stateplug-provider-memory"),
            serde_json::json!({}),
        )
        .named_provider_library(
            "durable",
            stateplug_tests::library_path("stateplug-provider-redb"),
            stateplug_tests::redb_config(dir.path()),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let ttl = Duration::from_secs(60);
    for (name, store) in host.providers() {
        store.set_with_ttl("s", "k", b"v", ttl).await.unwrap();
        assert!(store.contains_key("s", "k").await.unwrap(), "{name}");
    }
    clock.advance(ttl);
    for (name, store) in host.providers() {
        assert!(
            !store.contains_key("s", "k").await.unwrap(),
            "{name}: expired"
        );
        assert_eq!(store.clock().now_ms(), clock.now_ms(), "{name}");
    }
}

/// Puts with a time to live that arrive while the redb provider's
/// background sweeper is removing expired keys (so that they wait in its
/// group queue) are written with their value and expiry, every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_with_a_ttl_during_a_background_sweep_all_land() {
    let clock = Clock::system();
    let dir = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .provider_library(
            stateplug_tests::library_path("stateplug-provider-redb"),
            serde_json::json!({ "path": dir.path().join("state.redb"), "sweep_interval_ms": 1 }),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let store = host.store();
    let short = Duration::from_secs(60);
    for batch in 0..20 {
        let ops = (0..1_000)
            .map(|i| stateplug::TxnOp::put_with_ttl(format!("old-{batch}-{i}"), b"v", short))
            .collect();
        store.transaction("expiring", ops).await.unwrap();
    }
    // 20,000 keys expire at once: the sweeper removes them group by group.
    clock.advance(short * 2);
    let long = Duration::from_secs(3_600);
    for i in 0..300 {
        let key = format!("new-{i}");
        let version = store.set_with_ttl("fresh", &key, b"v", long).await.unwrap();
        assert!(version > 0, "{key}: acknowledged without a version");
        assert_eq!(
            store.get("fresh", &key).await.unwrap(),
            Some(b"v".to_vec()),
            "{key}: acknowledged but not written"
        );
    }
    let keys: Vec<String> = (0..300).map(|i| format!("new-{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let expiries = store.expiries("fresh", &refs).await.unwrap();
    assert!(expiries.iter().all(Option::is_some), "{expiries:?}");
}
