//! Builds the frozen copies of interfaces 0.1 and 0.1.1
//! (`fixtures/frozen-0.1` and `fixtures/frozen-0.1.1`, each a workspace of
//! its own) so the tests can load providers built against older interfaces.
//! Their libraries' paths reach the tests as `STATEPLUG_FROZEN_0_1_LIBRARY`
//! and `STATEPLUG_FROZEN_0_1_1_LIBRARY`.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    build_fixture(
        &manifest_dir,
        &out_dir,
        "frozen-0.1",
        "libfixture_frozen_memory_0_1.so",
        "STATEPLUG_FROZEN_0_1_LIBRARY",
    );
    build_fixture(
        &manifest_dir,
        &out_dir,
        "frozen-0.1.1",
        "libfixture_frozen_memory_0_1_1.so",
        "STATEPLUG_FROZEN_0_1_1_LIBRARY",
    );
}

/// Builds the fixture workspace `fixtures/<name>` and hands the path of its
/// `library` to the tests as env `variable`.
fn build_fixture(manifest_dir: &Path, out_dir: &Path, name: &str, library: &str, variable: &str) {
    let workspace = manifest_dir.join("fixtures").join(name);
    // Beside the other build outputs, but a target folder of its own: the
    // outer build holds the lock of its own.
    let target = out_dir.join(name);
    println!("cargo:rerun-if-changed={}", workspace.display());
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--locked", "--quiet", "--manifest-path"])
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        // The outer build's flags and target settings are not this build's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .unwrap_or_else(|e| panic!("run cargo to build the {name} fixture: {e}"));
    assert!(
        status.success(),
        "building the {name} fixture ({}) failed",
        workspace.display()
    );
    let library = target.join("debug").join(library);
    println!("cargo:rustc-env={variable}={}", library.display());
}
