//! Arbitrary bytes decoded into an operation sequence, applied to the
//! memory and redb providers (compiled in, through the host's adapter) and
//! to a `BTreeMap` model, compared after every step. A divergence panics.

#![no_main]

use std::sync::{Arc, OnceLock};

use stateplug::{conformance::check_against_model, StateStore};

/// The stores every input runs against, opened once per fuzzing process.
struct Stores {
    runtime: tokio::runtime::Runtime,
    memory: Arc<dyn StateStore>,
    redb: Arc<dyn StateStore>,
}

fn stores() -> &'static Stores {
    static STORES: OnceLock<Stores> = OnceLock::new();
    STORES.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let memory = stateplug::open_in_process(
            stateplug_provider_memory::open_in_process,
            &serde_json::json!({}),
        )
        .expect("open the memory provider");
        // On tmpfs when there is one: an fsync there costs nothing. The
        // folder is removed at once; the open file lives on until exit.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a temp dir");
        let redb = stateplug::open_in_process(
            stateplug_provider_redb::open_in_process,
            &serde_json::json!({ "path": dir.path().join("fuzz.redb") }),
        )
        .expect("open the redb provider");
        drop(dir);
        Stores {
            runtime,
            memory,
            redb,
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let ops = stateplug_tests::fuzz_input::decode_ops(data);
    let stores = stores();
    stores.runtime.block_on(async {
        check_against_model(&stores.memory, &ops).await;
        check_against_model(&stores.redb, &ops).await;
    });
});
