//! Builds the frozen copy of interface 0.1 (`fixtures/frozen-0.1`, a
//! workspace of its own) so the tests can load a provider built against an
//! older interface. Its library's path reaches the tests as
//! `STATEPLUG_FROZEN_0_1_LIBRARY`.

use std::{env, path::PathBuf, process::Command};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir.join("fixtures/frozen-0.1");
    // Beside the other build outputs, but a target folder of its own: the
    // outer build holds the lock of its own.
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let target = out_dir.join("frozen-0.1");
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
        .expect("run cargo to build the frozen 0.1 fixture");
    assert!(
        status.success(),
        "building the frozen 0.1 fixture ({}) failed",
        workspace.display()
    );
    let library = target.join("debug/libfixture_frozen_memory_0_1.so");
    println!(
        "cargo:rustc-env=STATEPLUG_FROZEN_0_1_LIBRARY={}",
        library.display()
    );
}
