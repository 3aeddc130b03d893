//! What the command line offers a shell and a reader: completions that
//! bash loads, a man page from the same definitions, `--version` with the
//! provider interface version, and `provider check --json`.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use stateplug::conformance::built_library;

fn stateplug(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stateplug"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run stateplug")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn bash_completions_parse_and_complete_the_subcommands() {
    let out = stateplug(&["completions", "bash"]);
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("stateplug.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // Loaded into a shell, it completes `stateplug st` to `state`.
    let probe = format!(
        "source {:?}; COMP_WORDS=(stateplug st); COMP_CWORD=1; COMP_LINE='stateplug st'; COMP_POINT=12; \
         _stateplug stateplug st stateplug; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script
    );
    let completed = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let words = String::from_utf8_lossy(&completed.stdout);
    assert!(
        words.lines().any(|w| w == "state"),
        "completions of `stateplug st`: {words:?} {}",
        String::from_utf8_lossy(&completed.stderr)
    );
}

#[test]
fn zsh_and_fish_completions_name_every_subcommand() {
    for shell in ["zsh", "fish"] {
        let out = stateplug(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = stdout(&out);
        for command in ["run", "provider", "state", "completions", "man"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    let out = stateplug(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}

#[test]
fn the_man_page_documents_the_commands_and_their_options() {
    let out = stateplug(&["man"]);
    assert!(out.status.success());
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH stateplug"),
        "{page}"
    );
    assert!(page.contains("provider") && page.contains("completions"));
    let dir = tempfile::tempdir().unwrap();
    let out = stateplug(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let run = std::fs::read_to_string(dir.path().join("stateplug-run.1")).unwrap();
    assert!(run.contains("metrics\\-addr"), "{run}");
    assert!(dir.path().join("stateplug.1").is_file());
}

#[test]
fn version_names_the_provider_interface_version() {
    let out = stateplug(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        format!(
            "stateplug {} (provider interface {})",
            env!("CARGO_PKG_VERSION"),
            stateplug::provider::INTERFACE_VERSION
        )
    );
}

fn check_json(library: &str, config: &str) -> (Output, serde_json::Value) {
    let out = stateplug(&["provider", "check", library, "--config", config, "--json"]);
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&out)));
    (out, value)
}

#[test]
fn provider_check_json_lists_every_case_with_its_outcome_and_reason() {
    let memory = built_library("stateplug-provider-memory");
    let (out, report) = check_json(memory.to_str().unwrap(), "{}");
    assert!(out.status.success());
    let cases = report["cases"].as_array().unwrap();
    let count = |outcome: &str| cases.iter().filter(|c| c["outcome"] == outcome).count();
    assert_eq!(count("pass"), report["passed"].as_u64().unwrap() as usize);
    assert_eq!(count("skip"), report["skipped"].as_u64().unwrap() as usize);
    assert_eq!(count("fail"), 0);
    assert_eq!(count("pass") + count("skip"), cases.len());
    for case in cases {
        let skipped_or_failed = case["outcome"] != "pass";
        assert_eq!(case["reason"].is_string(), skipped_or_failed, "{case}");
    }

    let broken = built_library("fixture-minimal");
    let (out, report) = check_json(broken.to_str().unwrap(), r#"{"broken_cas": true}"#);
    assert_eq!(out.status.code(), Some(1));
    let cas = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cas_rejects_stale_version")
        .unwrap();
    assert_eq!(cas["outcome"], "fail");
    assert!(!cas["reason"].as_str().unwrap().is_empty());
    assert!(report["failed"].as_u64().unwrap() >= 1);
}
