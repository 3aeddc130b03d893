//! Crash safety of the main job: `stateplug run` is killed with SIGKILL at
//! random moments, again and again, then run to completion; the word counts
//! must equal the counts computed from the input: nothing counted twice,
//! nothing missed. `STATEPLUG_TEST_KILLS` sets the number of kills
//! (default 12); the generator's events grow with it, so that kills keep
//! hitting a running pipeline.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use rand::Rng;
use stateplug::{ProviderLibrary, Scan};
use stateplug_plugins_example::{count_words, line_for, COUNT_PREFIX};

/// Generated events per kill: 20,000 for the default 12 kills, about two
/// seconds of the generator's 10,000 a second.
const EVENTS_PER_KILL: u64 = 20_000 / 12;
const FILE_LINES: usize = 3_000;

fn kills() -> usize {
    std::env::var("STATEPLUG_TEST_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
        .max(1)
}

fn events() -> u64 {
    (EVENTS_PER_KILL * kills() as u64).max(20_000)
}

fn write_inputs(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let input = dir.join("input.txt");
    let text: String = (0..FILE_LINES)
        .map(|i| format!("line {i} says hello to word{} and word{}\n", i % 17, i % 5))
        .collect();
    std::fs::write(&input, text).unwrap();
    let config = dir.join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[provider]
library = "redb"
config = {{ path = "{db}" }}

[host]
checkpoint_interval_ms = 20

[[source]]
id = "numbers"
kind = "generator"
settings = {{ rate_per_sec = 10000, count = {events} }}

[[source]]
id = "file"
kind = "file-tail"
settings = {{ path = "{input}", follow = false }}

[[reaction]]
id = "counts"
kind = "word-count"
subscribe = ["numbers", "file"]
settings = {{ batch = 64 }}
"#,
            db = dir.join("state.redb").display(),
            input = input.display(),
            events = events(),
        ),
    )
    .unwrap();
    (input, config)
}

fn stateplug(config: &Path, log: &Path) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_stateplug"))
        .arg("run")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start stateplug")
}

fn expected_counts(input: &Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for n in 1..=events() {
        count_words(&line_for(n), &mut counts);
    }
    for line in std::fs::read_to_string(input).unwrap().lines() {
        count_words(line, &mut counts);
    }
    counts
}

async fn stored_counts(db_dir: &Path) -> (BTreeMap<String, u64>, Vec<(String, String)>) {
    let library = ProviderLibrary::load(stateplug::conformance::built_library(
        "stateplug-provider-redb",
    ))
    .unwrap();
    let store = library
        .open(&serde_json::json!({ "path": db_dir.join("state.redb") }))
        .unwrap();
    let mut counts = BTreeMap::new();
    let mut scan = Scan::prefix(COUNT_PREFIX).limit(1000);
    loop {
        let page = store.scan("counts", &scan).await.unwrap();
        for row in page.entries {
            let word = row.key.trim_start_matches(COUNT_PREFIX).to_string();
            counts.insert(word, String::from_utf8(row.value).unwrap().parse().unwrap());
        }
        match page.next {
            Some(next) => scan = scan.after(next),
            None => break,
        }
    }
    let mut checkpoints = Vec::new();
    for key in ["$checkpoint/numbers", "$checkpoint/file"] {
        let value = store.get("counts", key).await.unwrap().unwrap_or_default();
        checkpoints.push((key.to_string(), String::from_utf8(value).unwrap()));
    }
    (counts, checkpoints)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_exact_after_kill_9_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let (input, config) = write_inputs(dir.path());
    let log = dir.path().join("stateplug.log");
    let mut rng = rand::rng();
    let mut killed_mid_run = 0;
    let kills = kills();
    for _ in 0..kills {
        let mut child = stateplug(&config, &log);
        std::thread::sleep(Duration::from_millis(rng.random_range(40..250)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed_mid_run += 1;
        }
        let status = child.wait().unwrap();
        assert!(
            status.code().is_none() || status.success(),
            "stateplug failed on its own: {status}; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let mut last = stateplug(&config, &log);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = last.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the final run did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "the final run failed: {status}; log:\n{log_text}"
    );
    assert!(
        killed_mid_run >= kills / 2,
        "only {killed_mid_run} of {kills} kills hit a running pipeline"
    );

    let (counts, checkpoints) = stored_counts(dir.path()).await;
    let file_len = std::fs::metadata(&input).unwrap().len();
    assert_eq!(
        checkpoints,
        vec![
            ("$checkpoint/numbers".to_string(), events().to_string()),
            ("$checkpoint/file".to_string(), file_len.to_string())
        ]
    );
    let expected = expected_counts(&input);
    assert_eq!(counts.len(), expected.len(), "the same words are counted");
    for (word, n) in &expected {
        assert_eq!(
            counts.get(word),
            Some(n),
            "count of {word:?} after {killed_mid_run} kills"
        );
    }
    eprintln!(
        "kill: {killed_mid_run} of {kills} SIGKILLs hit a running pipeline; {} generated events and {FILE_LINES} file lines counted exactly",
        events()
    );
}
