//! Helpers for the cross-crate tests: where the built libraries are, and
//! how to open the shipped providers through them.
//!
//! The providers and fixture libraries are dev-dependencies of this crate,
//! so `cargo test` builds their `.so` files into `target/<profile>/deps/`,
//! the folder the test binaries themselves run from.

pub mod fuzz_input;
pub mod fuzz_replay;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use stateplug::{
    layers::{Layered, WatchLayer, Watcher},
    Host, HostBuilder, ProviderLibrary, StateStore,
};
use stateplug_plugins_example::{Generator, WordCount};
use tempfile::TempDir;

/// The pipeline the fencing tests move between hosts: a host named `name`
/// on `store` running `numbers` (a generator with id `numbers`) and the
/// word-count reaction `counts` over it in batches of `batch` (requiring
/// durable state exactly when `store` is durable), checkpointing every
/// 20 ms.
pub fn counting_host(
    store: &Arc<dyn StateStore>,
    name: &str,
    numbers: Generator,
    batch: usize,
) -> HostBuilder {
    Host::builder()
        .provider_store(Arc::clone(store))
        .host_name(name)
        .checkpoint_interval(Duration::from_millis(20))
        .source(numbers)
        .reaction(
            WordCount::new("counts", &["numbers"])
                .batch(batch)
                .durable(store.is_durable()),
        )
}

/// The path of the built library of crate `crate_name`.
pub fn library_path(crate_name: &str) -> PathBuf {
    stateplug::conformance::built_library(crate_name)
}

/// Loads the library of crate `crate_name`.
pub fn load(crate_name: &str) -> ProviderLibrary {
    let path = library_path(crate_name);
    ProviderLibrary::load(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// The memory provider of release 0.1, built against provider-api 0.1
/// (the frozen copy in `fixtures/frozen-0.1`, built by `build.rs`).
pub fn frozen_memory_0_1() -> ProviderLibrary {
    let path = env!("STATEPLUG_FROZEN_0_1_LIBRARY");
    ProviderLibrary::load(path).unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

/// The memory provider of interface 0.1.1 (the repository at commit 475355f,
/// before TTL), built against provider-api 0.1.1 (the frozen copy in
/// `fixtures/frozen-0.1.1`, built by `build.rs`).
pub fn frozen_memory_0_1_1() -> ProviderLibrary {
    let path = env!("STATEPLUG_FROZEN_0_1_1_LIBRARY");
    ProviderLibrary::load(path).unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

/// Opens the memory provider from its `.so`.
pub fn memory_so() -> (Arc<dyn StateStore>, ()) {
    let store = load("stateplug-provider-memory")
        .open(&serde_json::json!({}))
        .expect("open memory provider");
    (store, ())
}

/// The redb configuration for a database file in `dir`.
pub fn redb_config(dir: &Path) -> serde_json::Value {
    serde_json::json!({ "path": dir.join("state.redb") })
}

/// Opens the redb provider from its `.so` on a fresh file in a temp dir,
/// which lives as long as the returned guard.
pub fn redb_so() -> (Arc<dyn StateStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = load("stateplug-provider-redb")
        .open(&redb_config(dir.path()))
        .expect("open redb provider");
    (store, dir)
}

/// A fresh temporary folder, on tmpfs (`/dev/shm`) when there is one: for
/// tests that make many durable commits, whose file behaviour is the same
/// there but whose fsyncs cost nothing.
pub fn tmpfs_tempdir() -> TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir")
}

/// A store under a watch layer: the store's operations through `Deref`,
/// the layer's own through the methods of the same names.
pub struct Watched {
    store: Arc<dyn StateStore>,
    layer: Arc<Layered<WatchLayer>>,
}

impl Watched {
    /// `inner` under a watch layer whose channel holds `capacity` batches.
    pub fn new(inner: Arc<dyn StateStore>, capacity: usize) -> Self {
        let layer = Arc::new(Layered::new(
            inner.clone(),
            WatchLayer::with_capacity(&inner, capacity),
        ));
        Watched {
            store: layer.clone(),
            layer,
        }
    }

    /// The layered store, as plugins see it.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// A watcher of `store_id`'s keys under `prefix`.
    pub fn watch(&self, store_id: &str, prefix: &str) -> Watcher {
        self.layer.layer().watch(store_id, prefix)
    }

    /// A watcher of every change.
    pub fn watch_all(&self) -> Watcher {
        self.layer.layer().watch_all()
    }

    /// How many watchers are live.
    pub fn watcher_count(&self) -> usize {
        self.layer.layer().watcher_count()
    }

    /// Whether the layer follows the provider's change feed.
    pub fn follows_change_feed(&self) -> bool {
        self.layer.layer().follows_change_feed()
    }

    /// Waits until the layer follows the change feed (see `WatchLayer::ready`).
    pub async fn ready(&self) -> bool {
        self.layer.layer().ready().await
    }
}

impl std::ops::Deref for Watched {
    type Target = dyn StateStore;

    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}
