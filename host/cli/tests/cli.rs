//! The `stateplug` command: provider info and check, configuration errors,
//! and a run stopped by Ctrl-C that resumes where it stopped.

use std::{
    path::Path,
    process::{Command, Output, Stdio},
    time::Duration,
};

use stateplug::conformance::built_library;

fn stateplug(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stateplug"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run stateplug")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn lib(name: &str) -> String {
    built_library(name).display().to_string()
}

#[test]
fn provider_info_shows_name_versions_and_capabilities() {
    let out = stateplug(&["provider", "info", &lib("stateplug-provider-redb")]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("provider           redb 0.1.0"), "{shown}");
    assert!(
        shown.contains("[x] durable") && shown.contains("[x] transactions"),
        "{shown}"
    );
    assert!(shown.contains("[ ] inline writes"), "{shown}");

    let out = stateplug(&[
        "provider",
        "info",
        "--json",
        &lib("stateplug-provider-memory"),
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["name"], "memory");
    assert!(!json["capabilities"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("durable")));
}

#[test]
fn provider_info_on_a_missing_library_names_it() {
    let out = stateplug(&["provider", "info", "/nonexistent/libx.so"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("/nonexistent/libx.so") && text(&out).contains("no such file"),
        "{}",
        text(&out)
    );
}

#[test]
fn provider_check_passes_on_both_shipped_providers() {
    let out = stateplug(&["provider", "check", &lib("stateplug-provider-memory")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(" 0 failed"), "{}", text(&out));
    let out = stateplug(&[
        "provider",
        "check",
        &lib("stateplug-provider-redb"),
        "--config",
        r#"{"path": "{tmp}/check.redb"}"#,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("pass  reopen_preserves_data"),
        "a durable provider is reopened: {shown}"
    );
    assert!(
        shown.contains("pass  concurrent_cas_counter_is_exact"),
        "{shown}"
    );
}

#[test]
fn provider_check_fails_on_a_broken_provider_naming_the_behaviour() {
    let out = stateplug(&[
        "provider",
        "check",
        &lib("fixture-minimal"),
        "--config",
        r#"{"broken_cas": true}"#,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("FAIL  cas_rejects_stale_version"), "{shown}");
    assert!(
        shown.contains("does not conform") && shown.contains("cas_rejects_stale_version"),
        "{shown}"
    );
    assert!(
        shown.contains("pass  round_trip"),
        "the rest still runs: {shown}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn configuration_errors_are_named_with_their_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\nsetings = {}\n", &["line 7", "unknown field `setings`"][..]),
        ("[provider]\nlibrary = \"nope\"\n", &["provider library \"nope\" not found", "libstateplug_provider_nope.so"][..]),
        ("[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"g\"\nkind = \"gen\"\n", &["line 4", "unknown kind \"gen\"", "generator"][..]),
        ("[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\nsettings = { rate = 3 }\n", &["line 4", "unknown field `rate`"][..]),
        ("[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\n", &["requires durable checkpoints", "memory"][..]),
        ("[provider]\nlibrary = \"memory\"\n\n[[reaction]]\nid = \"r\"\nkind = \"word-count\"\nsubscribe = [\"ghost\"]\n", &["subscribes to source \"ghost\""][..]),
        ("[provider]\nlibrary = \"redb\"\nconfig = { pth = \"x\" }\n", &["rejected its configuration", "unknown field `pth`"][..]),
        ("[provider\n", &["line 1"][..]),
    ];
    for (i, (config, expected)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("c{i}.toml"), config);
        let out = stateplug(&["run", &path]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(2), "case {i}: {shown}");
        for needle in *expected {
            assert!(
                shown.contains(needle),
                "case {i}: expected {needle:?} in: {shown}"
            );
        }
        assert!(
            shown.contains(&path),
            "case {i}: the file is named: {shown}"
        );
    }
    let out = stateplug(&["run", "/nonexistent/pipeline.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("cannot read configuration /nonexistent/pipeline.toml"),
        "{}",
        text(&out)
    );
}

fn interrupt_after(config: &str, wait: Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_stateplug"))
        .args(["run", config])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(wait);
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    child.wait_with_output().unwrap()
}

fn events_of(output: &Output, id: &str) -> u64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(id))
        .unwrap_or_else(|| panic!("no line for {id}: {stdout}"));
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn ctrl_c_stops_cleanly_and_the_next_run_continues() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "pipeline.toml",
        &format!(
            "[provider]\nlibrary = \"redb\"\nconfig = {{ path = \"{}\" }}\n\n[[source]]\nid = \"numbers\"\nkind = \"generator\"\nsettings = {{ rate_per_sec = 2000 }}\n\n[[reaction]]\nid = \"counts\"\nkind = \"word-count\"\nsubscribe = [\"numbers\"]\n",
            dir.path().join("state.redb").display()
        ),
    );
    let first = interrupt_after(&config, Duration::from_millis(700));
    assert!(
        first.status.success(),
        "Ctrl-C is a clean stop: {}",
        text(&first)
    );
    let emitted = events_of(&first, "numbers");
    assert!(emitted > 0);
    assert_eq!(
        events_of(&first, "counts"),
        emitted,
        "reactions drained everything emitted"
    );
    let second = interrupt_after(&config, Duration::from_millis(700));
    assert!(second.status.success(), "{}", text(&second));
    let shown = String::from_utf8_lossy(&second.stdout);
    let last: u64 = shown
        .lines()
        .find(|l| l.contains("counts"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        last,
        emitted + events_of(&second, "numbers"),
        "the second run continued after event {emitted}: {shown}"
    );
}

#[test]
fn a_redb_file_held_by_a_running_pipeline_is_refused_as_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let config = write(
        dir.path(),
        "pipeline.toml",
        &format!(
            "[provider]\nlibrary = \"redb\"\nconfig = {{ path = \"{}\" }}\n\n[[source]]\nid = \"numbers\"\nkind = \"generator\"\nsettings = {{ rate_per_sec = 100 }}\n",
            db.display()
        ),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_stateplug"))
        .args(["run", &config])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let library =
        stateplug::ProviderLibrary::load(built_library("stateplug-provider-redb")).unwrap();
    let mut refused = None;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(20));
        if db.exists() {
            // Give the pipeline time to finish opening what it created.
            std::thread::sleep(Duration::from_millis(300));
            match library.open(&serde_json::json!({ "path": db })) {
                Err(e) => {
                    refused = Some(e.to_string());
                    break;
                }
                Ok(store) => drop(store),
            }
        }
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait_with_output().unwrap().status;
    let refused = refused.expect("a second process could open the file in use");
    assert!(
        refused.contains("in use") && refused.contains("state.redb"),
        "{refused}"
    );
    assert!(status.success());
}

#[test]
fn a_library_other_users_could_replace_needs_the_override_flag() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libloose_memory.so");
    std::fs::copy(built_library("stateplug-provider-memory"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o666)).unwrap();
    let copy = copy.display().to_string();
    let out = stateplug(&["provider", "info", &copy]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("writable by its group and every user (mode 0666)")
            && text(&out).contains("--allow-writable-library"),
        "{}",
        text(&out)
    );
    let out = stateplug(&["provider", "info", "--allow-writable-library", &copy]);
    assert!(out.status.success(), "{}", text(&out));

    let config = write(
        dir.path(),
        "loose.toml",
        &format!("[provider]\nlibrary = \"{copy}\"\ncall_timeout_ms = 5000\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\nsettings = {{ count = 10, durable = false }}\n"),
    );
    let out = stateplug(&["run", &config]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the pipeline refuses it too: {}",
        text(&out)
    );
    let allowed = write(
        dir.path(),
        "allowed.toml",
        &std::fs::read_to_string(&config).unwrap().replace(
            "call_timeout_ms",
            "allow_writable_library = true\ncall_timeout_ms",
        ),
    );
    let out = stateplug(&["run", &allowed]);
    assert!(
        out.status.success(),
        "allowed in the [provider] table: {}",
        text(&out)
    );
}
