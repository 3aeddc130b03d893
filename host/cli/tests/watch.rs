//! `stateplug state watch` as an operator meets it: started against a
//! PostgreSQL schema, it prints the changes another process commits, in
//! order, and stops on Ctrl-C with exit 130; on a provider without a change
//! feed it says why it cannot watch. The PostgreSQL case needs
//! `STATEPLUG_TEST_POSTGRES_URL` (`.ci/run` sets it); without it it prints
//! one skip line.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use rand::Rng;

fn stateplug() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stateplug"))
}

/// Runs `stateplug state <args> --library postgres --provider-config <config>`.
fn state(config: &str, args: &[&str]) {
    let out = stateplug()
        .arg("state")
        .args(args)
        .args(["--library", "postgres", "--provider-config", config])
        .output()
        .unwrap();
    assert!(out.status.success(), "state {args:?}: {out:?}");
}

#[test]
fn watch_prints_the_changes_another_process_commits_and_stops_on_ctrl_c() {
    let Some(url) = std::env::var("STATEPLUG_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: STATEPLUG_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = format!("sp_watch_{:08x}", rand::rng().random::<u32>());
    let config = serde_json::json!({ "url": url, "schema": schema }).to_string();
    // The tables exist once something was written; a watch only reads.
    state(&config, &["put", "orders", "seed", "0"]);

    let mut watch = stateplug()
        .args(["state", "--json", "watch", "orders", "--prefix", "o/"])
        .args(["--library", "postgres", "--provider-config", &config])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(watch.stderr.take().unwrap());
    let (notes_tx, notes) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let _ = notes_tx.send(line.unwrap());
        }
    });
    let started = notes.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(started.contains("watching store \"orders\""), "{started}");

    // Another process writes: two puts and a delete under the prefix, and
    // keys the watch must leave out (another prefix, another store).
    state(&config, &["put", "orders", "o/1", "first"]);
    state(&config, &["put", "orders", "skipped", "x"]);
    state(&config, &["put", "invoices", "o/1", "x"]);
    state(&config, &["put", "orders", "o/1", "second"]);
    state(&config, &["delete", "orders", "o/1"]);

    let stdout = BufReader::new(watch.stdout.take().unwrap());
    let (events_tx, events) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let _ = events_tx.send(line.unwrap());
        }
    });
    let mut seen = Vec::new();
    for _ in 0..3 {
        let line = events.recv_timeout(Duration::from_secs(30)).unwrap();
        seen.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
    }
    let kinds: Vec<&str> = seen.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "updated", "deleted"]);
    assert!(seen
        .iter()
        .all(|e| e["key"] == "o/1" && e["store_id"] == "orders"));
    let versions: Vec<u64> = seen
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert!(
        events.recv_timeout(Duration::from_millis(500)).is_err(),
        "only the watched keys are printed"
    );

    let interrupted = Command::new("kill")
        .args(["-INT", &watch.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = watch.wait().unwrap();
    assert_eq!(status.code(), Some(130), "Ctrl-C ends a watch with 130");
    let last = notes.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(last.contains("SIGINT: stopped watching"), "{last}");

    let _ = postgres::Client::connect(&url, postgres::NoTls)
        .and_then(|mut c| c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")));
}

#[test]
fn watch_on_a_provider_without_a_change_feed_says_why_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let config = serde_json::json!({ "path": path }).to_string();
    let put = stateplug()
        .args(["state", "put", "s", "k", "v"])
        .args(["--library", "redb", "--provider-config", &config])
        .output()
        .unwrap();
    assert!(put.status.success(), "{put:?}");
    let out = stateplug()
        .args(["state", "watch", "s"])
        .args(["--library", "redb", "--provider-config", &config])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("provider redb has no change feed"),
        "{stderr}"
    );
}
