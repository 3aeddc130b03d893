//! Crash durability: a writer process (host + redb `.so`) is killed with
//! SIGKILL at random moments and restarted; after every kill the file
//! opens, every acknowledged write is there, and no transaction is half
//! applied. `STATEPLUG_CRASH_CYCLES=500` runs a long campaign.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use rand::Rng;
use stateplug::{ProviderLibrary, Scan};

const DEFAULT_CYCLES: usize = 12;

/// Runs the writer from `first` (with `extra` arguments), kills it after
/// `after`, returns the lines it printed after `ack `.
fn run_and_kill_lines(
    library: &Path,
    db: &Path,
    first: u64,
    extra: &[&str],
    after: Duration,
) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .arg(library)
        .arg(db)
        .arg(first.to_string())
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the writer");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(ack) = line.strip_prefix("ack ") {
                let _ = tx.send(ack.to_owned());
            }
        }
    });
    std::thread::sleep(after);
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    reader.join().expect("reader");
    assert!(
        status.code().is_none() || status.success(),
        "the writer failed on its own: {status}"
    );
    rx.try_iter().collect()
}

/// Runs the step writer from `first`, kills it after `after`, returns the acknowledged steps.
fn run_and_kill(library: &Path, db: &Path, first: u64, after: Duration) -> Vec<u64> {
    run_and_kill_lines(library, db, first, &[], after)
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Kill cycles per test: `STATEPLUG_CRASH_CYCLES`, or [`DEFAULT_CYCLES`].
fn crash_cycles() -> usize {
    std::env::var("STATEPLUG_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CYCLES)
}

/// Reads every key of the crash store.
async fn keys(library: &ProviderLibrary, db: &Path) -> (BTreeSet<String>, Option<u64>) {
    let store = library
        .open(&serde_json::json!({ "path": db }))
        .expect("the file opens after every kill");
    let mut all = BTreeSet::new();
    let mut scan = Scan::prefix("").limit(5_000);
    loop {
        let page = store.scan("crash", &scan).await.expect("scan");
        all.extend(page.entries.into_iter().map(|e| e.key));
        match page.next {
            Some(next) => scan = scan.after(next),
            None => break,
        }
    }
    let last = store
        .get("crash", "last")
        .await
        .expect("get")
        .map(|v| String::from_utf8(v).unwrap().parse().unwrap());
    (all, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_and_transactions_stay_whole() {
    let cycles = crash_cycles();
    let library_path = stateplug_tests::library_path("stateplug-provider-redb");
    let library = ProviderLibrary::load(&library_path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.redb");
    let mut rng = rand::rng();
    let mut acknowledged = BTreeSet::new();
    let mut next = 0;
    let mut mid_write_kills = 0;
    for cycle in 0..cycles {
        let acks = run_and_kill(
            &library_path,
            &db,
            next,
            Duration::from_millis(rng.random_range(1..200)),
        );
        acknowledged.extend(acks.iter().copied());
        let (keys, last) = keys(&library, &db).await;
        for n in &acknowledged {
            for key in [
                format!("t/{n:09}/a"),
                format!("t/{n:09}/b"),
                format!("s/{n:09}"),
            ] {
                assert!(
                    keys.contains(&key),
                    "cycle {cycle}: acknowledged step {n} lost {key}"
                );
            }
        }
        let steps: BTreeSet<u64> = keys
            .iter()
            .filter_map(|k| k.strip_prefix("t/"))
            .filter_map(|k| k[..9].parse().ok())
            .collect();
        for n in &steps {
            let (a, b) = (format!("t/{n:09}/a"), format!("t/{n:09}/b"));
            assert!(
                keys.contains(&a) && keys.contains(&b),
                "cycle {cycle}: transaction {n} is half applied"
            );
        }
        if let Some(max) = steps.iter().max() {
            assert_eq!(
                last,
                Some(*max),
                "cycle {cycle}: `last` belongs to the newest whole transaction"
            );
            if !acknowledged.contains(max) || !keys.contains(&format!("s/{max:09}")) {
                mid_write_kills += 1;
            }
        }
        next = steps.iter().max().map_or(0, |m| m + 1);
    }
    println!("{cycles} kill cycles, {} acknowledged steps, {mid_write_kills} kills between a commit and its acknowledgement", acknowledged.len());
    assert!(acknowledged.len() > cycles, "the writer made progress");
}

/// 32 tasks setting their own keys concurrently (the host groups their
/// writes into shared commits), killed at random moments: every
/// acknowledged set is there after each restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_acknowledged_sets_survive_sigkill() {
    let cycles = crash_cycles();
    let library_path = stateplug_tests::library_path("stateplug-provider-redb");
    let library = ProviderLibrary::load(&library_path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.redb");
    let mut rng = rand::rng();
    let mut acknowledged = BTreeSet::new();
    let mut next = 0u64;
    for cycle in 0..cycles {
        let lines = run_and_kill_lines(
            &library_path,
            &db,
            next,
            &["32"],
            Duration::from_millis(rng.random_range(1..200)),
        );
        for line in lines {
            let mut fields = line.split(' ');
            if let (Some("c"), Some(task), Some(n)) = (fields.next(), fields.next(), fields.next())
            {
                let (task, n): (usize, u64) = (task.parse().unwrap(), n.parse().unwrap());
                acknowledged.insert(format!("c/{task:03}/{n:09}"));
            }
        }
        let (keys, _) = keys(&library, &db).await;
        for key in &acknowledged {
            assert!(
                keys.contains(key),
                "cycle {cycle}: acknowledged set {key} lost"
            );
        }
        next = keys
            .iter()
            .filter_map(|k| k.rsplit('/').next()?.parse::<u64>().ok())
            .max()
            .map_or(next, |m| m + 1);
    }
    println!(
        "{cycles} kill cycles, {} acknowledged concurrent sets",
        acknowledged.len()
    );
    assert!(acknowledged.len() > cycles, "the writers made progress");
}
