//! `stateplug state …` through the real command, on redb files (state
//! that persists between the processes each command runs in) and on the
//! memory provider (whose state lives inside one process: a command sees
//! an empty store, and says so). Library-level behaviour of the same
//! operations, memory included, is tested in `tests/tests/ops.rs`.

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
