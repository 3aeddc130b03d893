//! The host runtime: build-time checks, isolation between plugins, exact
//! counts, resume after a clean restart, bootstrap, failures and back-pressure.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
    time::Duration,
};

use async_trait::async_trait;
use stateplug::{
    BuildError, FailurePolicy, Host, HostError, PluginError, PluginResult, Reaction,
    ReactionContext, RunningHost, Scan, Source, SourceContext, StateStore,
};
use stateplug_plugins_example::{
    count_words, line_for, FileSnapshot, FileTail, Generator, WordCount, COUNT_PREFIX,
};

fn memory() -> Arc<dyn StateStore> {
    stateplug_tests::memory_so().0
}

fn redb_at(dir: &Path) -> Arc<dyn StateStore> {
    stateplug_tests::load("stateplug-provider-redb")
        .open(&stateplug_tests::redb_config(dir))
        .unwrap()
}

async fn counts(store: &Arc<dyn StateStore>, reaction: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut scan = Scan::prefix(COUNT_PREFIX).limit(1000);
    loop {
        let page = store.scan(reaction, &scan).await.unwrap();
        for row in page.entries {
            out.insert(
                row.key[COUNT_PREFIX.len()..].to_string(),
                String::from_utf8(row.value).unwrap().parse().unwrap(),
            );
        }
        match page.next {
            Some(next) => scan = scan.after(next),
            None => return out,
        }
    }
}

fn expected_for(numbers: u64, lines: &[&str]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for n in 1..=numbers {
        count_words(&line_for(n), &mut out);
    }
    for line in lines {
        count_words(line, &mut out);
    }
    out
}

async fn wait_until(running: &RunningHost, what: &str, done: impl Fn(&RunningHost) -> bool) {
    for _ in 0..400 {
        if done(running) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}: {:?}", running.report());
}

fn committed(running: &RunningHost, id: &str) -> u64 {
    running
        .report()
        .iter()
        .find(|p| p.id == id)
        .map_or(0, |p| p.events)
}

async fn checkpoint(store: &Arc<dyn StateStore>, store_id: &str, key: &str) -> Option<u64> {
    store
        .get(store_id, key)
        .await
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap().parse().unwrap())
}

#[test]
fn build_refuses_bad_configurations_before_anything_runs() {
    let err = Host::builder()
        .source(Generator::new("a"))
        .build()
        .err()
        .unwrap();
    assert!(matches!(err, BuildError::NoProvider), "{err}");

    let err = Host::builder()
        .provider_store(memory())
        .source(Generator::new("a").durable(false))
        .source(Generator::new("a").durable(false))
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(&err, BuildError::DuplicateId { id } if id == "a"),
        "{err}"
    );

    let err = Host::builder()
        .provider_store(memory())
        .source(Generator::new("a").durable(false))
        .reaction(WordCount::new("a", &["a"]).durable(false))
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(err, BuildError::DuplicateId { .. }),
        "sources and reactions share one id space: {err}"
    );

    let err = Host::builder()
        .provider_store(memory())
        .reaction(WordCount::new("r", &["nope"]).durable(false))
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(&err, BuildError::UnknownSource { source_id, .. } if source_id == "nope"),
        "{err}"
    );

    let err = Host::builder()
        .provider_store(memory())
        .source(Generator::new("g"))
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(&err, BuildError::NotDurable { plugin, provider } if plugin == "g" && provider == "memory"),
        "{err}"
    );
    assert!(
        err.to_string().contains("redb"),
        "the error suggests a durable provider: {err}"
    );

    let err = Host::builder()
        .provider_store(memory())
        .source(Generator::new("has space").durable(false))
        .build()
        .err()
        .unwrap();
    assert!(matches!(err, BuildError::InvalidId { .. }), "{err}");

    // `$` ids are stateplug's own (the locks): a plugin cannot have one,
    // and a scoped store cannot be made for one.
    let err = Host::builder()
        .provider_store(memory())
        .source(Generator::new("$locks").durable(false))
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(&err, BuildError::InvalidId { id, .. } if id == "$locks"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("store ids beginning with $ are reserved for stateplug's own records (locks); pick another name"),
        "{err}"
    );
    let err = stateplug::ScopedStore::new(memory(), "$mine").unwrap_err();
    assert_eq!(err.kind(), stateplug::ErrorKind::INVALID_ARGUMENT, "{err}");
    assert!(
        err.to_string()
            .contains("reserved for stateplug's own records"),
        "{err}"
    );
    assert!(stateplug::ScopedStore::new(memory(), "mine$").is_ok());

    let err = Host::builder()
        .provider_store(memory())
        .bootstrap(FileSnapshot::new("ghost", "/x"))
        .build()
        .err()
        .unwrap();
    assert!(matches!(err, BuildError::Bootstrap { .. }), "{err}");

    let err = Host::builder()
        .provider_library("/no/such/lib.so", serde_json::json!({}))
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("/no/such/lib.so"), "{err}");
}

/// A plugin that writes `k = <its id>` through its scoped store.
struct Marker(&'static str);

#[async_trait]
impl Source for Marker {
    fn id(&self) -> &str {
        self.0
    }
    async fn run(&self, ctx: SourceContext) -> PluginResult<()> {
        ctx.store().set("k", self.0.as_bytes().to_vec()).await?;
        ctx.store().set_json("../other/k", &"not a path").await?;
        let keys = ctx.store().list_keys().await?;
        assert_eq!(
            keys,
            ["../other/k", "k"],
            "a plugin lists only its own keys (the host's owner record of it left out)"
        );
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_plugin_sees_only_its_own_store() {
    let store = memory();
    let host = Host::builder()
        .provider_store(Arc::clone(&store))
        .source(Marker("one"))
        .source(Marker("other"))
        .build()
        .unwrap();
    let mut running = host.start().await.unwrap();
    running.wait().await;
    running.stop().await.unwrap();
    assert_eq!(store.get("one", "k").await.unwrap(), Some(b"one".to_vec()));
    assert_eq!(
        store.get("other", "k").await.unwrap(),
        Some(b"other".to_vec()),
        "same key, separate stores"
    );
    assert_eq!(
        store.get("other", "../other/k").await.unwrap(),
        Some(b"\"not a path\"".to_vec()),
        "keys are never paths to other stores"
    );
    assert_eq!(
        store.key_count("one").await.unwrap(),
        3,
        "k, ../other/k, $owner"
    );
}

/// Runs a generator of 3000 numbers into a word count taking `batch`
/// events at a time, on `provider`, until it ends by itself.
async fn count_3000_numbers(provider: Arc<dyn StateStore>, batch: usize) -> stateplug::RunReport {
    let host = Host::builder()
        .provider_store(provider)
        .source(Generator::new("numbers").count(3000).durable(false))
        .reaction(
            WordCount::new("counts", &["numbers"])
                .batch(batch)
                .durable(false),
        )
        .build()
        .unwrap();
    let mut running = host.start().await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), running.wait())
        .await
        .expect("the pipeline ends");
    running.stop().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finite_pipeline_counts_exactly_and_stops_by_itself() {
    let store = memory();
    let report = count_3000_numbers(Arc::clone(&store), 100).await;
    assert!(report.failures.is_empty());
    assert_eq!(counts(&store, "counts").await, expected_for(3000, &[]));
    assert_eq!(
        checkpoint(&store, "numbers", "$checkpoint").await,
        Some(3000),
        "the source's checkpoint is what was committed"
    );
    assert_eq!(
        checkpoint(&store, "counts", "$checkpoint/numbers").await,
        Some(3000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_come_while_a_commit_is_in_flight_go_into_the_next_commit() {
    use stateplug::{
        layers::{FaultLayer, Layered},
        store::Operation,
    };
    let store = memory();
    let faults = Arc::new(FaultLayer::new());
    // Every commit takes 20 ms, as on a slow disk.
    faults.delay_operation(Operation::Transaction, Duration::from_millis(20));
    let slow: Arc<dyn StateStore> = Arc::new(Layered::new(Arc::clone(&store), faults));
    let report = count_3000_numbers(slow, 20).await;
    let reaction = report.plugins.iter().find(|p| p.id == "counts").unwrap();
    assert_eq!(reaction.events, 3000);
    assert_eq!(counts(&store, "counts").await, expected_for(3000, &[]));
    assert_eq!(
        checkpoint(&store, "counts", "$checkpoint/numbers").await,
        Some(3000)
    );
    // 150 batches of 20, one commit each, would take 3 s of commits; the
    // events that came during each commit went into the next one (at most
    // 16 batches' worth each, so at least 10 commits).
    assert!(
        (10..=75).contains(&reaction.checkpoints),
        "{} commits for 150 batches",
        reaction.checkpoints
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_restart_resumes_exactly_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = redb_at(dir.path());
        let host = Host::builder()
            .provider_store(Arc::clone(&store))
            .source(Generator::new("numbers").rate(2000))
            .reaction(WordCount::new("counts", &["numbers"]).batch(50))
            .build()
            .unwrap();
        let running = host.start().await.unwrap();
        wait_until(&running, "some events are committed", |r| {
            committed(r, "counts") >= 200
        })
        .await;
        let report = running.stop().await.unwrap();
        let emitted = report
            .plugins
            .iter()
            .find(|p| p.id == "numbers")
            .unwrap()
            .events;
        let processed = report
            .plugins
            .iter()
            .find(|p| p.id == "counts")
            .unwrap()
            .events;
        assert_eq!(
            emitted, processed,
            "stop drains: every emitted event is committed"
        );
        assert_eq!(
            checkpoint(&store, "numbers", "$checkpoint").await,
            Some(emitted)
        );
    }
    let store = redb_at(dir.path());
    let host = Host::builder()
        .provider_store(Arc::clone(&store))
        .source(Generator::new("numbers").count(1500))
        .reaction(WordCount::new("counts", &["numbers"]).batch(50))
        .build()
        .unwrap();
    let mut running = host.start().await.unwrap();
    running.wait().await;
    running.stop().await.unwrap();
    assert_eq!(
        counts(&store, "counts").await,
        expected_for(1500, &[]),
        "no event counted twice or missed across the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_tail_follows_appends_and_resumes_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.txt");
    let append = |text: &str| {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    };
    append("alpha beta\nbeta gamma\n");
    let build = || {
        Host::builder()
            .provider_store(redb_at(dir.path()))
            .source(FileTail::new("file", &file).poll_every(Duration::from_millis(10)))
            .reaction(WordCount::new("counts", &["file"]))
            .build()
            .unwrap()
    };
    let running = build().start().await.unwrap();
    wait_until(&running, "two lines are committed", |r| {
        committed(r, "counts") == 2
    })
    .await;
    append("gamma delta\npartial");
    wait_until(&running, "the appended line is committed", |r| {
        committed(r, "counts") == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        committed(&running, "counts"),
        3,
        "a line without its newline waits"
    );
    let store = Arc::clone(running.store());
    running.stop().await.unwrap();
    let offset = "alpha beta\nbeta gamma\ngamma delta\n".len() as u64;
    assert_eq!(
        checkpoint(&store, "file", "$checkpoint").await,
        Some(offset),
        "the checkpoint is the byte offset after the last line"
    );
    drop(store);

    append(" line\nomega\n");
    let running = build().start().await.unwrap();
    wait_until(
        &running,
        "the lines appended while stopped are committed",
        |r| committed(r, "counts") == 2,
    )
    .await;
    let store = Arc::clone(running.store());
    running.stop().await.unwrap();
    let lines = [
        "alpha beta",
        "beta gamma",
        "gamma delta",
        "partial line",
        "omega",
    ];
    assert_eq!(counts(&store, "counts").await, expected_for(0, &lines));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_reaction_gets_the_bootstrap_snapshot_once_then_live_events() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.txt");
    std::fs::write(&file, "one two\ntwo three\n").unwrap();
    let store = redb_at(dir.path());
    let host = Host::builder()
        .provider_store(Arc::clone(&store))
        .source(FileTail::new("file", &file).stop_at_end())
        .reaction(WordCount::new("first", &["file"]))
        .build()
        .unwrap();
    let mut running = host.start().await.unwrap();
    running.wait().await;
    running.stop().await.unwrap();

    std::fs::write(&file, "one two\ntwo three\nthree four\n").unwrap();
    let start = |store: &Arc<dyn StateStore>| {
        Host::builder()
            .provider_store(Arc::clone(store))
            .source(FileTail::new("file", &file).stop_at_end())
            .reaction(WordCount::new("first", &["file"]))
            .reaction(WordCount::new("second", &["file"]))
            .bootstrap(FileSnapshot::new("file", &file))
            .build()
            .unwrap()
    };
    for _ in 0..2 {
        let mut running = start(&store).start().await.unwrap();
        running.wait().await;
        running.stop().await.unwrap();
    }
    let all = expected_for(0, &["one two", "two three", "three four"]);
    assert_eq!(
        counts(&store, "first").await,
        all,
        "the old reaction only gets the new line"
    );
    assert_eq!(
        counts(&store, "second").await,
        all,
        "the new reaction gets the snapshot once, and no line twice"
    );
}

/// A source that fails its first `failures` runs, then emits 1..=n and finishes.
struct Flaky {
    failures: u32,
    runs: AtomicU32,
    n: u64,
}

#[async_trait]
impl Source for Flaky {
    fn id(&self) -> &str {
        "flaky"
    }
    async fn run(&self, ctx: SourceContext) -> PluginResult<()> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        for i in ctx.resume_position() + 1..=self.n {
            ctx.emit(i, line_for(i).into_bytes()).await?;
            if run < self.failures && i == 100 * (u64::from(run) + 1) {
                return Err(PluginError::msg(format!("flaky failure {run}")));
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_source_resumes_without_duplicates() {
    let store = memory();
    let host = Host::builder()
        .provider_store(Arc::clone(&store))
        .source_with_policy(
            Flaky {
                failures: 2,
                runs: AtomicU32::new(0),
                n: 1000,
            },
            FailurePolicy::Restart {
                max_restarts: 3,
                backoff: Duration::from_millis(5),
            },
        )
        .reaction(WordCount::new("counts", &["flaky"]).batch(7).durable(false))
        .build()
        .unwrap();
    let mut running = host.start().await.unwrap();
    running.wait().await;
    running
        .stop()
        .await
        .expect("restarts within the policy are not failures");
    assert_eq!(counts(&store, "counts").await, expected_for(1000, &[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_stops_the_host_and_is_named() {
    let store = memory();
    let host = Host::builder()
        .provider_store(Arc::clone(&store))
        .source(Flaky {
            failures: 5,
            runs: AtomicU32::new(0),
            n: 1000,
        })
        .reaction(WordCount::new("counts", &["flaky"]).durable(false))
        .build()
        .unwrap();
    let mut running = host.start().await.unwrap();
    running.wait().await;
    let err = running.stop().await.unwrap_err();
    let HostError::PluginsFailed(failures) = &err else {
        panic!("{err}")
    };
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].id, "flaky");
    assert!(failures[0].message.contains("flaky failure 0"), "{err}");
    assert_eq!(
        checkpoint(&store, "counts", "$checkpoint/flaky").await,
        Some(100),
        "what was emitted before the failure was drained"
    );
}

/// A reaction that panics on its first batch.
struct Panicky;

#[async_trait]
impl Reaction for Panicky {
    fn id(&self) -> &str {
        "panicky"
    }
    fn subscriptions(&self) -> Vec<String> {
        vec!["numbers".into()]
    }
    async fn run(&self, ctx: ReactionContext) -> PluginResult<()> {
        let _ = ctx.next_batch(10).await;
        panic!("the reaction broke");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_reaction_is_reported_and_the_host_stops_cleanly() {
    let host = Host::builder()
        .provider_store(memory())
        .source(Generator::new("numbers").durable(false))
        .reaction(Panicky)
        .build()
        .unwrap();
    let mut running = host.start().await.unwrap();
    running.wait().await;
    let err = running.stop().await.unwrap_err();
    let HostError::PluginsFailed(failures) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        failures.len(),
        1,
        "the source that lost its reader is a consequence, not a failure: {failures:?}"
    );
    assert_eq!(failures[0].id, "panicky");
    assert!(
        failures[0].message.contains("panicked: the reaction broke"),
        "{err}"
    );
}

/// A reaction that takes 20 ms per batch.
struct Slow;

#[async_trait]
impl Reaction for Slow {
    fn id(&self) -> &str {
        "slow"
    }
    fn subscriptions(&self) -> Vec<String> {
        vec!["numbers".into()]
    }
    async fn run(&self, ctx: ReactionContext) -> PluginResult<()> {
        while let Some(batch) = ctx.next_batch(4).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
            ctx.commit(&batch, Vec::new()).await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reaction_holds_back_its_sources() {
    let host = Host::builder()
        .provider_store(memory())
        .channel_capacity(8)
        .source(Generator::new("numbers").durable(false))
        .reaction(Slow)
        .build()
        .unwrap();
    let running = host.start().await.unwrap();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let emitted = committed(&running, "numbers");
        let processed = committed(&running, "slow");
        assert!(
            emitted <= processed + 8 + 4 + 1,
            "emitted {emitted} while only {processed} were committed: no back-pressure"
        );
    }
    running.stop().await.unwrap();
}

/// A reaction that ignores the stop, and whose cleanup when it is dropped
/// (a connection it closes, say) takes 300 ms before it lets go of its store.
struct Stubborn;

/// Sleeps 300 ms when dropped.
struct SlowCleanup;

impl Drop for SlowCleanup {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[async_trait]
impl Reaction for Stubborn {
    fn id(&self) -> &str {
        "stubborn"
    }
    fn subscriptions(&self) -> Vec<String> {
        vec!["numbers".into()]
    }
    async fn run(&self, ctx: ReactionContext) -> PluginResult<()> {
        let _cleanup = SlowCleanup;
        ctx.store().set("seen", b"yes".to_vec()).await?;
        std::future::pending().await
    }
}

/// A host on a redb file in `dir` running [`Stubborn`], once it has written.
async fn start_stubborn(dir: &Path) -> RunningHost {
    let host = Host::builder()
        .provider_library(
            stateplug_tests::library_path("stateplug-provider-redb"),
            stateplug_tests::redb_config(dir),
        )
        .source(Generator::new("numbers").count(10).durable(false))
        .reaction(Stubborn)
        .stop_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let running = host.start().await.unwrap();
    while running
        .store()
        .get("stubborn", "seen")
        .await
        .unwrap()
        .is_none()
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaction_aborted_at_the_stop_timeout_has_let_go_of_the_file_when_stop_returns() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_stubborn(dir.path()).await;
    let err = running.stop().await.unwrap_err();
    let HostError::PluginsFailed(failures) = &err else {
        panic!("{err}")
    };
    assert!(
        failures
            .iter()
            .any(|f| f.id == "stubborn" && f.message.contains("did not stop within")),
        "{err}"
    );
    // The file is closed: it opens again at once, with what the reaction wrote.
    let store = redb_at(dir.path());
    assert!(store.get("stubborn", "seen").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_host_dropped_without_a_stop_aborts_its_plugins_and_lets_go_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    drop(start_stubborn(dir.path()).await);
    // The plugins are dropped on the runtime's workers, the slow cleanup
    // included; then nothing holds the file.
    let began = std::time::Instant::now();
    let library = stateplug_tests::load("stateplug-provider-redb");
    let store = loop {
        match library.open(&stateplug_tests::redb_config(dir.path())) {
            Ok(store) => break store,
            Err(e) => assert!(
                began.elapsed() < Duration::from_secs(10),
                "the file is still held 10 s after the drop: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(store.get("stubborn", "seen").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_reports_each_commit_as_one_batch_of_changes() {
    use stateplug::{layers::WatchEvent, ChangeKind};
    let host = Host::builder()
        .provider_store(memory())
        .source(Generator::new("numbers").count(200).durable(false))
        .reaction(
            WordCount::new("counts", &["numbers"])
                .batch(20)
                .durable(false),
        )
        .build()
        .unwrap();
    let mut watcher = host.watch("counts", COUNT_PREFIX);
    let mut running = host.start().await.unwrap();
    running.wait().await;
    let report = running.stop().await.unwrap();
    let commits = report
        .plugins
        .iter()
        .find(|p| p.id == "counts")
        .unwrap()
        .checkpoints;
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut batches = 0;
    while let Some(event) = watcher.try_next() {
        let WatchEvent::Changes(changes) = event else {
            panic!("no lag expected: {event:?}")
        };
        batches += 1;
        let version = changes[0].version;
        for change in &changes {
            assert_eq!(change.version, version, "one commit, one version");
            assert!(
                change.key.starts_with(COUNT_PREFIX),
                "the prefix filter holds: {change:?}"
            );
            let kind = if seen.contains_key(&change.key) {
                ChangeKind::Updated
            } else {
                ChangeKind::Created
            };
            assert_eq!(change.kind, kind, "{change:?}");
            seen.insert(change.key.clone(), version);
        }
    }
    assert!(commits > 0);
    assert_eq!(
        batches, commits,
        "every commit is reported, each as one batch"
    );
    let expected: Vec<String> = expected_for(200, &[])
        .keys()
        .map(|w| format!("{COUNT_PREFIX}{w}"))
        .collect();
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), expected);
}
