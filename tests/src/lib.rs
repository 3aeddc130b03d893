//! Helpers for the cross-crate tests: where the built libraries are, and
//! how to open the shipped providers through them.
//!
//! The providers and fixture libraries are dev-dependencies of this crate,
//! so `cargo test` builds their `.so` files into `target/<profile>/deps/`,
//! the folder the test binaries themselves run from.

pub mod fuzz_input;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use stateplug::{ProviderLibrary, StateStore};
use tempfile::TempDir;

/// The path of the built library of crate `crate_name`.
pub fn library_path(crate_name: &str) -> PathBuf {
    stateplug::conformance::built_library(crate_name)
}

/// Loads the library of crate `crate_name`.
pub fn load(crate_name: &str) -> ProviderLibrary {
    let path = library_path(crate_name);
    ProviderLibrary::load(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
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
