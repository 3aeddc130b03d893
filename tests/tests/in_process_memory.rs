//! The conformance suite against the memory provider compiled into this
//! process (no dynamic loading), through the same adapter as its `.so`.
//!
//! One provider crate per test binary: each provider crate exports the
//! root-module symbol, so two of them cannot be linked into one executable.

use std::sync::Arc;

use stateplug::StateStore;

fn memory() -> (Arc<dyn StateStore>, ()) {
    let store = stateplug::open_in_process(
        stateplug_provider_memory::open_in_process,
        &serde_json::Value::Null,
    )
    .expect("open memory in process");
    (store, ())
}

stateplug::conformance_tests!(memory);
