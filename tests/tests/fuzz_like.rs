//! The fuzz targets of `fuzz/` as bounded property tests, so that every
//! `cargo test` runs them (the libFuzzer build needs `cargo-fuzz` and
//! minutes of compiling; see fuzz/README.md for long runs). Both use the
//! same bodies as the fuzz targets (`stateplug_tests::fuzz_input`):
//!
//! - random bytes decoded into operation sequences, run against the memory
//!   and redb providers (their `.so` files) and compared with a model after
//!   every step;
//! - random text, plausible configuration fragments and damaged copies of
//!   the example configuration, parsed as a pipeline configuration: never a
//!   panic.
//!
//! and one hostile-input property of its own: whatever keys a plugin passes
//! to its `ScopedStore`, another plugin's store is untouched.
//!
//! `PROPTEST_CASES` raises the case counts for a longer run.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use stateplug_tests::fuzz_input::{decode_ops, parse_config, ModelTarget};
use stateplug_tests::fuzz_replay::ReplayTarget;

/// `default` cases, or `PROPTEST_CASES` when set.
fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // Failures print their input; nothing is written into the repository.
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// Operation bytes: mostly short sequences, some up to the decoder's cap.
fn op_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..200)
}

#[test]
fn random_operations_on_memory_match_the_model() {
    let target = ModelTarget::new(stateplug_tests::memory_so().0);
    proptest!(config(2_000), |(data in op_bytes())| {
        target.run(&data);
    });
}

#[test]
fn random_operations_on_redb_survive_a_crash_image_and_its_replay() {
    let library = std::sync::Arc::new(stateplug_tests::load("stateplug-provider-redb"));
    let target = ReplayTarget::new(
        stateplug_tests::tmpfs_tempdir(),
        Box::new(move |config| library.open(config).expect("open redb")),
    );
    proptest!(config(200), |(data in op_bytes())| {
        target.run(&data);
    });
}

#[test]
fn random_operations_on_redb_match_the_model() {
    // On tmpfs when there is one: every write is a durable commit.
    let dir = stateplug_tests::tmpfs_tempdir();
    let store = stateplug_tests::load("stateplug-provider-redb")
        .open(&stateplug_tests::redb_config(dir.path()))
        .expect("open redb");
    let target = ModelTarget::new(store);
    proptest!(config(300), |(data in op_bytes())| {
        target.run(&data);
    });
}

#[test]
fn decoded_sequences_are_bounded() {
    proptest!(config(2_000), |(data in prop::collection::vec(any::<u8>(), 0..2_000))| {
        prop_assert!(decode_ops(&data).len() <= stateplug_tests::fuzz_input::MAX_OPS);
    });
}

/// Fragments of configuration files: table headers, keys, values.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[provider]\n".to_string()),
        Just("[[providers]]\n".to_string()),
        Just("[host]\n".to_string()),
        Just("[[source]]\n".to_string()),
        Just("[[reaction]]\n".to_string()),
        Just("[[bootstrap]]\n".to_string()),
        prop::sample::select(vec![
            "name",
            "library",
            "providers_dir",
            "config",
            "channel_capacity",
            "stop_timeout_ms",
            "checkpoint_interval_ms",
            "progress_interval_secs",
            "id",
            "source",
            "kind",
            "subscribe",
            "restart",
            "max_restarts",
            "backoff_ms",
            "settings",
            "provider",
        ])
        .prop_map(|k| format!("{k} = ")),
        "\"[^\"\\\\]{0,12}\"\n".prop_map(|s| s),
        "-?[0-9]{1,20}\n".prop_map(|s| s),
        Just("{ path = \"x.redb\" }\n".to_string()),
        Just("[\"a\", \"b\"]\n".to_string()),
        Just("{ max_restarts = 1, backoff_ms = 5 }\n".to_string()),
        Just("true\n".to_string()),
        any::<String>().prop_map(|s| s.chars().take(8).collect()),
    ]
}

#[test]
fn configuration_text_never_panics_the_parser() {
    proptest!(config(2_000), |(text in prop::collection::vec(fragment(), 0..30))| {
        parse_config(text.concat().as_bytes());
    });
}

#[test]
fn arbitrary_bytes_never_panic_the_parser() {
    proptest!(config(2_000), |(data in prop::collection::vec(any::<u8>(), 0..400))| {
        parse_config(&data);
    });
}

#[test]
fn damaged_example_configurations_never_panic_the_parser() {
    let example = include_str!("../../examples/pipeline.toml")
        .as_bytes()
        .to_vec();
    let edits = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8);
    proptest!(config(2_000), |(edits in edits)| {
        let mut text = example.clone();
        for (at, byte, how) in edits {
            let i = at.index(text.len() + 1);
            match how {
                0 => text.insert(i, byte),
                1 if i < text.len() => { text.remove(i); }
                _ if i < text.len() => text[i] = byte,
                _ => {}
            }
        }
        parse_config(&text);
    });
}

/// Keys a hostile plugin might try: other store_ids, separators, NULs,
/// path tricks, and arbitrary text.
fn hostile_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "plugin-b",
            "plugin-b/k",
            "../plugin-b/k",
            "/plugin-b",
            "plugin-b\0k",
            "\0",
            "*",
            "plugin-a\0plugin-b",
            "",
            "k",
        ])
        .prop_map(String::from),
        "[a-z/\\\\.:\0-]{0,12}".prop_map(|s| s),
        any::<String>().prop_map(|s| s.chars().take(16).collect()),
    ]
}

/// Whatever keys a plugin passes, through any write of its `ScopedStore`
/// (single, batch, transaction, clear), another plugin's store is untouched
/// and no third store appears.
#[test]
fn a_scoped_store_never_reaches_another_store_id() {
    use stateplug::{ScopedStore, TxnOp};
    let (store, ()) = stateplug_tests::memory_so();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (a, b) = ("plugin-a", "plugin-b");
    runtime
        .block_on(store.set(b, "k", b"b's".to_vec()))
        .unwrap();
    let scoped = ScopedStore::new(store.clone(), a).unwrap();
    proptest!(config(500), |(keys in prop::collection::vec(hostile_key(), 1..6), how in 0..5u8)| {
        runtime.block_on(async {
            // Refusals (a key over the limit, an empty store) are fine; reaching b is not.
            let _ = match how {
                0 => scoped.set(&keys[0], b"a's".to_vec()).await.map(drop),
                1 => scoped.delete(&keys[0]).await.map(drop),
                2 => scoped
                    .set_many(keys.iter().map(|k| (k.clone(), b"a's".to_vec())).collect())
                    .await
                    .map(drop),
                3 => scoped
                    .transaction(keys.iter().map(|k| TxnOp::put(k.clone(), b"a's".to_vec())).collect())
                    .await
                    .map(drop),
                _ => {
                    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
                    scoped.delete_many(&refs).await.map(drop)
                }
            };
            assert_eq!(store.list_keys(b).await.unwrap(), ["k"]);
            assert_eq!(store.get(b, "k").await.unwrap().as_deref(), Some(&b"b's"[..]));
            let stores = store.list_stores().await.unwrap();
            assert!(stores.iter().all(|s| s == a || s == b), "{stores:?}");
            scoped.clear().await.unwrap();
        });
    });
}
