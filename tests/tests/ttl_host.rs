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
