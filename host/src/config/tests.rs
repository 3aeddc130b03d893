//! The configuration's unit tests.
use super::*;
use crate::plugin::PluginRegistry;

fn parse(text: &str) -> Result<PipelineConfig, ConfigError> {
    PipelineConfig::parse(text, Path::new("pipeline.toml"))
}

#[test]
fn a_misspelt_field_is_named_with_its_line() {
    let err = parse("[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"a\"\nkind = \"generator\"\nsetings = {}\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("unknown field `setings`"), "{text}");
    assert!(text.contains("line 7"), "{text}");
    assert!(text.contains("pipeline.toml"), "{text}");
}

#[test]
fn a_toml_error_names_its_line_and_column_on_the_first_line() {
    let err = parse("[provider]\nlibrary = \"memory\"\n\n[host\n").unwrap_err();
    let text = err.to_string();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("invalid configuration pipeline.toml, line 4, column 6: ")
            && first.contains("invalid table header"),
        "{text}"
    );
    assert!(text.contains("4 | [host\n  |      ^"), "{text}");
    let err = parse("[provider]\nlibrary = \"memory\"\n[host]\nchannel_capacity = \"big\"\n")
        .unwrap_err();
    let first = err.to_string().lines().next().unwrap().to_string();
    assert!(
        first.contains("line 4, column 20: invalid type: string \"big\""),
        "{first}"
    );
}

#[test]
fn a_duplicate_plugin_id_names_both_lines() {
    let err = parse("[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\n\n[[reaction]]\nid = \"g\"\nkind = \"word-count\"\nsubscribe = [\"g\"]\n").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("pipeline.toml, line 8: reaction \"g\": the id \"g\" is already used by the source on line 4"),
        "{text}"
    );
}

#[test]
fn an_unknown_source_names_the_line_and_the_known_sources() {
    let err = parse("[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\n\n[[reaction]]\nid = \"r\"\nkind = \"word-count\"\nsubscribe = [\"g\", \"ghost\"]\n").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("line 8: reaction \"r\": subscribes to source \"ghost\", which is not configured; configured sources: g"),
        "{text}"
    );
    let err = parse("[provider]\nlibrary = \"memory\"\n\n[[bootstrap]]\nsource = \"ghost\"\nkind = \"file-snapshot\"\n").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("line 4: bootstrap \"file-snapshot\": snapshots source \"ghost\"")
            && text.contains("configured sources: none"),
        "{text}"
    );
}

#[test]
fn a_missing_provider_section_is_named() {
    let err = parse("[[source]]\nid = \"a\"\nkind = \"x\"\n").unwrap_err();
    assert!(
        err.to_string().contains("missing field `provider`"),
        "{err}"
    );
}

#[test]
fn a_wrong_type_is_named_with_its_line() {
    let err = parse("[provider]\nlibrary = \"memory\"\n[host]\nchannel_capacity = \"big\"\n")
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("line 4") && text.contains("invalid type"),
        "{text}"
    );
}

#[test]
fn unknown_plugin_kinds_list_the_known_ones_with_the_line() {
    let config =
        parse("[provider]\nlibrary = \"/x/lib.so\"\n\n[[source]]\nid = \"a\"\nkind = \"nope\"\n")
            .unwrap();
    let mut registry = PluginRegistry::new();
    registry.source("generator", |_| Err("unused".into()));
    let err = config.builder(&registry).err().expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("line 4")
            && text.contains("unknown kind \"nope\"")
            && text.contains("generator"),
        "{text}"
    );
}

#[test]
fn provider_names_resolve_in_the_providers_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("libstateplug_provider_redb.so"), b"").unwrap();
    let text = format!(
        "[provider]\nlibrary = \"redb\"\nproviders_dir = {:?}\n",
        dir.path()
    );
    let config = parse(&text).unwrap();
    assert_eq!(
        config.provider_path().unwrap(),
        dir.path().join("libstateplug_provider_redb.so")
    );
    let config = parse(&text.replace("\"redb\"", "\"nope\"")).unwrap();
    let err = config.provider_path().unwrap_err().to_string();
    assert!(
        err.contains("libstateplug_provider_nope.so") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn provider_config_tables_become_json() {
    let config = parse("[provider]\nlibrary = \"redb\"\nconfig = { path = \"data/x.redb\", cache_size_bytes = 1024 }\n").unwrap();
    assert_eq!(
        config.provider_config(),
        serde_json::json!({ "path": "data/x.redb", "cache_size_bytes": 1024 })
    );
}

const TWO: &str = "[[providers]]\nname = \"durable\"\nlibrary = \"/x/libredb.so\"\nconfig = { path = \"a.redb\" }\n\n[[providers]]\nname = \"scratch\"\nlibrary = \"/x/libmemory.so\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\n\n[[reaction]]\nid = \"r\"\nkind = \"word-count\"\nsubscribe = [\"g\"]\nprovider = \"scratch\"\n";

#[test]
fn several_providers_are_listed_in_order_the_first_the_default() {
    let config = parse(TWO).unwrap();
    let providers = config.providers().unwrap();
    let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["durable", "scratch"]);
    assert_eq!(providers[0].line, 1);
    assert_eq!(providers[1].line, 6);
    assert_eq!(
        providers[0].config_json(),
        serde_json::json!({ "path": "a.redb" })
    );
    assert_eq!(config.provider_named(None).unwrap().name, "durable");
    assert_eq!(
        config.provider_named(Some("scratch")).unwrap().name,
        "scratch"
    );
    let err = config.provider_named(Some("nope")).unwrap_err().to_string();
    assert!(
        err.contains("\"nope\"") && err.contains("durable, scratch"),
        "{err}"
    );
    assert_eq!(
        config.provider_path().unwrap(),
        PathBuf::from("/x/libredb.so")
    );
    assert_eq!(
        config.reactions[0].get_ref().provider.as_deref(),
        Some("scratch")
    );
}

#[test]
fn a_single_provider_table_is_named_default() {
    let config = parse("[provider]\nlibrary = \"memory\"\n").unwrap();
    let providers = config.providers().unwrap();
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0].name, DEFAULT_PROVIDER_NAME);
    let config = parse("[provider]\nname = \"main\"\nlibrary = \"memory\"\n").unwrap();
    assert_eq!(config.providers().unwrap()[0].name, "main");
}

#[test]
fn provider_mistakes_are_named_with_their_line() {
    let cases = [
        (
            "[provider]\nlibrary = \"memory\"\n\n[[providers]]\nname = \"a\"\nlibrary = \"memory\"\n",
            &["line 1", "not both"][..],
        ),
        (
            "[[providers]]\nname = \"a\"\nlibrary = \"memory\"\n\n[[providers]]\nlibrary = \"redb\"\n",
            &["line 5", "needs `name"][..],
        ),
        (
            "[[providers]]\nname = \"a\"\nlibrary = \"memory\"\n\n[[providers]]\nname = \"a\"\nlibrary = \"redb\"\n",
            &["line 5", "\"a\" is used twice"][..],
        ),
        (
            "[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\nprovider = \"other\"\n",
            &["line 4", "provider \"other\"", "configured providers: default"][..],
        ),
        (
            "[provider]\nlibrary = \"memory\"\n\n[[bootstrap]]\nsource = \"g\"\nkind = \"file-snapshot\"\nprovider = \"default\"\n",
            &["line 4", "holds no state"][..],
        ),
        (
            "[[providers]]\nname = \"a\"\nlibary = \"memory\"\n",
            &["line 3", "unknown field `libary`"][..],
        ),
    ];
    for (i, (text, needles)) in cases.iter().enumerate() {
        let err = parse(text)
            .err()
            .unwrap_or_else(|| panic!("case {i} was accepted"));
        let shown = err.to_string();
        for needle in *needles {
            assert!(shown.contains(needle), "case {i}: {needle:?} in {shown}");
        }
        assert!(shown.contains("pipeline.toml"), "case {i}: {shown}");
    }
}

#[test]
fn the_builder_routes_plugins_to_their_providers() {
    let config = parse(TWO).unwrap();
    let mut registry = PluginRegistry::new();
    registry.source("generator", |_| Err("built".into()));
    // The libraries do not exist; building stops at the first plugin,
    // after every provider was added: this checks the wiring only.
    let err = config
        .builder(&registry)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("line 10") && err.contains("built"), "{err}");
}

#[test]
fn the_host_name_comes_from_the_host_table_and_an_empty_one_is_refused() {
    let registry = PluginRegistry::new();
    let config =
        parse("[provider]\nlibrary = \"/x/lib.so\"\n\n[host]\nname = \" host-b \"\n").unwrap();
    let builder = config.builder(&registry).unwrap();
    assert_eq!(builder.settings.host_name.as_deref(), Some("host-b"));

    let config = parse("[provider]\nlibrary = \"/x/lib.so\"\n\n[host]\nname = \"  \"\n").unwrap();
    let text = config
        .builder(&registry)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        text.contains("[host] name") && text.contains("leave it out"),
        "{text}"
    );
}
