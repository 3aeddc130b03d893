//! The conformance suite against the memory provider compiled into this
//! process (no dynamic loading), through the same adapter as its `.so`.
//!
//! One provider crate per test binary: each provider crate exports the
//! root-module symbol, so two of them cannot be linked into one executable.

use std::future::Future;
use std::sync::Arc;

use stateplug::StateStore;

fn memory() -> (Arc<dyn StateStore>, ()) {
    let store = stateplug::provider::open_in_process_with(
        stateplug_provider_memory::open_in_process_with,
        &serde_json::Value::Null,
        &stateplug::Clock::system(),
    )
    .expect("open memory in process");
    (store, ())
}

stateplug::conformance_tests!(memory);

/// An inline read is answered without boxing a future: `get` comes back
/// already holding its answer.
#[test]
fn an_inline_get_is_ready_at_once() {
    let (store, ()) = memory();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(store.set("s", "k", b"v".to_vec()))
        .unwrap();
    // Outside a runtime, a future answered inline is ready on its first poll.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let answer = match std::pin::pin!(store.get("s", "k")).poll(&mut cx) {
        std::task::Poll::Ready(answer) => answer,
        std::task::Poll::Pending => panic!("the memory provider's get was not answered inline"),
    };
    assert_eq!(answer.unwrap().as_deref(), Some(&b"v"[..]));
}

/// A task looping over gets the memory provider answers at once still
/// lets the other tasks of its thread run (the answers take part in
/// tokio's cooperative budget): a spawned task makes progress.
#[test]
fn a_loop_of_inline_gets_lets_a_spawned_task_run() {
    let (store, ()) = stateplug_tests::memory_so();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        store.set("s", "k", b"v".to_vec()).await.unwrap();
        let progressed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = progressed.clone();
        tokio::spawn(async move { flag.store(true, std::sync::atomic::Ordering::SeqCst) });
        for gets in 0..1_000_000u64 {
            store.get("s", "k").await.unwrap();
            if progressed.load(std::sync::atomic::Ordering::SeqCst) {
                assert!(gets < 10_000, "the spawned task ran only after {gets} gets");
                return;
            }
        }
        panic!("the spawned task never ran while the loop got");
    });
}
