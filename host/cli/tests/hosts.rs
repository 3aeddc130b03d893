//! Exactly-once across host processes: three pipelines on one PostgreSQL
//! schema, each run by `stateplug run` processes that act as hosts `host-a`,
//! `host-b` and `host-c`. Every pipeline is moved to another host while its
//! old host still runs (a rolling restart), hosts are SIGKILLed and started
//! again elsewhere, and backend connections are terminated at random. Every
//! superseded process must exit with code 3 saying it was taken over (or,
//! for the file pipeline, which has an end, finish before the new process
//! takes over: a slow start of the new one leaves it nothing to fence); at
//! the end every count is exact.
//!
//! Needs `STATEPLUG_TEST_POSTGRES_URL` (`.ci/run` sets it); without it the
//! test prints one skip line. `STATEPLUG_TEST_HOST_MOVES` sets the number of
//! moves and kills (default 8; a long run uses hundreds).
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use rand::Rng;
use stateplug::{
    runtime::{OwnerRecord, OWNER_KEY},
    ProviderLibrary, Scan, StateStore,
};
use stateplug_plugins_example::{count_words, line_for, COUNT_PREFIX};

const HOSTS: [&str; 3] = ["host-a", "host-b", "host-c"];
/// Lines each generator pipeline emits per move, at `RATE` per second:
/// enough that a pipeline is still running when it is moved.
const LINES_PER_MOVE: u64 = 6_000;
const RATE: u64 = 2_000;
/// Lines of the file pipeline. Its word count takes one line at a time and
/// commits at most 16 together (those that came during the commit before),
/// so the file takes at least 500 commits: it is still running when it is
/// moved, a few hundred milliseconds after it started.
const FILE_LINES: usize = 8_000;
/// Exit code of a `stateplug run` whose plugins were taken over.
const FENCED: i32 = 3;
/// Exit code of a run stopped by a temporary failure (a supervisor restarts it).
const TEMPORARY: i32 = 75;

fn moves() -> usize {
    std::env::var("STATEPLUG_TEST_HOST_MOVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

/// One pipeline of the test: its configuration and the process running it.
struct Pipeline {
    name: String,
    config: PathBuf,
    log_dir: PathBuf,
    running: Option<Instance>,
    /// Processes this pipeline was moved away from, still to be seen fenced.
    superseded: Vec<Instance>,
    started: usize,
    /// Whether the pipeline runs to an end (the file pipeline): then a
    /// process moved away from it may finish its work before the new one
    /// takes over, and exits cleanly instead of fenced.
    finite: bool,
    /// The stores of its source and its reaction, which hold their owner records.
    plugins: [String; 2],
}

struct Instance {
    child: Child,
    host: &'static str,
    log: PathBuf,
}

impl Instance {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Pipeline {
    fn start(&mut self, host: &'static str) {
        self.started += 1;
        let log = self
            .log_dir
            .join(format!("{}-{}-{host}.log", self.name, self.started));
        let child = Command::new(env!("CARGO_BIN_EXE_stateplug"))
            .arg("run")
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .env("STATEPLUG_HOST_NAME", host)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start stateplug run");
        self.running = Some(Instance { child, host, log });
    }

    fn other_host(&self, rng: &mut impl Rng) -> &'static str {
        let current = self.running.as_ref().map(|i| i.host);
        loop {
            let host = HOSTS[rng.random_range(0..HOSTS.len())];
            if Some(host) != current {
                return host;
            }
        }
    }

    /// A rolling move: the pipeline starts on another host while the old
    /// one still runs; the old one must notice and stop.
    fn move_to_another_host(&mut self, rng: &mut impl Rng) {
        let host = self.other_host(rng);
        let old = self.running.take();
        self.start(host);
        self.superseded.extend(old);
    }

    /// A crash: the running host is SIGKILLed and started elsewhere.
    fn kill_and_restart(&mut self, rng: &mut impl Rng) {
        let host = self.other_host(rng);
        if let Some(mut old) = self.running.take() {
            let _ = old.child.kill();
            let _ = old.child.wait();
        }
        self.start(host);
    }

    /// Restarts the running instance if a temporary failure stopped it (as
    /// a supervisor does on exit code 75); fails on any other failure. True
    /// once the pipeline has run to its end.
    fn supervise(&mut self) -> bool {
        let Some(instance) = self.running.as_mut() else {
            return true;
        };
        let Some(status) = instance.child.try_wait().unwrap() else {
            return false;
        };
        if status.code() == Some(TEMPORARY) {
            let host = instance.host;
            self.start(host);
            return false;
        }
        assert!(
            status.success(),
            "pipeline {} on {} failed: {status}; its log:\n{}",
            self.name,
            instance.host,
            instance.log_text()
        );
        self.running = None;
        true
    }

    /// Waits until the running instance owns both plugins (its process
    /// wrote their owner records), restarting it after a temporary failure,
    /// so that a move or kill hits a host that runs the pipeline rather
    /// than one still starting: a process started earlier but slower to
    /// take over would otherwise take over from the one started after it.
    /// False if the pipeline ran to its end meanwhile.
    async fn wait_until_owned(&mut self, owners: &Arc<dyn StateStore>) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.supervise() {
                return false;
            }
            let pid = self.running.as_ref().map(|i| i.child.id());
            let mut owned = true;
            for store in &self.plugins {
                let record = owners.get(store, OWNER_KEY).await.ok().flatten();
                let owner = record.as_deref().and_then(OwnerRecord::parse);
                owned &= owner.map(|o| o.pid) == pid;
            }
            if owned {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "pipeline {} did not take over its plugins",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every superseded instance exited with code 3 and said who took over,
    /// or (a finite pipeline only) ran to its end before the new instance
    /// took over. Returns how many were fenced and how many finished first.
    fn check_superseded(&mut self, deadline: Instant) -> (usize, usize) {
        let mut finished = 0;
        for old in &mut self.superseded {
            let status = loop {
                if let Some(status) = old.child.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = old.child.kill();
                    panic!(
                        "pipeline {}: the instance on {} went on running after it was moved; its log:\n{}",
                        self.name,
                        old.host,
                        old.log_text()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            let log = old.log_text();
            // A takeover after the old instance's last commit leaves it
            // nothing to be fenced on; the exact counts at the end show
            // that no line was counted by both.
            if self.finite && status.success() {
                finished += 1;
                continue;
            }
            assert_eq!(
                status.code(),
                Some(FENCED),
                "pipeline {}: the superseded instance on {} exited with {status}, not as fenced; its log:\n{log}",
                self.name,
                old.host
            );
            assert!(
                log.contains("was taken over by"),
                "pipeline {}: the instance on {} does not say it was taken over:\n{log}",
                self.name,
                old.host
            );
        }
        (self.superseded.len() - finished, finished)
    }
}

fn provider_config(url: &str, schema: &str) -> String {
    format!("config = {{ url = \"{url}\", schema = \"{schema}\" }}")
}

fn generator_config(url: &str, schema: &str, n: usize, lines: u64) -> String {
    format!(
        r#"
[provider]
library = "postgres"
{provider}

[host]
checkpoint_interval_ms = 20

[[source]]
id = "numbers{n}"
kind = "generator"
settings = {{ rate_per_sec = {RATE}, count = {lines} }}

[[reaction]]
id = "counts{n}"
kind = "word-count"
subscribe = ["numbers{n}"]
settings = {{ batch = 25 }}
"#,
        provider = provider_config(url, schema),
    )
}

fn file_config(url: &str, schema: &str, input: &Path) -> String {
    format!(
        r#"
[provider]
library = "postgres"
{provider}

[host]
checkpoint_interval_ms = 20

[[source]]
id = "file"
kind = "file-tail"
settings = {{ path = "{input}", follow = false }}

[[reaction]]
id = "filecounts"
kind = "word-count"
subscribe = ["file"]
settings = {{ batch = 1 }}
"#,
        provider = provider_config(url, schema),
        input = input.display(),
    )
}

/// An administrative connection to the test server, on a thread of its own
/// (the synchronous client runs its own runtime).
fn admin<T: Send>(url: &str, f: impl FnOnce(&mut postgres::Client) -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| f(&mut postgres::Client::connect(url, postgres::NoTls).unwrap()))
            .join()
            .unwrap()
    })
}

/// Terminates the provider connections of `schema` of every host; returns how many.
fn terminate_backends(url: &str, schema: &str) -> i64 {
    admin(url, |client| {
        client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = $1",
                &[&format!("stateplug:{schema}.stateplug")],
            )
            .map(|row| row.get(0))
            .unwrap_or(0)
    })
}

/// The pipelines' schema, read through the postgres `.so`.
fn postgres_store(url: &str, schema: &str) -> Arc<dyn StateStore> {
    let library = ProviderLibrary::load(stateplug::conformance::built_library(
        "stateplug-provider-postgres",
    ))
    .unwrap();
    library
        .open(&serde_json::json!({ "url": url, "schema": schema }))
        .unwrap()
}

async fn stored_counts(url: &str, schema: &str, store: &str) -> BTreeMap<String, u64> {
    let provider = postgres_store(url, schema);
    let mut counts = BTreeMap::new();
    let mut scan = Scan::prefix(COUNT_PREFIX).limit(1000);
    loop {
        let page = provider.scan(store, &scan).await.unwrap();
        for row in page.entries {
            let word = row.key[COUNT_PREFIX.len()..].to_string();
            counts.insert(word, String::from_utf8(row.value).unwrap().parse().unwrap());
        }
        match page.next {
            Some(next) => scan = scan.after(next),
            None => return counts,
        }
    }
}

fn assert_counts(
    pipeline: &str,
    stored: &BTreeMap<String, u64>,
    lines: impl Iterator<Item = String>,
) {
    let mut expected = BTreeMap::new();
    for line in lines {
        count_words(&line, &mut expected);
    }
    assert_eq!(
        stored.len(),
        expected.len(),
        "{pipeline}: the same words are counted"
    );
    for (word, n) in &expected {
        assert_eq!(stored.get(word), Some(n), "{pipeline}: count of {word:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_moved_and_killed_across_host_processes_count_exactly_once() {
    let Some(url) = std::env::var("STATEPLUG_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("skipped: STATEPLUG_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = format!("sp_hosts_{:08x}", rand::rng().random::<u32>());
    let lines = LINES_PER_MOVE * (moves() as u64 + 2);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    let text: String = (0..FILE_LINES)
        .map(|i| format!("line {i} tells word{} about word{}\n", i % 13, i % 7))
        .collect();
    std::fs::write(&input, &text).unwrap();

    let mut pipelines: Vec<Pipeline> = (0..3)
        .map(|n| {
            let config = dir.path().join(format!("pipeline{n}.toml"));
            let body = if n == 2 {
                file_config(&url, &schema, &input)
            } else {
                generator_config(&url, &schema, n, lines)
            };
            std::fs::write(&config, body).unwrap();
            Pipeline {
                name: format!("pipeline{n}"),
                config,
                log_dir: dir.path().to_path_buf(),
                running: None,
                superseded: Vec::new(),
                started: 0,
                finite: n == 2,
                plugins: if n == 2 {
                    ["file".to_string(), "filecounts".to_string()]
                } else {
                    [format!("numbers{n}"), format!("counts{n}")]
                },
            }
        })
        .collect();
    let mut rng = rand::rng();
    for (n, pipeline) in pipelines.iter_mut().enumerate() {
        pipeline.start(HOSTS[n]);
    }

    // Backend connections die at random moments while the hosts run.
    let stop = Arc::new(AtomicBool::new(false));
    let terminated = Arc::new(AtomicU64::new(0));
    let killer = {
        let (stop, terminated, url, schema) = (
            stop.clone(),
            terminated.clone(),
            url.clone(),
            schema.clone(),
        );
        std::thread::spawn(move || {
            let mut rng = rand::rng();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(rng.random_range(200..900)));
                let n = terminate_backends(&url, &schema);
                terminated.fetch_add(n.max(0) as u64, Ordering::Relaxed);
            }
        })
    };

    let owners = postgres_store(&url, &schema);
    let (mut moved, mut killed) = (0, 0);
    let mut moves_of = [0u32; 3];
    let started = Instant::now();
    for step in 0..moves().max(3) {
        // The file pipeline, moved first, is moved soon after it started.
        let pause = if step == 0 { 200..600 } else { 600..1800 };
        std::thread::sleep(Duration::from_millis(rng.random_range(pause)));
        // The first three steps move each pipeline once (the file pipeline
        // first: it finishes quickly); then the generators are moved or
        // killed at random.
        let (target, is_move) = match step {
            0 => (2, true),
            1 | 2 => (step - 1, true),
            _ => (rng.random_range(0..2), rng.random_bool(0.6)),
        };
        let pipeline = &mut pipelines[target];
        if !pipeline.wait_until_owned(&owners).await {
            continue;
        }
        if is_move {
            pipeline.move_to_another_host(&mut rng);
            moved += 1;
            moves_of[target] += 1;
        } else {
            pipeline.kill_and_restart(&mut rng);
            killed += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    killer.join().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let (fenced, finished) = pipelines
        .iter_mut()
        .map(|p| p.check_superseded(deadline))
        .fold((0, 0), |(f, d), (fenced, done)| (f + fenced, d + done));
    assert_eq!(
        fenced + finished,
        moved,
        "every moved-away instance stopped as fenced, or ran to its end first"
    );
    assert!(
        moves_of.iter().all(|&n| n >= 1),
        "every pipeline was moved while it ran: {moves_of:?}"
    );

    // The current owners run to the end (restarted after temporary failures).
    let finish = Instant::now() + Duration::from_secs(180);
    for pipeline in &mut pipelines {
        while !pipeline.supervise() {
            assert!(
                Instant::now() < finish,
                "{} did not finish; its log:\n{}",
                pipeline.name,
                pipeline
                    .running
                    .as_ref()
                    .map(Instance::log_text)
                    .unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!(
        "hosts: {moved} moves ({fenced} fenced, {finished} ran to their end first), {killed} \
         SIGKILLs, {} backends terminated, {} generated lines per pipeline, {:.0} s",
        terminated.load(Ordering::Relaxed),
        lines,
        started.elapsed().as_secs_f64()
    );

    for n in 0..2 {
        let stored = stored_counts(&url, &schema, &format!("counts{n}")).await;
        assert_counts(&format!("pipeline{n}"), &stored, (1..=lines).map(line_for));
    }
    let stored = stored_counts(&url, &schema, "filecounts").await;
    assert_counts("pipeline2", &stored, text.lines().map(str::to_string));

    let _ = admin(&url, |client| {
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
    });
}
