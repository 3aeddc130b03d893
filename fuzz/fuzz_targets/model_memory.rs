//! Arbitrary bytes decoded into an operation sequence, applied to the
//! memory provider (compiled in, through the host's adapter) and to a
//! `BTreeMap` model, compared after every step. A divergence panics.
//!
//! The memory and redb providers are separate targets: each provider crate
//! exports the same root-module symbol, which only one crate per binary may
//! define when cargo-fuzz builds with one codegen unit.

#![no_main]

use std::sync::OnceLock;

use stateplug_tests::fuzz_input::ModelTarget;

fn target() -> &'static ModelTarget {
    static TARGET: OnceLock<ModelTarget> = OnceLock::new();
    TARGET.get_or_init(|| {
        let store = stateplug::provider::open_in_process(
            stateplug_provider_memory::open_in_process,
            &serde_json::json!({}),
        )
        .expect("open the memory provider");
        ModelTarget::new(store)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target().run(data));
