//! A provider built against an older interface keeps loading: the memory
//! provider of interface 0.1.1 (commit 475355f, before TTL), built against
//! the frozen copy of provider-api 0.1.1 (`tests/fixtures/frozen-0.1.1`),
//! loads into this host and passes the conformance suite for what it
//! declares, through the loaded `.so`.

use std::time::Duration;

use stateplug::{store::Operation, CapabilityFlags, ErrorKind, StateStore, WriteOp};

fn open() -> (std::sync::Arc<dyn StateStore>, ()) {
    let store = stateplug_tests::frozen_memory_0_1_1()
        .open(&serde_json::json!({}))
        .expect("open the 0.1.1 memory provider");
    (store, ())
}

stateplug::conformance_tests!(open);

#[test]
fn it_says_which_interface_it_was_built_against() {
    let library = stateplug_tests::frozen_memory_0_1_1();
    assert_eq!(library.info().interface_version, "0.1.1");
    assert_eq!(library.info().name, "memory");
    let caps = library.capabilities();
    assert!(caps.has(CapabilityFlags::TRANSACTIONS));
    // TTL came with interface 0.1.2: this provider never declares it.
    assert!(!caps.has(CapabilityFlags::TTL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_to_live_is_unsupported() {
    let (store, ()) = open();
    assert!(!store.capabilities().has(CapabilityFlags::TTL));
    let err = store
        .set_with_ttl("frozen-0-1-1", "k", b"v", Duration::from_secs(60))
        .await
        .expect_err("a put with a time to live to a provider without TTL");
    assert_eq!(err.kind(), ErrorKind::UNSUPPORTED, "{err}");
    // Past the host's own check, straight to the 0.1.1 library: its write
    // does not know the expiring put and refuses it, writing nothing.
    let expiring = [WriteOp::put_expiring("k", b"v", u64::MAX)];
    let err = store
        .write(Operation::Set, "frozen-0-1-1", &expiring)
        .await
        .expect_err("an expiring put sent to the provider itself");
    assert_eq!(err.kind(), ErrorKind::UNSUPPORTED, "{err}");
    assert_eq!(
        store.get("frozen-0-1-1", "k").await.expect("get"),
        None,
        "refused puts write nothing"
    );
}
