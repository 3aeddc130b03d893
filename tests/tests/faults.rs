//! Faults: injected failures reach callers with their context, temporary
//! ones are retried within bounds, and plugins see errors, never a hang.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use stateplug::{
    layers::{Fault, FaultLayer, Layered, RetryLayer, RetryPolicy},
    store::Operation,
    ErrorKind, Expected, Host, HostError, StateStore,
};
use stateplug_plugins_example::{Generator, WordCount};

fn quick() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    }
}

mod conformance_through_retry {
    stateplug::conformance_tests!(|| {
        let (store, guard) = stateplug_tests::redb_so();
        (
            std::sync::Arc::new(stateplug::layers::Layered::new(
                store,
                stateplug::layers::RetryLayer::default(),
            )) as std::sync::Arc<dyn stateplug::StateStore>,
            guard,
        )
    });
}

mod conformance_through_faults {
    stateplug::conformance_tests!(|| {
        let (store, guard) = stateplug_tests::memory_so();
        (
            std::sync::Arc::new(stateplug::layers::Layered::new(
                store,
                stateplug::layers::FaultLayer::new(),
            )) as std::sync::Arc<dyn stateplug::StateStore>,
            guard,
        )
    });
}

#[tokio::test]
async fn an_injected_error_names_operation_provider_and_store() {
    let faults = Arc::new(FaultLayer::new());
    let store: Arc<dyn StateStore> =
        Arc::new(Layered::new(stateplug_tests::memory_so().0, faults.clone()));
    faults.fail_operation(
        Operation::Set,
        Fault::permanent(ErrorKind::STORAGE, "disk on fire"),
        Some(1),
    );
    let err = store.set("plugin-a", "k", b"v".to_vec()).await.unwrap_err();
    assert_eq!(
        (
            err.operation,
            err.kind(),
            err.store_id.as_str(),
            err.provider.as_str()
        ),
        (Operation::Set, ErrorKind::STORAGE, "plugin-a", "memory")
    );
    let text = err.to_string();
    assert!(
        text.contains("set")
            && text.contains("plugin-a")
            && text.contains("memory")
            && text.contains("disk on fire"),
        "{text}"
    );
    store
        .set("plugin-a", "k", b"v".to_vec())
        .await
        .expect("the rule was used up");
}

#[tokio::test]
async fn temporary_failures_are_retried_within_bounds() {
    let faults = Arc::new(FaultLayer::new());
    let store: Arc<dyn StateStore> = Arc::new(Layered::new(
        Arc::new(Layered::new(stateplug_tests::memory_so().0, faults.clone())),
        RetryLayer::new(quick()),
    ));

    faults.fail_operation(
        Operation::Set,
        Fault::temporary("connection reset"),
        Some(2),
    );
    let before = faults.calls();
    store
        .set("s", "k", b"v".to_vec())
        .await
        .expect("succeeds on the third attempt");
    assert_eq!(faults.calls() - before, 3);

    faults.fail_operation(
        Operation::Get,
        Fault::permanent(ErrorKind::STORAGE, "corrupt"),
        Some(1),
    );
    let before = faults.calls();
    assert_eq!(
        store.get("s", "k").await.unwrap_err().kind(),
        ErrorKind::STORAGE
    );
    assert_eq!(
        faults.calls() - before,
        1,
        "a permanent error is not retried"
    );

    faults.fail_operation(Operation::Get, Fault::temporary("still down"), None);
    let before = faults.calls();
    let err = store.get("s", "k").await.unwrap_err();
    assert_eq!(faults.calls() - before, 4, "the attempts are bounded");
    assert!(
        err.temporary && err.message.contains("gave up after 4 attempts"),
        "{err}"
    );
    faults.clear();

    faults.fail_operation(
        Operation::CompareAndSet,
        Fault::temporary("outcome unknown"),
        Some(1),
    );
    let before = faults.calls();
    assert!(store
        .compare_and_set("s", "k", Expected::Absent, b"x".to_vec())
        .await
        .is_err());
    assert_eq!(
        faults.calls() - before,
        1,
        "a conditional write is never repeated"
    );
}

/// Runs a generator and a word count whose commits fail with `fault`; the
/// failures the host stops with.
async fn failures_when_commits_fail(fault: Fault) -> Vec<stateplug::PluginFailure> {
    let faults = Arc::new(FaultLayer::new());
    faults.fail_operation(Operation::Transaction, fault, None);
    let host = Host::builder()
        .provider_store(stateplug_tests::memory_so().0)
        .layer(faults.clone())
        .source(Generator::new("numbers").durable(false))
        .reaction(WordCount::new("counts", &["numbers"]).durable(false))
        .build()
        .unwrap();
    let mut running = host.start().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .expect("the failure is noticed, no hang");
    let err = tokio::time::timeout(Duration::from_secs(10), running.stop())
        .await
        .expect("stop does not hang")
        .unwrap_err();
    match err {
        HostError::PluginsFailed(failures) => failures,
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_whose_commits_fail_stops_the_host_with_its_id() {
    let failures = failures_when_commits_fail(Fault::permanent(
        ErrorKind::STORAGE,
        "no space left on device",
    ))
    .await;
    assert_eq!(failures[0].id, "counts");
    assert!(
        failures[0].message.contains("transaction")
            && failures[0].message.contains("no space left"),
        "{failures:?}"
    );
    assert!(!failures[0].temporary, "{failures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_failure_on_a_temporary_store_error_is_marked_temporary() {
    let failures = failures_when_commits_fail(Fault::temporary("connection lost")).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].id, "counts");
    assert!(failures[0].temporary, "{failures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_retries_a_flaky_store_still_counts_exactly() {
    let memory = stateplug_tests::memory_so().0;
    let faults = Arc::new(FaultLayer::new());
    faults.fail_operation(Operation::GetMany, Fault::temporary("blip"), Some(3));
    faults.delay_operation(Operation::Transaction, Duration::from_millis(1));
    let host = Host::builder()
        .provider_store(memory.clone())
        .layer(faults)
        .layer(RetryLayer::new(quick()))
        .source(Generator::new("numbers").count(500).durable(false))
        .reaction(
            WordCount::new("counts", &["numbers"])
                .batch(50)
                .durable(false),
        )
        .build()
        .unwrap();
    let mut running = host.start().await.unwrap();
    running.wait().await;
    running
        .stop()
        .await
        .expect("temporary failures were absorbed");
    let mut expected = std::collections::BTreeMap::new();
    for n in 1..=500 {
        stateplug_plugins_example::count_words(
            &stateplug_plugins_example::line_for(n),
            &mut expected,
        );
    }
    for (word, n) in expected {
        let stored = memory
            .get("counts", &format!("count/{word}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(String::from_utf8(stored).unwrap(), n.to_string(), "{word}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stops_answering_fails_the_stop_in_time_naming_the_unwritten_checkpoint() {
    let faults = Arc::new(FaultLayer::new());
    let stop_timeout = Duration::from_millis(300);
    let host = Host::builder()
        .provider_store(stateplug_tests::memory_so().0)
        .layer(faults.clone())
        .source(Generator::new("numbers").rate(2_000).durable(false))
        .reaction(WordCount::new("counts", &["numbers"]).durable(false))
        // Only the stop persists the source's checkpoint.
        .checkpoint_interval(Duration::from_secs(3_600))
        .stop_timeout(stop_timeout)
        .build()
        .unwrap();
    let running = host.start().await.unwrap();
    let committed = |running: &stateplug::RunningHost| {
        running
            .report()
            .iter()
            .any(|p| p.id == "counts" && p.events > 0)
    };
    let began = std::time::Instant::now();
    while !committed(&running) {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "nothing committed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Every later transaction (the reaction's commits, the source's
    // checkpoint) waits longer than any test runs.
    faults.delay_operation(Operation::Transaction, Duration::from_secs(3_600));
    let stopping = std::time::Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(10), running.stop())
        .await
        .expect("the stop ends although the store does not answer")
        .unwrap_err();
    let took = stopping.elapsed();
    assert!(
        took < stop_timeout * 2 + Duration::from_secs(2),
        "took {took:?}"
    );
    match err {
        HostError::Store(e) => {
            assert_eq!(
                (e.operation, e.kind(), e.store_id.as_str(), e.temporary),
                (
                    Operation::Transaction,
                    ErrorKind::UNAVAILABLE,
                    "numbers",
                    true
                ),
                "{e}"
            );
            assert!(
                e.message.contains("checkpoint of source \"numbers\"")
                    && e.message.contains("stop timeout")
                    && e.message
                        .contains("resumes from its last persisted checkpoint"),
                "{e}"
            );
        }
        other => panic!("{other}"),
    }
}
