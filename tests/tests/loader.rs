//! Loading libraries: broken fixture libraries get exact, short errors;
//! several providers and several instances live side by side; a provider
//! panic is contained; provider logs reach the host's subscriber.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use stateplug::{ErrorKind, LoadError, ProviderLibrary};
use stateplug_tests::{library_path, load};

#[test]
fn a_library_without_a_provider_module_is_refused() {
    let path = library_path("fixture-no-module");
    let err = ProviderLibrary::load(&path).unwrap_err();
    assert!(matches!(err, LoadError::NotAProvider { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "names the library: {text}"
    );
    assert!(
        text.contains("export_provider!"),
        "says how to fix it: {text}"
    );
}

#[test]
fn a_library_built_against_another_major_interface_names_both_versions() {
    let path = library_path("fixture-other-major");
    let err = ProviderLibrary::load(&path).unwrap_err();
    match &err {
        LoadError::IncompatibleVersion {
            library_version,
            host_version,
            ..
        } => {
            assert_eq!(library_version, "1.0.0");
            assert_eq!(host_version, stateplug_provider_api::ffi::INTERFACE_VERSION);
        }
        other => panic!("expected IncompatibleVersion, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("rebuild"),
        "{text}"
    );
    assert!(
        text.lines().count() <= 3,
        "a short message, not a layout dump: {text}"
    );
}

#[test]
fn a_library_with_another_layout_gets_a_short_summary() {
    let path = library_path("fixture-wrong-layout");
    let err = ProviderLibrary::load(&path).unwrap_err();
    let LoadError::AbiMismatch {
        mismatch,
        library_version,
        ..
    } = &err
    else {
        panic!("expected AbiMismatch, got {err:?}");
    };
    assert_eq!(library_version, "0.1.0");
    assert!(
        mismatch.contains("expected stateplug-provider-api, found fixture-wrong-layout"),
        "{mismatch}"
    );
    let text = err.to_string();
    println!("{text}");
    assert!(
        text.contains(&path.display().to_string()),
        "names the library: {text}"
    );
    assert!(
        text.len() < 1200 && text.lines().count() <= 5,
        "summarised, not abi_stable's dump: {text}"
    );
}

#[test]
fn a_configuration_the_provider_rejects_names_the_field() {
    let library = load("stateplug-provider-redb");
    let err = library
        .open(&serde_json::json!({ "pth": "/tmp/x.redb" }))
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::ConfigRejected { .. }), "{err:?}");
    assert!(err.to_string().contains("unknown field `pth`"), "{err}");
    let err = library.open(&serde_json::json!({})).err().expect("refused");
    assert!(
        err.to_string().contains("path"),
        "a missing path is named: {err}"
    );
}

#[test]
fn a_provider_that_fails_to_open_reports_its_error() {
    let library = load("fixture-minimal");
    let err = library
        .open(&serde_json::json!({ "open": "fail" }))
        .err()
        .expect("refused");
    match &err {
        LoadError::OpenFailed {
            error, provider, ..
        } => {
            assert_eq!(provider, "minimal");
            assert_eq!(error.kind(), ErrorKind::STORAGE);
            assert!(error.message().contains("asked to fail opening"));
        }
        other => panic!("expected OpenFailed, got {other:?}"),
    }
}

#[test]
fn a_provider_that_panics_while_opening_is_contained() {
    let library = load("fixture-minimal");
    let err = library
        .open(&serde_json::json!({ "open": "panic" }))
        .err()
        .expect("refused");
    match &err {
        LoadError::InitPanicked { message, .. } => assert!(
            message.contains("asked to panic while opening"),
            "{message}"
        ),
        other => panic!("expected InitPanicked, got {other:?}"),
    }
    // The library stays usable after the panic.
    assert!(library.open(&serde_json::json!({})).is_ok());
}

#[tokio::test]
async fn a_panic_in_get_becomes_a_panic_error_and_the_provider_keeps_working() {
    let store = load("fixture-minimal")
        .open(&serde_json::json!({ "panic_on_get": true }))
        .expect("open");
    store.set("s", "k", b"v".to_vec()).await.expect("set works");
    let err = store.get("s", "k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PANIC);
    assert!(err.message.contains("asked to panic in get"), "{err}");
    assert_eq!(err.store_id, "s");
    assert_eq!(err.provider, "minimal");
    for _ in 0..3 {
        assert_eq!(
            store.get("s", "k").await.unwrap_err().kind(),
            ErrorKind::PANIC,
            "every panic is caught"
        );
    }
    assert_eq!(store.key_count("s").await.expect("still usable"), 1);
}

#[test]
fn info_and_capabilities_are_read_without_opening() {
    let library = load("stateplug-provider-redb");
    assert_eq!(library.info().name, "redb");
    assert_eq!(
        library.info().interface_version,
        stateplug_provider_api::ffi::INTERFACE_VERSION
    );
    assert!(library.capabilities().is_durable());
    let memory = load("stateplug-provider-memory");
    assert_eq!(memory.info().name, "memory");
    assert!(!memory.capabilities().is_durable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_providers_and_instances_work_side_by_side() {
    let memory = load("stateplug-provider-memory");
    let redb = load("stateplug-provider-redb");
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let stores = [
        memory.open(&serde_json::json!({})).unwrap(),
        memory.open(&serde_json::json!({})).unwrap(),
        redb.open(&stateplug_tests::redb_config(d1.path())).unwrap(),
        redb.open(&stateplug_tests::redb_config(d2.path())).unwrap(),
    ];
    for (i, store) in stores.iter().enumerate() {
        store.set("s", "who", vec![i as u8]).await.unwrap();
    }
    for (i, store) in stores.iter().enumerate() {
        assert_eq!(
            store.get("s", "who").await.unwrap(),
            Some(vec![i as u8]),
            "instance {i} kept its own data"
        );
    }
    assert_eq!(stores[0].info().name, "memory");
    assert_eq!(stores[2].info().name, "redb");
    // Loading the same library again gives the same provider, not a cached other one.
    assert_eq!(load("stateplug-provider-memory").info().name, "memory");
}

#[test]
fn a_second_open_of_one_redb_file_says_it_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let library = load("stateplug-provider-redb");
    let config = stateplug_tests::redb_config(dir.path());
    let _first = library.open(&config).unwrap();
    let err = library.open(&config).err().expect("second open refused");
    let LoadError::OpenFailed { error, .. } = &err else {
        panic!("expected OpenFailed, got {err:?}")
    };
    assert_eq!(error.kind(), ErrorKind::UNAVAILABLE);
    assert!(
        err.to_string().contains("in use") && err.to_string().contains("state.redb"),
        "{err}"
    );
}

#[test]
fn a_library_other_users_could_replace_is_refused_unless_allowed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libcopied_memory.so");
    std::fs::copy(library_path("stateplug-provider-memory"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = ProviderLibrary::load(&copy).unwrap_err();
    assert!(matches!(err, LoadError::Untrusted { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("writable by its group and every user (mode 0666)")
            && text.contains("--allow-writable-library"),
        "{text}"
    );
    let allowed = stateplug::LoadOptions {
        allow_writable_library: true,
    };
    let library = ProviderLibrary::load_with(&copy, &allowed).expect("the override loads it");
    assert_eq!(library.info().name, "memory");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        ProviderLibrary::load(&copy).is_ok(),
        "fixed permissions load"
    );
}

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A copy of the memory provider at `path`, mode 0755.
fn library_at(path: &std::path::Path) {
    std::fs::copy(library_path("stateplug-provider-memory"), path).unwrap();
    chmod(path, 0o755);
}

fn untrusted_reason(path: &std::path::Path) -> String {
    match ProviderLibrary::load(path) {
        Err(LoadError::Untrusted { reason, .. }) => reason,
        Err(other) => panic!("expected Untrusted, got {other:?}"),
        Ok(_) => panic!("{} was loaded", path.display()),
    }
}

fn open_folder_reason(folder: &std::path::Path) -> String {
    format!(
        "its folder {0} is writable by its group and every user (mode 0777), so they could \
         replace it; move the library or fix it with `chmod go-w {0}`",
        folder.display()
    )
}

#[test]
fn a_link_in_a_safe_folder_to_a_library_in_a_world_writable_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let (open, safe) = (root.join("open"), root.join("safe"));
    std::fs::create_dir(&open).unwrap();
    std::fs::create_dir(&safe).unwrap();
    chmod(&open, 0o777);
    let target = open.join("libmemory.so");
    library_at(&target);
    let link = safe.join("libmemory.so");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(
        untrusted_reason(&link),
        format!(
            "it resolves to {}, and {}",
            target.display(),
            open_folder_reason(&open)
        )
    );
    let text = ProviderLibrary::load(&link).unwrap_err().to_string();
    assert!(
        text.starts_with(&format!(
            "refusing to load provider library {}: ",
            link.display()
        )) && text.contains("--allow-writable-library"),
        "names the path as given, and the override: {text}"
    );
    let allowed = stateplug::LoadOptions {
        allow_writable_library: true,
    };
    assert!(ProviderLibrary::load_with(&link, &allowed).is_ok());
}

#[test]
fn a_library_in_a_safe_subfolder_of_a_world_writable_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().canonicalize().unwrap().join("open");
    let safe = open.join("safe");
    std::fs::create_dir_all(&safe).unwrap();
    chmod(&safe, 0o755);
    chmod(&open, 0o777);
    let lib = safe.join("libmemory.so");
    library_at(&lib);
    assert_eq!(untrusted_reason(&lib), open_folder_reason(&open));
    chmod(&open, 0o755);
    assert!(ProviderLibrary::load(&lib).is_ok(), "fixed, it loads");
}

#[test]
fn a_sticky_world_writable_folder_is_trusted_when_root_owns_it() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let sticky = dir.path().canonicalize().unwrap().join("sticky");
    std::fs::create_dir(&sticky).unwrap();
    chmod(&sticky, 0o1777);
    let lib = sticky.join("libmemory.so");
    library_at(&lib);
    let owned_by_root = std::fs::metadata(&sticky).unwrap().uid() == 0;
    match ProviderLibrary::load(&lib) {
        Ok(library) => {
            assert!(owned_by_root, "accepted although not owned by root");
            assert_eq!(library.info().name, "memory");
        }
        Err(LoadError::Untrusted { reason, .. }) => {
            assert!(!owned_by_root, "refused although root owns it: {reason}");
            assert!(reason.contains("(mode 1777)"), "{reason}");
        }
        Err(other) => panic!("expected it to load, got {other:?}"),
    }
}

#[test]
fn a_write_that_never_returns_times_out_as_outcome_unknown_and_the_host_keeps_working() {
    // The abandoned call keeps one blocking thread parked forever, so the
    // runtime is shut down without waiting for it (as `stateplug` does),
    // and only then are the answers checked: a failed check must not leave
    // the test waiting for that thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = stateplug::OpenOptions {
        read_only: false,
        call_timeout: std::time::Duration::from_millis(200),
    };
    // Alone on the blocking pool, and queued in the host's group writer.
    let configs = [
        serde_json::json!({ "hang_on_set": true }),
        serde_json::json!({ "hang_on_set": true, "group_writes": true }),
    ];
    let answers = runtime.block_on(async {
        let mut answers = Vec::new();
        for config in &configs {
            let store = load("fixture-minimal").open_with(config, &options).unwrap();
            let started = std::time::Instant::now();
            let set = store.set("s", "k", b"v".to_vec()).await;
            let took = started.elapsed();
            answers.push((set, took, store.get("s", "k").await));
        }
        answers
    });
    runtime.shutdown_background();
    for (config, (set, took, get)) in configs.iter().zip(answers) {
        assert!(
            took < std::time::Duration::from_secs(5),
            "{config}: the caller got an answer"
        );
        let err = set.unwrap_err();
        // The abandoned write may still land: its outcome is unknown, so a
        // caller reads back (as a reaction's commit does) instead of taking
        // it as not applied.
        assert_eq!(err.kind(), ErrorKind::OUTCOME_UNKNOWN, "{config}: {err}");
        assert!(
            err.temporary
                && err.message.contains("did not answer")
                && err.message.contains("may still be applied"),
            "{config}: {err}"
        );
        assert_eq!(err.operation, stateplug::store::Operation::Set);
        assert_eq!(get.unwrap(), None, "{config}: other calls still work");
    }
}
