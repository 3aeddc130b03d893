//! The `stateplug` command: provider info and check, configuration errors,
//! and a run stopped by Ctrl-C that resumes where it stopped.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

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
    assert!(
        shown.contains(&format!(
            "provider           redb {}",
            env!("CARGO_PKG_VERSION")
        )),
        "{shown}"
    );
    assert!(
        shown.contains("[x] durable") && shown.contains("[x] transactions"),
        "{shown}"
    );
    assert!(shown.contains("[ ] inline writes"), "{shown}");
    // A name finds the library, as in a configuration file.
    let by_name = stateplug(&["provider", "info", "redb"]);
    assert!(by_name.status.success(), "{}", text(&by_name));
    assert!(
        text(&by_name).contains("provider           redb"),
        "{}",
        text(&by_name)
    );
    let unknown = stateplug(&["provider", "info", "nosuch"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown).contains("no provider library named \"nosuch\""),
        "{}",
        text(&unknown)
    );

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
fn a_toml_error_names_its_cause_line_and_column_on_the_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[provider\n",
            "line 1, column 10: invalid table header; expected `.`, `]`",
        ),
        (
            "[provider]\nlibrary = \"memory\"\nlibary = 1\n",
            "line 3, column 1: unknown field `libary`, expected one of `name`, `library`",
        ),
        (
            "[provider]\nlibrary = \"memory\"\n[host]\nchannel_capacity = -\n",
            "line 4, column 21: invalid integer",
        ),
    ];
    for (i, (config, expected)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("t{i}.toml"), config);
        let out = stateplug(&["run", &path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {stderr}");
        let first = stderr.lines().next().unwrap_or("");
        assert!(
            first.starts_with(&format!("error: invalid configuration {path}, {expected}")),
            "case {i}: {stderr}"
        );
    }
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
        ("[provider\n", &["line 1, column 10: invalid table header"][..]),
        ("[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\n", &["line 8: source \"g\": the id \"g\" is already used by the source on line 4"][..]),
        ("[provider]\nlibrary = \"memory\"\n\n[[reaction]]\nid = \"r\"\nkind = \"word-count\"\nsubscribe = [\"ghost\"]\n", &["line 4: reaction \"r\": subscribes to source \"ghost\""][..]),
    ];
    for (i, (config, expected)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("c{i}.toml"), config);
        let out = stateplug(&["run", &path]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(2), "case {i}: {shown}");
        assert!(
            !shown.contains("storage ("),
            "case {i}: a configuration error: {shown}"
        );
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

/// Runs `config` and sends `signal` (`INT`, `TERM`) after `wait`.
fn signal_after(config: &str, wait: Duration, signal: &str) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_stateplug"))
        .args(["run", config])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(wait);
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
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
fn ctrl_c_and_sigterm_stop_cleanly_exit_130_and_143_and_the_next_run_continues() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "pipeline.toml",
        &format!(
            "[provider]\nlibrary = \"redb\"\nconfig = {{ path = \"{}\" }}\n\n[[source]]\nid = \"numbers\"\nkind = \"generator\"\nsettings = {{ rate_per_sec = 2000 }}\n\n[[reaction]]\nid = \"counts\"\nkind = \"word-count\"\nsubscribe = [\"numbers\"]\n",
            dir.path().join("state.redb").display()
        ),
    );
    let first = signal_after(&config, Duration::from_millis(700), "INT");
    assert_eq!(
        first.status.code(),
        Some(130),
        "Ctrl-C is a clean stop, and says a signal stopped it: {}",
        text(&first)
    );
    assert!(first.stderr.is_empty(), "{}", text(&first));
    let emitted = events_of(&first, "numbers");
    assert!(emitted > 0);
    assert_eq!(
        events_of(&first, "counts"),
        emitted,
        "reactions drained everything emitted"
    );
    let second = signal_after(&config, Duration::from_millis(700), "TERM");
    assert_eq!(second.status.code(), Some(143), "{}", text(&second));
    assert!(second.stderr.is_empty(), "{}", text(&second));
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
fn a_redb_file_held_by_a_running_pipeline_is_refused_as_in_use_with_exit_75() {
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
    // Another process holds the file: a temporary failure of the storage,
    // for a second pipeline and for a state command alike.
    let second = stateplug(&["run", &config]);
    let state = stateplug(&["state", "keys", "numbers", "--config", &config]);
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
    for out in [&second, &state] {
        let shown = text(out);
        assert_eq!(out.status.code(), Some(75), "{shown}");
        assert!(
            shown.starts_with(&format!("error: storage ({config}): provider redb"))
                && shown.contains("is in use")
                && shown.contains("(temporary)"),
            "{shown}"
        );
        assert!(!shown.contains("configuration"), "{shown}");
    }
    assert_eq!(status.code(), Some(130));
}

#[test]
fn a_corrupt_redb_file_is_a_storage_failure_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let noise: Vec<u8> = (0..64 * 1024).map(|_| rand::random::<u8>()).collect();
    std::fs::write(&db, noise).unwrap();
    let config = write(
        dir.path(),
        "pipeline.toml",
        &format!(
            "[provider]\nlibrary = \"redb\"\nconfig = {{ path = \"{}\" }}\n\n[[source]]\nid = \"numbers\"\nkind = \"generator\"\n",
            db.display()
        ),
    );
    for args in [
        &["run", &config][..],
        &["state", "stores", "--config", &config][..],
    ] {
        let out = stateplug(args);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {shown}");
        assert!(
            shown.starts_with(&format!("error: storage ({config}): "))
                && shown.contains(&db.display().to_string()),
            "{args:?}: {shown}"
        );
        assert!(!shown.contains("configuration"), "{args:?}: {shown}");
    }
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

/// A redb file holding more than a pipe buffers: store "big" with 3,000
/// keys of 100 bytes, and key "huge" of store "text", 100,000 lines.
fn redb_file_larger_than_a_pipe(db: &Path) {
    let store = stateplug::ProviderLibrary::load(built_library("stateplug-provider-redb"))
        .unwrap()
        .open(&serde_json::json!({ "path": db }))
        .unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let keys = (0..3000)
                .map(|i| (format!("key-{i:05}-{}", "x".repeat(90)), b"v".to_vec()))
                .collect();
            store.set_many("big", keys).await.unwrap();
            let text = "line\n".repeat(100_000).into_bytes();
            store.set("text", "huge", text).await.unwrap();
        });
}

#[test]
fn a_reader_that_closes_standard_output_early_ends_the_command_quietly_with_exit_0() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    redb_file_larger_than_a_pipe(&db);
    let provider = format!(r#"{{"path": {db:?}}}"#);
    let redb = lib("stateplug-provider-redb");
    let commands: [&[&str]; 5] = [
        &["keys", "big"],
        &["keys", "big", "--json"],
        &["dump"],
        &["get", "text", "huge"],
        &["get", "text", "huge", "--raw"],
    ];
    for command in commands {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stateplug"))
            .arg("state")
            .args(command)
            .args(["--library", &redb, "--provider-config", &provider])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Like `| head -1`: read one line, then close the pipe.
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        drop(reader);
        let out = child.wait_with_output().unwrap();
        assert!(!first.is_empty(), "{command:?}: output began");
        assert_eq!(out.status.code(), Some(0), "{command:?}: {}", text(&out));
        // Progress lines (a dump's) may be there; no complaint is.
        let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            !stderr.contains("error")
                && !stderr.contains("broken pipe")
                && !stderr.contains("panic"),
            "{command:?}: nothing to complain about: {}",
            text(&out)
        );
    }
}

#[test]
fn every_command_that_loads_a_library_takes_allow_writable_library() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let loose = dir.path().join("libloose_redb.so");
    std::fs::copy(built_library("stateplug-provider-redb"), &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o666)).unwrap();
    let loose = loose.display().to_string();
    let provider = format!(
        r#"{{"path": {:?}}}"#,
        dir.path().join("state.redb").display().to_string()
    );
    let pipeline = |name: &str, file: &str| {
        write(
            dir.path(),
            name,
            &format!(
                "[provider]\nlibrary = {loose:?}\nconfig = {{ path = {:?} }}\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\nsettings = {{ count = 10 }}\n",
                dir.path().join(file).display().to_string()
            ),
        )
    };
    let (from, to) = (
        pipeline("from.toml", "a.redb"),
        pipeline("to.toml", "b.redb"),
    );
    let dump = write(dir.path(), "empty.dump", "");
    let by_library = ["--library", &loose, "--provider-config", &provider];
    let state = |args: &[&str]| -> Vec<String> {
        ["state"]
            .iter()
            .chain(args)
            .chain(&by_library)
            .map(|s| s.to_string())
            .collect()
    };
    let owned = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let commands: Vec<Vec<String>> = vec![
        owned(&["run", &from]),
        owned(&["provider", "info", &loose]),
        owned(&[
            "provider",
            "check",
            &loose,
            "--config",
            r#"{"path": "{tmp}/c.redb"}"#,
        ]),
        owned(&["provider", "list", "--config", &from, "--open"]),
        state(&["stores"]),
        state(&["keys", "s"]),
        state(&["get", "s", "k"]),
        state(&["put", "s", "k", "v"]),
        state(&["delete", "s", "k"]),
        state(&["clear", "s", "--yes"]),
        state(&["dump"]),
        state(&["restore", "--input", &dump]),
        state(&["history", "s", "k"]),
        state(&["lock", "list"]),
        state(&["force-unlock", "s"]),
        owned(&["state", "stores", "--config", &from]),
        owned(&["state", "migrate", "--from", &from, "--to", &to]),
    ];
    for command in commands {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let refused = stateplug(&args);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&refused)
        );
        assert!(
            text(&refused).contains("refusing to load provider library")
                && text(&refused).contains("--allow-writable-library"),
            "{args:?}: {}",
            text(&refused)
        );
        let allowed = stateplug(&[&args[..], &["--allow-writable-library"]].concat());
        let shown = text(&allowed);
        assert!(
            !shown.contains("refusing to load") && !shown.contains("unexpected argument"),
            "{args:?} --allow-writable-library: {shown}"
        );
    }
    // The configuration file's key counts for every command that reads it.
    let trusted = write(
        dir.path(),
        "trusted.toml",
        &std::fs::read_to_string(&from)
            .unwrap()
            .replace("config = ", "allow_writable_library = true\nconfig = "),
    );
    for args in [
        &["state", "stores", "--config", &trusted][..],
        &["provider", "list", "--config", &trusted, "--open"][..],
        &["state", "migrate", "--from", &trusted, "--to", &trusted][..],
    ] {
        let shown = text(&stateplug(args));
        assert!(!shown.contains("refusing to load"), "{args:?}: {shown}");
    }
}
