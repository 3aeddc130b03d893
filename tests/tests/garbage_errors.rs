//! A provider that returns an error kind no interface version defines (the
//! minimal fixture with `{"weird_error_kind": true}` fails every `delete`
//! with kind 999): the host reports it with its number and context, treats
//! it as permanent, and keeps working — directly, through the layers, and
//! through a plugin's scoped store.

use std::{sync::Arc, time::Duration};

use stateplug::{
    layers::{FaultLayer, Layered, RetryLayer, RetryPolicy, TracingLayer},
    store::Operation,
    ErrorKind, ScopedStore, StateStore,
};
use stateplug_tests::load;

fn weird() -> Arc<dyn StateStore> {
    load("fixture-minimal")
        .open(&serde_json::json!({ "weird_error_kind": true }))
        .expect("open the fixture")
}

#[tokio::test]
async fn an_unknown_error_kind_is_reported_with_its_number() {
    let store = weird();
    store.set("s", "k", b"v".to_vec()).await.expect("set works");
    let err = store.delete("s", "k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind(999));
    assert!(!err.kind().is_known());
    assert!(!err.temporary, "an unknown kind is not retried");
    assert!(!err.is_conflict());
    assert_eq!(
        (err.operation, err.provider.as_str(), err.store_id.as_str()),
        (Operation::Delete, "minimal", "s")
    );
    let text = err.to_string();
    assert!(
        text.contains("unknown error kind 999")
            && text.contains("delete")
            && text.contains("\"s\"")
            && text.contains("minimal")
            && text.contains("asked to fail with error kind 999"),
        "{text}"
    );
    assert!(
        format!("{err:?}").contains("ErrorKind(999)"),
        "debug output keeps the number: {err:?}"
    );

    // The host and the provider carry on.
    assert_eq!(
        store.get("s", "k").await.expect("get").as_deref(),
        Some(&b"v"[..]),
        "the failed delete changed nothing"
    );
    store.set("s", "k2", b"w".to_vec()).await.expect("set");
    assert_eq!(store.key_count("s").await.expect("count"), 2);
    assert!(
        store.delete("s", "k").await.is_err(),
        "fails the same again"
    );
}

#[tokio::test]
async fn layers_and_scoped_stores_pass_an_unknown_kind_through() {
    let faults = Arc::new(FaultLayer::new());
    let policy = RetryPolicy {
        attempts: 4,
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
    };
    let faulty = Arc::new(Layered::new(weird(), faults.clone()));
    let retry = Arc::new(Layered::new(faulty, RetryLayer::new(policy)));
    let store: Arc<dyn StateStore> = Arc::new(Layered::new(retry, TracingLayer));
    let scoped = ScopedStore::new(store.clone(), "plugin-a").unwrap();
    scoped.set("k", b"v".to_vec()).await.expect("set");

    let before = faults.calls();
    let err = scoped.delete("k").await.unwrap_err();
    assert_eq!(
        faults.calls() - before,
        1,
        "a permanent error is not retried"
    );
    assert_eq!(err.kind(), ErrorKind(999));
    assert_eq!(err.store_id, "plugin-a");
    assert!(err.to_string().contains("unknown error kind 999"), "{err}");

    assert_eq!(
        scoped.get("k").await.expect("get").as_deref(),
        Some(&b"v"[..])
    );
}
