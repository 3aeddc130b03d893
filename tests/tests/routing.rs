//! Several providers in one host: each plugin's state (and checkpoints)
//! lands in the provider it is routed to; durability is checked per
//! plugin; a library serves every instance after one load.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use stateplug::{
    config::PipelineConfig, plugin::PluginRegistry, provider::LibraryCache, BuildError, Host,
    StateStore,
};
use stateplug_plugins_example::{Generator, WordCount};

fn memory() -> Arc<dyn StateStore> {
    stateplug_tests::memory_so().0
}

fn redb_at(path: &std::path::Path) -> Arc<dyn StateStore> {
    stateplug_tests::load("stateplug-provider-redb")
        .open(&serde_json::json!({ "path": path }))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_plugin_keeps_its_state_in_the_provider_it_is_routed_to() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = memory();
    let durable = redb_at(&dir.path().join("state.redb"));
    let host = Host::builder()
        .named_provider_store("scratch", Arc::clone(&scratch))
        .named_provider_store("durable", Arc::clone(&durable))
        .source(Generator::new("numbers").count(500))
        .route("numbers", "durable")
        .reaction(WordCount::new("counts", &["numbers"]).durable(false))
        .build()
        .expect("the durable source is routed to redb, the volatile reaction to memory");
    assert_eq!(host.provider_of("numbers"), "durable");
    assert_eq!(
        host.provider_of("counts"),
        "scratch",
        "the first is the default"
    );
    let names: Vec<&str> = host.providers().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["scratch", "durable"]);
    assert_eq!(host.store_for("numbers").info().name, "redb");
    assert_eq!(host.store().info().name, "memory");
    let mut running = host.start().await.unwrap();
    running.wait().await;
    running.stop().await.unwrap();

    assert_eq!(
        durable.get("numbers", "$checkpoint").await.unwrap(),
        Some(b"500".to_vec()),
        "the source's checkpoint is in its own provider"
    );
    assert!(!scratch.store_exists("numbers").await.unwrap());
    assert_eq!(
        scratch.get("counts", "$checkpoint/numbers").await.unwrap(),
        Some(b"500".to_vec()),
        "the reaction's output and checkpoint are in its provider"
    );
    assert!(scratch.key_count("counts").await.unwrap() > 1);
    assert!(!durable.store_exists("counts").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_and_routes_are_checked_per_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let durable = redb_at(&dir.path().join("state.redb"));
    // A durable provider elsewhere does not make the default one durable.
    let err = Host::builder()
        .provider_store(memory())
        .named_provider_store("durable", Arc::clone(&durable))
        .source(Generator::new("g"))
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(&err, BuildError::NotDurable { plugin, provider } if plugin == "g" && provider == "memory"),
        "{err}"
    );
    // provider_store sets the default even after named ones.
    let host = Host::builder()
        .named_provider_store("durable", Arc::clone(&durable))
        .provider_store(memory())
        .source(Generator::new("g").durable(false))
        .build()
        .unwrap();
    assert_eq!(
        host.provider_of("g"),
        stateplug::runtime::DEFAULT_PROVIDER_NAME
    );

    let err = Host::builder()
        .provider_store(memory())
        .source(Generator::new("g").durable(false))
        .route("g", "nope")
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(&err, BuildError::UnknownProvider { known, .. } if known == "default"),
        "{err}"
    );
    let err = Host::builder()
        .provider_store(memory())
        .route("ghost", "default")
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(err, BuildError::UnknownRoutedPlugin { .. }),
        "{err}"
    );
    let err = Host::builder()
        .named_provider_store("a", memory())
        .named_provider_store("a", memory())
        .build()
        .err()
        .unwrap();
    assert!(matches!(err, BuildError::DuplicateProvider { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_with_several_providers_routes_its_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let deps = stateplug_tests::library_path("stateplug-provider-redb")
        .parent()
        .unwrap()
        .to_path_buf();
    let a = dir.path().join("a.redb");
    let b = dir.path().join("b.redb");
    let text = format!(
        r#"
[[providers]]
name = "main"
library = "redb"
providers_dir = {deps:?}
config = {{ path = {a:?} }}

[[providers]]
name = "side"
library = "redb"
providers_dir = {deps:?}
config = {{ path = {b:?} }}

[[source]]
id = "numbers"
kind = "generator"
settings = {{ count = 300 }}

[[reaction]]
id = "counts"
kind = "word-count"
subscribe = ["numbers"]
provider = "side"
"#
    );
    let config = PipelineConfig::parse(&text, &dir.path().join("pipeline.toml")).unwrap();
    let mut registry = PluginRegistry::new();
    stateplug_plugins_example::register(&mut registry);
    let host = config.builder(&registry).unwrap().build().unwrap();
    assert_eq!(host.provider_of("numbers"), "main");
    assert_eq!(host.provider_of("counts"), "side");
    let mut running = host.start().await.unwrap();
    running.wait().await;
    running.stop().await.unwrap();

    // One library, two instances on two files: each holds its plugins' state.
    let main = redb_at(&a);
    let side = redb_at(&b);
    assert_eq!(main.list_stores().await.unwrap(), ["numbers"]);
    assert_eq!(side.list_stores().await.unwrap(), ["counts"]);
    assert_eq!(
        side.get("counts", "$checkpoint/numbers").await.unwrap(),
        Some(b"300".to_vec())
    );
}

#[test]
fn a_library_is_loaded_once_whatever_the_spelling_of_its_path() {
    let path = stateplug_tests::library_path("stateplug-provider-memory");
    let dir = path.parent().unwrap();
    let roundabout = dir
        .join("..")
        .join(dir.file_name().unwrap())
        .join(path.file_name().unwrap());
    let cache = LibraryCache::new();
    assert!(cache.is_empty());
    let first = cache.load(&path).unwrap();
    let second = cache.load(&roundabout).unwrap();
    assert_eq!(cache.len(), 1);
    assert_eq!(first.path(), second.path(), "the first load serves both");
    let a = first.open(&serde_json::json!({})).unwrap();
    let b = second.open(&serde_json::json!({})).unwrap();
    assert_eq!(a.info(), b.info());
    assert!(cache.load("/no/such/lib.so").is_err());
    assert_eq!(cache.len(), 1, "failures are not cached");
}

/// `provider_library` takes a provider name, as configuration files do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_library_is_found_by_name() {
    let host = stateplug::Host::builder()
        .provider_library("stateplug-provider-memory", serde_json::json!({}))
        .build()
        .expect("found by name");
    assert_eq!(host.store().info().name, "memory");
    let err = stateplug::Host::builder()
        .provider_library("nosuch", serde_json::json!({}))
        .build()
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("no provider library named"),
        "{err}"
    );
}
