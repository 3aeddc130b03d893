//! `stateplug state …` through the real command, on redb files (state
//! that persists between the processes each command runs in) and on the
//! memory provider (whose state lives inside one process: a command sees
//! an empty store, and says so). Library-level behaviour of the same
//! operations, memory included, is tested in `tests/tests/ops.rs`.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use stateplug::{conformance::built_library, ProviderLibrary, StateStore};

fn stateplug(args: &[&str]) -> Output {
    stateplug_with_input(args, None)
}

fn stateplug_with_input(args: &[&str], input: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stateplug"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stateplug");
    if let Some(bytes) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn ok(output: Output) -> Output {
    assert!(output.status.success(), "{}", text(&output));
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `--config <file>` of a pipeline whose provider is a redb file.
fn redb_pipeline(dir: &Path, name: &str, extra: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[provider]\nlibrary = \"redb\"\nconfig = {{ path = {:?}{extra} }}\n",
            dir.join(format!("{name}.redb"))
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn open_redb(path: &Path) -> Arc<dyn StateStore> {
    ProviderLibrary::load(built_library("stateplug-provider-redb"))
        .unwrap()
        .open(&serde_json::json!({ "path": path }))
        .unwrap()
}

async fn content(store: &Arc<dyn StateStore>, store_id: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut walk = stateplug::ops::StoreWalk::new(store, store_id, "");
    while let Some(page) = walk.next_page().await.unwrap() {
        out.extend(page.into_iter().map(|e| (e.key, e.value)));
    }
    out
}

#[test]
fn every_inspecting_command_works_on_a_redb_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = redb_pipeline(dir.path(), "state", ", history_versions = 3");
    let c = ["--config", cfg.as_str()];
    let run = |args: &[&str]| ok(stateplug(&[&["state"], args, &c[..]].concat()));

    let out = run(&["put", "orders", "o/1", "first"]);
    assert!(
        stdout(&out).contains("stored \"o/1\" in store \"orders\" at version 1"),
        "{}",
        text(&out)
    );
    run(&["put", "orders", "o/1", "second"]);
    run(&["put", "orders", "o/2", "x"]);
    let bin = dir.path().join("bin");
    std::fs::write(&bin, [0u8, 159, 146, 150, 10]).unwrap();
    run(&["put", "files", "blob", "--file", bin.to_str().unwrap()]);

    let out = run(&["stores"]);
    assert!(
        stdout(&out).contains("orders") && stdout(&out).contains("2 keys"),
        "{}",
        text(&out)
    );
    let out = run(&["stores", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{ "store": "files", "keys": 1 }, { "store": "orders", "keys": 2 }])
    );

    assert_eq!(stdout(&run(&["keys", "orders"])), "o/1\no/2\n");
    assert_eq!(
        stdout(&run(&["keys", "orders", "--prefix", "o/2"])),
        "o/2\n"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["keys", "orders", "--json"]).stdout).unwrap();
    assert_eq!(json[1]["key"], "o/2");
    assert_eq!(json.as_array().unwrap().len(), 2);

    let out = run(&["get", "orders", "o/1"]);
    assert_eq!(stdout(&out), "second\n");
    assert!(
        text(&out).contains("(version "),
        "the version is shown: {}",
        text(&out)
    );
    assert_eq!(stdout(&run(&["get", "files", "blob"])), "hex:009f92960a\n");
    assert_eq!(
        run(&["get", "files", "blob", "--raw"]).stdout,
        [0u8, 159, 146, 150, 10]
    );
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["get", "files", "blob", "--json"]).stdout).unwrap();
    assert_eq!(json["value"], serde_json::Value::Null);
    assert_eq!(json["value_b64"], "AJ+Slgo=");
    assert_eq!(
        stdout(&run(&["get", "orders", "o/1", "--version", "1"])),
        "first\n"
    );

    let out = stateplug(&["state", "get", "orders", "nope", "--config", &cfg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("has no key \"nope\""), "{}", text(&out));

    let out = run(&["delete", "orders", "o/1"]);
    assert!(stdout(&out).contains("deleted"), "{}", text(&out));
    let out = run(&["delete", "orders", "o/1"]);
    assert!(stdout(&out).contains("nothing deleted"), "{}", text(&out));

    let out = run(&["history", "orders", "o/1"]);
    let lines: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["(deleted)", "second", "first"], "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(
        &run(&["history", "orders", "o/1", "--json", "--limit", "2"]).stdout,
    )
    .unwrap();
    assert_eq!(json[0]["deleted"], true);
    assert_eq!(json[1]["value"], "second");
    assert_eq!(json.as_array().unwrap().len(), 2);

    // The same file through --library and --provider-config: without a
    // setting, the file keeps its history; an explicit 0 turns it off.
    let file = dir.path().join("state.redb");
    let lib_cfg = serde_json::json!({ "path": file }).to_string();
    let lib = ["--library", "redb", "--provider-config", lib_cfg.as_str()];
    let out = ok(stateplug(
        &[&["state", "keys", "orders"], &lib[..]].concat(),
    ));
    assert_eq!(stdout(&out), "o/2\n");
    let out = ok(stateplug(
        &[&["state", "history", "orders", "o/1"], &lib[..]].concat(),
    ));
    assert_eq!(stdout(&out).lines().count(), 3, "{}", text(&out));
    let off = serde_json::json!({ "path": file, "history_versions": 0 }).to_string();
    let lib = ["--library", "redb", "--provider-config", off.as_str()];
    let out = stateplug(&[&["state", "history", "orders", "o/2"], &lib[..]].concat());
    assert_eq!(out.status.code(), Some(1), "history is off: {}", text(&out));
    assert!(text(&out).contains("history_versions"), "{}", text(&out));
}

#[test]
fn the_provider_must_be_named_once_and_correctly() {
    let cases: [(&[&str], &str); 5] = [
        (&["state", "stores"], "--config <pipeline.toml>"),
        (
            &[
                "state",
                "stores",
                "--config",
                "a.toml",
                "--library",
                "memory",
            ],
            "not both",
        ),
        (
            &[
                "state",
                "stores",
                "--library",
                "memory",
                "--provider-config",
                "{x",
            ],
            "not valid JSON",
        ),
        (
            &["state", "stores", "--library", "nope"],
            "\"nope\" not found",
        ),
        (
            &["state", "stores", "--config", "/nonexistent/p.toml"],
            "cannot read configuration",
        ),
    ];
    for (args, needle) in cases {
        let out = stateplug(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains(needle),
            "{args:?}: {needle:?} in {}",
            text(&out)
        );
    }
}

#[test]
fn memory_state_lives_inside_one_process() {
    let out = ok(stateplug(&[
        "state",
        "put",
        "s",
        "k",
        "v",
        "--library",
        "memory",
    ]));
    assert!(text(&out).contains("not durable"), "{}", text(&out));
    assert!(text(&out).contains("stored \"k\""), "{}", text(&out));
    let out = stateplug(&["state", "get", "s", "k", "--library", "memory"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a new process has a new, empty store"
    );
    let out = ok(stateplug(&[
        "state",
        "stores",
        "--library",
        "memory",
        "--json",
    ]));
    assert_eq!(stdout(&out).trim(), "[]");
    let out = ok(stateplug(&["state", "lock", "list", "--library", "memory"]));
    assert!(stdout(&out).contains("no locks"));
}

#[test]
fn clear_asks_first_and_refuses_without_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = redb_pipeline(dir.path(), "state", "");
    ok(stateplug(&[
        "state", "put", "s", "a", "1", "--config", &cfg,
    ]));
    ok(stateplug(&[
        "state", "put", "s", "b", "2", "--config", &cfg,
    ]));
    let out = stateplug(&["state", "clear", "s", "--config", &cfg]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pass --yes"), "{}", text(&out));
    assert_eq!(
        stdout(&ok(stateplug(&["state", "keys", "s", "--config", &cfg]))),
        "a\nb\n"
    );

    // On a terminal it asks; `script` gives the command one.
    let bin = env!("CARGO_BIN_EXE_stateplug");
    let has_script = Command::new("script").arg("--version").output().is_ok();
    if has_script {
        for (answer, code, left) in [("n\n", 1, "a\nb\n"), ("y\n", 0, "")] {
            let mut child = Command::new("script")
                .args([
                    "-qec",
                    &format!("{bin} state clear s --config {cfg}"),
                    "/dev/null",
                ])
                .env("RUST_LOG", "warn")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(answer.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                text(&out).contains("Remove all 2 keys of store \"s\""),
                "{}",
                text(&out)
            );
            assert_eq!(out.status.code(), Some(code), "{}", text(&out));
            assert_eq!(
                stdout(&ok(stateplug(&["state", "keys", "s", "--config", &cfg]))),
                left
            );
        }
    }
    ok(stateplug(&[
        "state", "put", "s", "a", "1", "--config", &cfg,
    ]));
    let out = ok(stateplug(&[
        "state", "clear", "s", "--yes", "--config", &cfg, "--json",
    ]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["removed"], 1);
}

#[test]
fn dump_and_restore_through_files_and_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let src = redb_pipeline(dir.path(), "src", "");
    let dst = redb_pipeline(dir.path(), "dst", "");
    let blob = dir.path().join("blob");
    std::fs::write(&blob, (0..=255u8).collect::<Vec<_>>()).unwrap();
    ok(stateplug(&[
        "state", "put", "a", "k1", "one", "--config", &src,
    ]));
    ok(stateplug(&[
        "state",
        "put",
        "a",
        "k2",
        "--file",
        blob.to_str().unwrap(),
        "--config",
        &src,
    ]));
    ok(stateplug(&[
        "state", "put", "b", "k", "two", "--config", &src,
    ]));

    let file = dir.path().join("all.dump");
    let out = ok(stateplug(&[
        "state",
        "dump",
        "--output",
        file.to_str().unwrap(),
        "--config",
        &src,
    ]));
    assert!(
        text(&out).contains("dumped 3 entries of 2 stores"),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("all.dump.partial").exists());
    let piped = ok(stateplug(&[
        "state", "dump", "--store", "b", "--config", &src,
    ]))
    .stdout;
    let first = String::from_utf8_lossy(&piped)
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(first.contains("\"stores\":[\"b\"]"), "{first}");

    ok(stateplug(&[
        "state", "put", "a", "stale", "x", "--config", &dst,
    ]));
    let out = ok(stateplug(&[
        "state",
        "restore",
        "--input",
        file.to_str().unwrap(),
        "--config",
        &dst,
    ]));
    assert!(
        text(&out).contains("restored 3 entries into 2 stores"),
        "{}",
        text(&out)
    );
    assert_eq!(
        stdout(&ok(stateplug(&["state", "keys", "a", "--config", &dst]))),
        "k1\nk2\n"
    );
    let raw = ok(stateplug(&[
        "state", "get", "a", "k2", "--raw", "--config", &dst,
    ]))
    .stdout;
    assert_eq!(
        raw,
        (0..=255u8).collect::<Vec<_>>(),
        "binary values survive"
    );

    // From standard input, as JSON.
    ok(stateplug(&[
        "state", "put", "b", "k", "changed", "--config", &dst,
    ]));
    let out = ok(stateplug_with_input(
        &["state", "restore", "--json", "--config", &dst],
        Some(&piped),
    ));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["entries"], 1);
    assert_eq!(
        stdout(&ok(stateplug(&[
            "state", "get", "b", "k", "--config", &dst
        ]))),
        "two\n"
    );
}

#[test]
fn a_damaged_dump_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let src = redb_pipeline(dir.path(), "src", "");
    let dst = redb_pipeline(dir.path(), "dst", "");
    for i in 0..50 {
        ok(stateplug(&[
            "state",
            "put",
            "s",
            &format!("k{i:02}"),
            &format!("value {i}"),
            "--config",
            &src,
        ]));
        if i == 3 {
            break;
        }
    }
    let good = ok(stateplug(&["state", "dump", "--config", &src])).stdout;
    let text_of = String::from_utf8(good.clone()).unwrap();
    let mut flipped = good.clone();
    let at = text_of.find("dmFsdWUgMg").unwrap() + 3; // inside "value 2"
    flipped[at] ^= 0x01;
    let no_trailer: String = text_of.lines().take(5).map(|l| format!("{l}\n")).collect();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("flipped", flipped, "checksum mismatch"),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        ("no trailer", no_trailer.into_bytes(), "line 5"),
    ];
    ok(stateplug(&[
        "state", "put", "s", "k00", "keep me", "--config", &dst,
    ]));
    for (what, bytes, needle) in cases {
        let path = dir.path().join(format!("{}.dump", what.replace(' ', "-")));
        std::fs::write(&path, &bytes).unwrap();
        let out = stateplug(&[
            "state",
            "restore",
            "-i",
            path.to_str().unwrap(),
            "--config",
            &dst,
        ]);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
        let shown = text(&out);
        assert!(
            shown.contains("nothing was written") && shown.contains(needle),
            "{what}: {shown}"
        );
        let out = stateplug_with_input(&["state", "restore", "--config", &dst], Some(&bytes));
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what} from stdin: {}",
            text(&out)
        );
        assert_eq!(
            stdout(&ok(stateplug(&["state", "keys", "s", "--config", &dst]))),
            "k00\n",
            "{what}"
        );
        assert_eq!(
            stdout(&ok(stateplug(&[
                "state", "get", "s", "k00", "--config", &dst
            ]))),
            "keep me\n"
        );
    }
}

/// A migration killed half way leaves its locks: a second operator is
/// refused naming the holder; the same migrate run again takes its dead
/// predecessor's lock over, copies what is missing, drops what the source
/// deleted meanwhile, and verifies.
#[test]
fn an_interrupted_migration_blocks_others_and_finishes_when_run_again() {
    const KEYS: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let from = redb_pipeline(dir.path(), "from", "");
    let to = redb_pipeline(dir.path(), "to", "");
    let source_file = dir.path().join("from.redb");
    block_on(async {
        let store = open_redb(&source_file);
        let value = vec![b'v'; 200];
        for chunk in (0..KEYS).collect::<Vec<_>>().chunks(5_000) {
            let entries = chunk
                .iter()
                .map(|i| {
                    (
                        format!("key/{i:06}"),
                        [format!("{i}:").as_bytes(), &value].concat(),
                    )
                })
                .collect();
            store.set_many("big", entries).await.unwrap();
        }
        store.set("small", "only", b"one".to_vec()).await.unwrap();
    });

    let mut child = Command::new(env!("CARGO_BIN_EXE_stateplug"))
        .args([
            "state", "migrate", "--from", &from, "--to", &to, "--batch", "100",
        ])
        .args(["--progress-interval-ms", "20"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let line = lines.next().expect("migrate ended before copying").unwrap();
        seen.push(line.clone());
        let copied = line
            .strip_prefix("migrate: ")
            .and_then(|l| l.split('/').next())
            .and_then(|n| n.parse::<u64>().ok());
        if copied.is_some_and(|n| n >= 1_000) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{seen:?}");
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let copied = block_on(async {
        let target = open_redb(&dir.path().join("to.redb"));
        target.key_count("big").await.unwrap()
    });
    assert!(
        copied > 0 && copied < KEYS as u64,
        "killed half way: {copied} of {KEYS} copied"
    );

    // A second operator is refused by the dead migration's lock.
    let out = stateplug(&["state", "clear", "big", "--yes", "--config", &to]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = text(&out);
    for needle in [
        "store \"big\" is locked by",
        "(migrate, pid",
        "since ",
        "expires ",
        "force-unlock big",
    ] {
        assert!(shown.contains(needle), "{needle:?} in {shown}");
    }
    let out = ok(stateplug(&[
        "state", "lock", "list", "--json", "--config", &to,
    ]));
    let locks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(locks.as_array().unwrap().len(), 2, "{locks}");
    assert_eq!(locks[0]["operation"], "migrate");
    // The source's locks can be removed by hand.
    let out = ok(stateplug(&[
        "state",
        "force-unlock",
        "big",
        "--config",
        &from,
    ]));
    assert!(
        stdout(&out).contains("removed lock \"big\""),
        "{}",
        text(&out)
    );
    let out = stateplug(&["state", "force-unlock", "big", "--config", &from]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // Meanwhile the source changes: copied keys deleted, one changed, one added.
    for key in ["key/000000", "key/000001", "key/019999"] {
        ok(stateplug(&[
            "state", "delete", "big", key, "--config", &from,
        ]));
    }
    ok(stateplug(&[
        "state",
        "put",
        "big",
        "key/000002",
        "changed",
        "--config",
        &from,
    ]));
    ok(stateplug(&[
        "state", "put", "big", "new", "added", "--config", &from,
    ]));

    let out = ok(stateplug(&[
        "state", "migrate", "--from", &from, "--to", &to, "--json",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["stores"][0]["store"], "big");
    assert!(
        report["stores"][0]["deleted"].as_u64().unwrap() >= 2,
        "{report}"
    );
    assert!(
        report["stores"][0]["unchanged"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert_eq!(report["stores"][1]["target_keys"], 1);

    block_on(async {
        let source = open_redb(&source_file);
        let target = open_redb(&dir.path().join("to.redb"));
        for store in ["big", "small"] {
            assert_eq!(
                content(&target, store).await,
                content(&source, store).await,
                "{store}"
            );
        }
        assert!(stateplug::ops::list_locks(&target)
            .await
            .unwrap()
            .is_empty());
        assert!(stateplug::ops::list_locks(&source)
            .await
            .unwrap()
            .is_empty());
    });

    // Human output.
    let out = ok(stateplug(&[
        "state", "migrate", "--from", &from, "--to", &to, "--store", "small",
    ]));
    assert!(
        stdout(&out).contains("every store verified equal"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("migrate: store small: 0 written"),
        "{}",
        text(&out)
    );
}

#[test]
fn migrate_refuses_reserved_stores_and_unknown_providers() {
    let dir = tempfile::tempdir().unwrap();
    let from = redb_pipeline(dir.path(), "from", "");
    let to = redb_pipeline(dir.path(), "to", "");
    let out = stateplug(&[
        "state", "migrate", "--from", &from, "--to", &to, "--store", "$locks",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("reserved"), "{}", text(&out));
    let out = stateplug(&[
        "state",
        "migrate",
        "--from",
        &from,
        "--to",
        &to,
        "--from-provider",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no provider named \"x\""),
        "{}",
        text(&out)
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn provider_list_shows_every_configured_provider_and_its_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "pipeline.toml",
        &format!(
            "[[providers]]\nname = \"durable\"\nlibrary = \"redb\"\nconfig = {{ path = {:?}, history_versions = 5 }}\n\n\
             [[providers]]\nname = \"scratch\"\nlibrary = \"memory\"\n\n\
             [[source]]\nid = \"numbers\"\nkind = \"generator\"\n\n\
             [[reaction]]\nid = \"counts\"\nkind = \"word-count\"\nsubscribe = [\"numbers\"]\nprovider = \"scratch\"\n",
            dir.path().join("state.redb")
        ),
    );
    let config = config.to_str().unwrap();
    let out = ok(stateplug(&["provider", "list", "--config", config]));
    let shown = stdout(&out);
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        shown.contains(&format!("durable (default)  redb {version}")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("scratch  memory {version}")),
        "{shown}"
    );
    assert!(
        shown.contains("plugins: numbers") && shown.contains("plugins: counts"),
        "{shown}"
    );
    assert!(
        !dir.path().join("state.redb").exists(),
        "listing opens nothing"
    );
    // Opening to see the instances' capabilities creates nothing either.
    let refused = stateplug(&["provider", "list", "--config", config, "--open"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("does not exist"),
        "{}",
        text(&refused)
    );
    assert!(
        !dir.path().join("state.redb").exists(),
        "--open created the file"
    );
    ok(stateplug(&[
        "state", "put", "s", "k", "v", "--config", config,
    ]));

    let out = ok(stateplug(&[
        "provider", "list", "--config", config, "--json", "--open",
    ]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["name"], "durable");
    assert_eq!(json[0]["default"], true);
    let caps = json[0]["capabilities"].as_array().unwrap();
    assert!(
        caps.contains(&serde_json::json!("history")),
        "the opened instance: {caps:?}"
    );
    assert!(caps.contains(&serde_json::json!("durable")));
    assert_eq!(json[1]["plugins"], serde_json::json!(["counts"]));

    let out = stateplug(&["provider", "list", "--config", "/nonexistent.toml"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Writes `keys` keys `key/000000…` of about 200 bytes into store `big` of
/// the redb file `path`, and one key into store `small`.
fn fill_big(path: &Path, keys: usize) {
    block_on(async {
        let store = open_redb(path);
        let value = vec![b'v'; 200];
        for chunk in (0..keys).collect::<Vec<_>>().chunks(5_000) {
            let entries = chunk
                .iter()
                .map(|i| {
                    (
                        format!("key/{i:06}"),
                        [format!("{i}:").as_bytes(), &value].concat(),
                    )
                })
                .collect();
            store.set_many("big", entries).await.unwrap();
        }
        store.set("small", "only", b"one".to_vec()).await.unwrap();
    });
}

#[test]
fn an_empty_redb_file_is_refused_as_damage_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = redb_pipeline(dir.path(), "state", "");
    let file = dir.path().join("state.redb");
    std::fs::write(&file, b"").unwrap();
    for args in [
        &["state", "stores", "--config", cfg.as_str()][..],
        &["state", "put", "s", "k", "v", "--config", cfg.as_str()][..],
    ] {
        let out = stateplug(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let shown = text(&out);
        for needle in [
            file.display().to_string().as_str(),
            "is empty (0 bytes)",
            "truncated or damaged",
            "initialise_empty_file = true",
        ] {
            assert!(shown.contains(needle), "{needle:?} in {shown}");
        }
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 0, "{args:?}");
    }
    // Asked for explicitly, the empty file becomes a new database.
    let init = serde_json::json!({ "path": file, "initialise_empty_file": true }).to_string();
    ok(stateplug(&[
        "state",
        "put",
        "s",
        "k",
        "v",
        "--library",
        "redb",
        "--provider-config",
        &init,
    ]));
    assert_eq!(
        stdout(&ok(stateplug(&[
            "state", "get", "s", "k", "--config", &cfg
        ]))),
        "v\n"
    );
}

#[test]
fn reserved_store_ids_are_refused_on_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = redb_pipeline(dir.path(), "state", "");
    let other = redb_pipeline(dir.path(), "other", "");
    ok(stateplug(&[
        "state", "put", "a", "k", "v", "--config", &cfg,
    ]));
    let why = "store ids beginning with $ are reserved for stateplug's own records (locks); pick another name";
    let dump = ok(stateplug(&["state", "dump", "--config", &cfg])).stdout;
    let forged =
        String::from_utf8(dump)
            .unwrap()
            .replacen("\"stores\":[\"a\"]", "\"stores\":[\"$foo\"]", 1);
    let forged_file = write(dir.path(), "forged.dump", &forged);
    let forged_path = forged_file.to_str().unwrap();
    for args in [
        &["put", "$foo", "k", "v"][..],
        &["put", "$locks", "a", "{}"][..],
        &["delete", "$foo", "k"][..],
        &["clear", "$foo", "--yes"][..],
        &["clear", "$foo"][..],
        &["restore", "--input", forged_path][..],
        &["migrate", "--from", &cfg, "--to", &other, "--store", "$foo"][..],
    ] {
        let mut all = vec!["state"];
        all.extend_from_slice(args);
        if args[0] != "migrate" {
            all.extend_from_slice(&["--config", &cfg]);
        }
        let out = stateplug(&all);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(why), "{args:?}: {}", text(&out));
    }
    block_on(async {
        let store = open_redb(&dir.path().join("state.redb"));
        assert!(!store.store_exists("$foo").await.unwrap());
        assert!(stateplug::ops::list_locks(&store).await.unwrap().is_empty());
    });
}

/// No byte of text output is a control character a terminal acts on.
fn assert_defused(output: &Output, what: &str) {
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        assert!(
            !bytes.iter().any(|b| matches!(b, 0x1b | 0x07 | 0x9b)),
            "{what}: raw control bytes on {name}: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn control_characters_are_escaped_in_text_and_kept_exact_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = redb_pipeline(dir.path(), "state", ", history_versions = 3");
    let to = redb_pipeline(dir.path(), "to", "");
    let key = "evil\x1b]0;pwned\x07\nsecond line\tend";
    let shown_key = "evil\\u{1b}]0;pwned\\u{7}\\nsecond line\\tend";
    let store = "st\x1b[31mre";
    let shown_store = "st\\u{1b}[31mre";
    let c = ["--config", cfg.as_str()];
    let run = |args: &[&str]| stateplug(&[&["state"], args, &c[..]].concat());

    let out = ok(run(&["put", store, key, "one\ntwo"]));
    assert_defused(&out, "put");
    ok(run(&["put", store, key, "\x1b[2Jthree"]));
    ok(run(&["put", store, "plain\\key", "\u{202e}txt.exe"]));

    let out = ok(run(&["keys", store]));
    assert_defused(&out, "keys");
    assert_eq!(
        stdout(&out),
        format!("{shown_key}\nplain\\\\key\n"),
        "one line per key"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&ok(run(&["keys", store, "--json"])).stdout).unwrap();
    assert_eq!(json[0]["key"], key, "JSON is exact");

    let out = ok(run(&["stores"]));
    assert_defused(&out, "stores");
    assert!(stdout(&out).contains(shown_store), "{}", stdout(&out));
    let json: serde_json::Value =
        serde_json::from_slice(&ok(run(&["stores", "--json"])).stdout).unwrap();
    assert_eq!(json[0]["store"], store);

    let out = ok(run(&["get", store, key]));
    assert_defused(&out, "get");
    assert_eq!(stdout(&out), "hex:1b5b324a7468726565\n");
    assert_eq!(
        ok(run(&["get", store, key, "--raw"])).stdout,
        b"\x1b[2Jthree"
    );
    let out = ok(run(&["get", store, "plain\\key"]));
    assert!(
        stdout(&out).starts_with("hex:"),
        "a bidi override is not shown as text: {}",
        stdout(&out)
    );

    let out = ok(run(&["history", store, key]));
    assert_defused(&out, "history");
    assert_eq!(
        stdout(&out).lines().count(),
        2,
        "one line per version: {}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("one\\ntwo"), "{}", stdout(&out));

    let out = run(&["get", store, "missing\x1b[2J"]);
    assert_eq!(out.status.code(), Some(1));
    assert_defused(&out, "an error quoting a key");

    // Lock records and progress lines.
    block_on(async {
        let store_ = open_redb(&dir.path().join("state.redb"));
        let locks = stateplug::ops::LockSet::acquire(
            &store_,
            &[store.to_string()],
            &stateplug::ops::LockRequest::new("test")
                .reason("\x1b]0;pwned\x07")
                .owner("mallory\x1b[8m"),
        )
        .await
        .unwrap();
        drop(locks);
    });
    let out = ok(run(&["lock", "list"]));
    assert_defused(&out, "lock list");
    assert!(
        stdout(&out).contains("reason: \\u{1b}]0;pwned\\u{7}"),
        "{}",
        stdout(&out)
    );
    let out = run(&["clear", store, "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_defused(&out, "the locked error");
    ok(run(&["force-unlock", store]));
    let out = ok(stateplug(&[
        "state",
        "migrate",
        "--from",
        &cfg,
        "--to",
        &to,
        "--progress-interval-ms",
        "0",
    ]));
    assert_defused(&out, "migrate");
    assert!(
        text(&out).contains(&format!("migrate: store {shown_store}")),
        "{}",
        text(&out)
    );
}

#[test]
fn migrate_onto_its_own_file_says_so_and_its_help_lists_only_its_options() {
    let dir = tempfile::tempdir().unwrap();
    let from = redb_pipeline(dir.path(), "from", "");
    ok(stateplug(&[
        "state", "put", "s", "k", "v", "--config", &from,
    ]));
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(dir.path(), &link).unwrap();
    let same = write(
        dir.path(),
        "same.toml",
        &format!(
            "[provider]\nlibrary = \"redb\"\nconfig = {{ path = {:?}, history_versions = 2 }}\n",
            link.join(".").join("from.redb")
        ),
    );
    let out = stateplug(&[
        "state",
        "migrate",
        "--from",
        &from,
        "--to",
        same.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("source and target are the same"), "{shown}");
    assert!(!shown.contains("in use"), "{shown}");
    let canonical = dir.path().canonicalize().unwrap().join("from.redb");
    assert!(shown.contains(&canonical.display().to_string()), "{shown}");

    let help = stdout(&ok(stateplug(&["state", "migrate", "--help"])));
    for used in [
        "--from",
        "--to",
        "--from-provider",
        "--to-provider",
        "--store",
        "--batch",
        "--reason",
        "--progress-interval-ms",
        "--json",
    ] {
        assert!(help.contains(used), "{used} in {help}");
    }
    for ignored in ["--config", "--library", "--provider-config", "--provider "] {
        assert!(!help.contains(ignored), "{ignored:?} is not listed: {help}");
    }
    let out = stateplug(&[
        "state", "migrate", "--from", &from, "--to", &from, "--config", &from,
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an option migrate ignores is refused: {}",
        text(&out)
    );
    let help = stdout(&ok(stateplug(&["state", "keys", "--help"])));
    assert!(
        help.contains("--config") && help.contains("--library"),
        "{help}"
    );
}

#[test]
fn dump_to_a_folder_is_refused_and_no_partial_file_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = redb_pipeline(dir.path(), "state", "");
    ok(stateplug(&[
        "state", "put", "s", "k", "v", "--config", &cfg,
    ]));
    let folder = dir.path().join("backups");
    std::fs::create_dir(&folder).unwrap();
    let out = stateplug(&[
        "state",
        "dump",
        "-o",
        folder.to_str().unwrap(),
        "--config",
        &cfg,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("is a folder; give the dump file's name"),
        "{}",
        text(&out)
    );
    // A dump that fails once its file was created leaves nothing either.
    let file = dir.path().join("x.dump");
    let out = stateplug(&[
        "state",
        "dump",
        "-o",
        file.to_str().unwrap(),
        "--store",
        "$locks",
        "--config",
        &cfg,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial") || n.ends_with(".dump"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
}

#[test]
fn dump_and_restore_show_progress() {
    let dir = tempfile::tempdir().unwrap();
    let src = redb_pipeline(dir.path(), "src", "");
    let dst = redb_pipeline(dir.path(), "dst", "");
    fill_big(&dir.path().join("src.redb"), 2_000);
    let file = dir.path().join("big.dump");
    let out = ok(stateplug(&[
        "state",
        "dump",
        "-o",
        file.to_str().unwrap(),
        "--progress-interval-ms",
        "0",
        "--config",
        &src,
    ]));
    let shown = text(&out);
    for needle in [
        "dump: 2 stores, 2001 keys",
        "dump: store big",
        "dump: 1000/2001 keys",
        "dump: 2001/2001 keys",
    ] {
        assert!(shown.contains(needle), "{needle:?} in {shown}");
    }
    let out = ok(stateplug(&[
        "state",
        "restore",
        "-i",
        file.to_str().unwrap(),
        "--batch",
        "500",
        "--progress-interval-ms",
        "0",
        "--config",
        &dst,
    ]));
    let shown = text(&out);
    for needle in [
        "restore: 2 stores, 2001 keys",
        "restore: store big",
        "restore: 1500/2001 keys",
        "restore: 2001/2001 keys",
    ] {
        assert!(shown.contains(needle), "{needle:?} in {shown}");
    }
}

type Lines = std::io::Lines<BufReader<std::process::ChildStderr>>;

/// Starts `stateplug state <args>` printing a progress line every batch,
/// with its standard error piped.
fn start(args: &[&str]) -> (std::process::Child, Lines) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stateplug"))
        .arg("state")
        .args(args)
        .args(["--progress-interval-ms", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    (child, lines)
}

/// Reads `lines` until one satisfies `wanted`; returns every line read.
fn read_until(lines: &mut Lines, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("ended before the line awaited: {seen:?}"))
            .unwrap();
        seen.push(line.clone());
        if wanted(&line) {
            return seen;
        }
    }
}

/// Whether `line` is a progress line of `operation` counting at least `keys`.
fn progressed(line: &str, operation: &str, keys: u64) -> bool {
    line.strip_prefix(&format!("{operation}: "))
        .and_then(|l| l.split('/').next())
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n >= keys)
}

fn send(signal: &str, child: &std::process::Child) {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

fn assert_no_locks(configs: &[&str]) {
    for cfg in configs {
        let out = ok(stateplug(&[
            "state", "lock", "list", "--json", "--config", cfg,
        ]));
        assert_eq!(stdout(&out).trim(), "[]", "{cfg}");
    }
}

/// Ctrl-C during a migration: it stops at a batch boundary, releases its
/// locks in both providers, says what it did, exits 130; run again, it
/// finishes and verifies.
#[test]
fn ctrl_c_stops_a_migration_which_releases_its_locks_and_resumes() {
    const KEYS: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let from = redb_pipeline(dir.path(), "from", "");
    let to = redb_pipeline(dir.path(), "to", "");
    fill_big(&dir.path().join("from.redb"), KEYS);

    let (mut child, mut lines) = start(&["migrate", "--from", &from, "--to", &to, "--batch", "50"]);
    read_until(&mut lines, |l| progressed(l, "migrate", 1_000));
    send("INT", &child);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    let shown = rest.join("\n");
    for needle in [
        "SIGINT (Ctrl-C): stopping migrate at the next batch boundary and releasing its locks",
        "error: SIGINT (Ctrl-C): migrate stopped on request: store \"big\" is partly copied",
        "1 of 2 stores not started; the locks are released",
        "Run the same migrate again: it resumes",
    ] {
        assert!(shown.contains(needle), "{needle:?} in {shown}");
    }
    let copied = block_on(async {
        open_redb(&dir.path().join("to.redb"))
            .key_count("big")
            .await
            .unwrap()
    });
    assert!(copied < KEYS as u64, "stopped half way: {copied}");
    assert_no_locks(&[&from, &to]);

    let out = ok(stateplug(&[
        "state", "migrate", "--from", &from, "--to", &to, "--json",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["stores"][0]["unchanged"], copied, "{report}");
}

/// SIGTERM during a restore: it stops at a batch boundary, releases its
/// locks, exits 143; run again, it restores the stores whole.
#[test]
fn sigterm_stops_a_restore_which_releases_its_locks_and_finishes_when_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let src = redb_pipeline(dir.path(), "src", "");
    let dst = redb_pipeline(dir.path(), "dst", "");
    fill_big(&dir.path().join("src.redb"), 20_000);
    let file = dir.path().join("big.dump");
    ok(stateplug(&[
        "state",
        "dump",
        "-o",
        file.to_str().unwrap(),
        "--config",
        &src,
    ]));

    let input = file.to_str().unwrap();
    let (mut child, mut lines) =
        start(&["restore", "-i", input, "--batch", "50", "--config", &dst]);
    read_until(&mut lines, |l| progressed(l, "restore", 1_000));
    send("TERM", &child);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{rest:?}");
    let shown = rest.join("\n");
    for needle in [
        "SIGTERM: stopping restore at the next batch boundary",
        "error: SIGTERM: restore stopped on request: ",
        "of 20001 entries were written: stores \"big\", \"small\" are partly restored",
        "Run the same restore again",
    ] {
        assert!(shown.contains(needle), "{needle:?} in {shown}");
    }
    assert_no_locks(&[&dst]);

    ok(stateplug(&[
        "state", "restore", "-i", input, "--config", &dst,
    ]));
    block_on(async {
        let source = open_redb(&dir.path().join("src.redb"));
        let target = open_redb(&dir.path().join("dst.redb"));
        for store in ["big", "small"] {
            assert_eq!(
                content(&target, store).await,
                content(&source, store).await,
                "{store}"
            );
        }
    });
}

/// Ctrl-C during a dump to standard output: it stops after a page, exits
/// 130, and what it wrote has no trailer, so a restore refuses it.
#[test]
fn ctrl_c_stops_a_dump_whose_output_restore_then_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let src = redb_pipeline(dir.path(), "src", "");
    let dst = redb_pipeline(dir.path(), "dst", "");
    fill_big(&dir.path().join("src.redb"), 20_000);
    // Standard output is not read yet, so the dump waits on the full pipe
    // inside its first page, far from its end, until the signal is in.
    let (mut child, mut lines) = start(&["dump", "--config", &src]);
    read_until(&mut lines, |l| l == "dump: store big");
    send("INT", &child);
    read_until(&mut lines, |l| {
        l.contains("stopping dump at the next batch boundary")
    });
    let mut written = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut written).unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(
        rest.join("\n")
            .contains("dump stopped on request: 500 entries were written"),
        "{rest:?}"
    );
    let out = stateplug_with_input(&["state", "restore", "--config", &dst], Some(&written));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("truncated"), "{}", text(&out));
}

/// A read-only command on a mistyped path creates nothing and says the file
/// does not exist: a typo must not look like an empty store (or data loss).
#[test]
fn read_only_commands_create_nothing_and_say_the_file_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("no-such-folder").join("state.redb");
    let config = serde_json::json!({ "path": typo }).to_string();
    for command in [
        &["stores"][..],
        &["keys", "s"][..],
        &["get", "s", "k"][..],
        &["dump"][..],
        &["history", "s", "k"][..],
        &["lock", "list"][..],
    ] {
        let mut args = vec!["state"];
        args.extend_from_slice(command);
        args.extend_from_slice(&["--library", "redb", "--provider-config", &config]);
        let out = stateplug(&args);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {}", text(&out));
        let shown = text(&out);
        assert!(
            shown.contains("does not exist") && shown.contains(&typo.display().to_string()),
            "{command:?}: {shown}"
        );
        assert!(
            !typo.parent().unwrap().exists(),
            "{command:?} created {}",
            typo.parent().unwrap().display()
        );
    }
    // A write creates the file (and its folder), as before.
    ok(stateplug(&[
        "state",
        "put",
        "s",
        "k",
        "v",
        "--library",
        "redb",
        "--provider-config",
        &config,
    ]));
    assert!(typo.is_file());
}

#[test]
fn owners_lists_the_host_instance_that_runs_each_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = redb_pipeline(dir.path(), "owned", "");
    block_on(async {
        let store = open_redb(&dir.path().join("owned.redb"));
        for name in ["host-a", "host-b"] {
            let mut running = stateplug::Host::builder()
                .provider_store(Arc::clone(&store))
                .host_name(name)
                .source(stateplug_plugins_example::Generator::new("numbers").count(5))
                .reaction(stateplug_plugins_example::WordCount::new(
                    "counts",
                    &["numbers"],
                ))
                .build()
                .unwrap()
                .start()
                .await
                .unwrap();
            running.wait().await;
            running.stop().await.unwrap();
        }
    });
    let out = ok(stateplug(&["state", "owners", "--config", &cfg]));
    let pid = std::process::id();
    for plugin in ["counts", "numbers"] {
        let line = stdout(&out)
            .lines()
            .find(|l| l.starts_with(plugin))
            .map(str::to_string);
        let line = line.unwrap_or_else(|| panic!("no line for {plugin}: {}", text(&out)));
        assert!(
            line.contains(&format!("owned by host-b pid {pid} at ")) && line.ends_with("(epoch 2)"),
            "{line}"
        );
    }
    let out = ok(stateplug(&["state", "owners", "--json", "--config", &cfg]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{json}");
    for row in rows {
        assert_eq!(row["host"], "host-b");
        assert_eq!(row["pid"], pid);
        assert_eq!(row["epoch"], 2);
        assert!(row["since_ms"].as_u64().unwrap() > 0);
    }
}

/// `state put --ttl` stores the key with its expiry (a store opened on a
/// clock moved past it no longer finds it); a bad duration is a usage
/// error naming the form to write.
#[test]
fn put_with_ttl_stores_an_expiring_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = redb_pipeline(dir.path(), "state", "");
    let c = ["--config", cfg.as_str()];
    let run = |args: &[&str]| stateplug(&[&["state"], args, &c[..]].concat());

    let out = ok(run(&["put", "s", "k", "v", "--ttl", "10m"]));
    assert!(stdout(&out).contains("expires in 10m"), "{}", text(&out));
    ok(run(&["put", "s", "kept", "v"]));
    let out = ok(run(&["put", "s", "j", "v", "--ttl", "1h30m", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ttl_ms"], 5_400_000);
    for bad in ["10x", "0s", "ten"] {
        let out = run(&["put", "s", "k", "v", "--ttl", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        assert!(text(&out).contains("--ttl"), "{bad}: {}", text(&out));
    }

    let clock = stateplug::Clock::system();
    let store = ProviderLibrary::load(built_library("stateplug-provider-redb"))
        .unwrap()
        .open_with_clock(
            &serde_json::json!({ "path": dir.path().join("state.redb") }),
            &stateplug::OpenOptions::default(),
            &clock,
        )
        .unwrap();
    block_on(async {
        assert_eq!(store.key_count("s").await.unwrap(), 3);
        clock.advance(std::time::Duration::from_secs(11 * 60));
        assert_eq!(store.list_keys("s").await.unwrap(), ["j", "kept"]);
        clock.advance(std::time::Duration::from_secs(2 * 3_600));
        assert_eq!(store.list_keys("s").await.unwrap(), ["kept"]);
    });
}
