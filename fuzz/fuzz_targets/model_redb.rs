//! Arbitrary bytes decoded into an operation sequence, applied to the redb
//! provider (compiled in, through the host's adapter, every write durably
//! committed) and to a `BTreeMap` model, compared after every step. A
//! divergence panics.

#![no_main]

use std::sync::OnceLock;

use stateplug_tests::fuzz_input::ModelTarget;

fn target() -> &'static ModelTarget {
    static TARGET: OnceLock<ModelTarget> = OnceLock::new();
    TARGET.get_or_init(|| {
        // On tmpfs when there is one: an fsync there costs nothing. The
        // folder is removed at once; the open file lives on until exit.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a temp dir");
        let store = stateplug::provider::open_in_process(
            stateplug_provider_redb::open_in_process,
            &serde_json::json!({ "path": dir.path().join("fuzz.redb") }),
        )
        .expect("open the redb provider");
        drop(dir);
        ModelTarget::new(store)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target().run(data));
