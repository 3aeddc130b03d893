//! The conformance suite against a minimal provider (no optional
//! capability) loaded from its `.so`: cases needing a capability are
//! skipped, and the undeclared operations are refused with UNSUPPORTED.

use std::sync::Arc;

use stateplug::StateStore;

fn minimal() -> (Arc<dyn StateStore>, ()) {
    let store = stateplug_tests::load("fixture-minimal")
        .open(&serde_json::json!({}))
        .expect("open minimal");
    (store, ())
}

stateplug::conformance_tests!(minimal);
