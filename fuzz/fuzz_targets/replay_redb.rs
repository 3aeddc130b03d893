//! Arbitrary bytes decoded into an operation sequence, applied to a
//! journaled redb provider (compiled in) whose journal is checkpointed
//! every 4 KiB; at every scan step and at the end, a copy of its files as
//! they are on disk is opened (replaying the journal) twice and must hold
//! exactly what the live store holds. A difference panics.

#![no_main]

use std::sync::OnceLock;

use stateplug_tests::fuzz_replay::ReplayTarget;

fn target() -> &'static ReplayTarget {
    static TARGET: OnceLock<ReplayTarget> = OnceLock::new();
    TARGET.get_or_init(|| {
        // On tmpfs when there is one: an fsync there costs nothing.
        let dir = stateplug_tests::tmpfs_tempdir();
        ReplayTarget::new(
            dir,
            Box::new(|config| {
                stateplug::provider::open_in_process(
                    stateplug_provider_redb::open_in_process,
                    config,
                )
                .expect("open the redb provider")
            }),
        )
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target().run(data));
