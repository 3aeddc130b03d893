//! End to end: the example pipeline, a file tail feeding a word count, on
//! one deterministic corpus, with its state in the redb `.so` (durable: the
//! reaction takes 256 lines at a time and commits durably, the lines that
//! came during one commit in the next) and in the memory `.so`. Built
//! through the host API from the example plugins' registry, as `stateplug
//! run` builds it from `examples/pipeline.toml`; it stops when the tail has
//! reached the end of the file and every line is committed. Every run
//! checks that each word was counted exactly.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use stateplug::{
    plugin::PluginRegistry, plugin::PluginSpec, FailurePolicy, Host, PluginKind, StateStore,
};
use stateplug_plugins_example::{count_words, line_for, COUNT_PREFIX};

use super::{
    multi_runtime,
    tally::{io_medians, median_of, ratio_of, Summary, Tally},
};
use crate::{
    commits,
    io::IoCounters,
    report::{at_least, IoRow, Report, Row},
    Sizes,
};

const SOURCE: &str = "lines";
const REACTION: &str = "word-count";
/// Events the reaction takes at a time, as in `examples/pipeline.toml`.
const BATCH: u64 = 256;

/// Where the pipeline keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The redb `.so`.
    Durable,
    /// The memory `.so`.
    Memory,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Durable => "redb .so via host",
            Side::Memory => "memory .so via host",
        }
    }
}

/// The corpus: `lines` lines of words (the example generator's lines, numbered from 1).
fn write_corpus(path: &Path, lines: u64) -> BTreeMap<String, u64> {
    let mut text = String::new();
    let mut counts = BTreeMap::new();
    for n in 1..=lines {
        let line = line_for(n);
        count_words(&line, &mut counts);
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(path, text).expect("write the corpus");
    counts
}

/// The counts the reaction committed, against the corpus's: `Err` names
/// the first difference.
async fn check_counts(
    store: &Arc<dyn StateStore>,
    expected: &BTreeMap<String, u64>,
) -> Result<(), String> {
    let keys: Vec<String> = store
        .list_keys(REACTION)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|k| k.starts_with(COUNT_PREFIX))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = store
        .get_many(REACTION, &refs)
        .await
        .map_err(|e| e.to_string())?;
    let mut counted = BTreeMap::new();
    for (key, value) in values {
        let word = key.trim_start_matches(COUNT_PREFIX).to_string();
        let count = std::str::from_utf8(&value)
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or_else(|| format!("{key} holds {value:?}, not a number"))?;
        counted.insert(word, count);
    }
    if let Some((word, want)) = expected.iter().find(|(w, c)| counted.get(*w) != Some(c)) {
        return Err(format!(
            "word {word:?}: the corpus has {want}, the pipeline counted {:?}",
            counted.get(word)
        ));
    }
    if let Some(word) = counted.keys().find(|w| !expected.contains_key(*w)) {
        return Err(format!(
            "the pipeline counted {word:?}, which is not in the corpus"
        ));
    }
    Ok(())
}

/// The pipeline built from the example plugins' registry, with its state on `side`.
fn pipeline(side: Side, corpus: &Path, state: &Path) -> Host {
    let (library, config) = match side {
        Side::Durable => (
            crate::library("redb"),
            serde_json::json!({ "path": state.join("e2e.redb") }),
        ),
        Side::Memory => (crate::library("memory"), serde_json::json!({})),
    };
    let durable = side == Side::Durable;
    let mut registry = PluginRegistry::new();
    stateplug_plugins_example::register(&mut registry);
    let source = registry.source_factory("file-tail").expect("file-tail")(&PluginSpec {
        id: SOURCE.into(),
        subscribe: Vec::new(),
        settings: serde_json::json!({ "path": corpus, "follow": false, "durable": durable }),
    })
    .expect("file-tail settings");
    let reaction = registry.reaction_factory("word-count").expect("word-count")(&PluginSpec {
        id: REACTION.into(),
        subscribe: vec![SOURCE.into()],
        settings: serde_json::json!({ "batch": BATCH, "durable": durable }),
    })
    .expect("word-count settings");
    Host::builder()
        .provider_library(library.path(), config)
        .shared_source(source, FailurePolicy::StopHost)
        .shared_reaction(reaction)
        .record_metrics(true)
        .build()
        .expect("build the pipeline")
}

/// Runs the pipeline on `corpus` until every line is committed; checks the
/// counts. Returns the time from start to a clean stop (the last commit and
/// the provider's sync included), the write counters and the durable commits meanwhile.
fn run_once(
    side: Side,
    corpus: &Path,
    lines: u64,
    expected: &BTreeMap<String, u64>,
) -> (Duration, IoCounters, u64) {
    let state = tempfile::tempdir().expect("temp dir");
    let host = pipeline(side, corpus, state.path());
    multi_runtime().block_on(async {
        let (io, commits) = (IoCounters::now(), commits::snapshot());
        let start = Instant::now();
        let mut running = host.start().await.expect("start");
        let store = Arc::clone(running.store());
        running.wait().await;
        let report = running.stop().await.expect("a clean run");
        let elapsed = start.elapsed();
        let io = IoCounters::now() - io;
        let commits = commits::snapshot() - commits;
        let events = report
            .plugins
            .iter()
            .find(|p| p.kind == PluginKind::Reaction)
            .map_or(0, |p| p.events);
        assert_eq!(
            events,
            lines,
            "{}: the word count took {events} of {lines} lines",
            side.name()
        );
        if let Err(wrong) = check_counts(&store, expected).await {
            panic!("{}: miscounted: {wrong}", side.name());
        }
        (elapsed, io, commits)
    })
}

/// The end-to-end rows.
pub fn run(sizes: &Sizes) -> Report {
    let lines = sizes.e2e_lines;
    let dir = tempfile::tempdir().expect("temp dir");
    let corpus: PathBuf = dir.path().join("corpus.txt");
    let expected = write_corpus(&corpus, lines);
    let sides = [Side::Durable, Side::Memory];
    let mut runs: Vec<Vec<Summary>> = vec![Vec::new(), Vec::new()];
    for run in 0..sizes.runs {
        // Each run in the other order than the last.
        for turn in 0..sides.len() {
            let s = (run + turn) % sides.len();
            let (elapsed, io, commits) = run_once(sides[s], &corpus, lines, &expected);
            let mut tally = Tally::default();
            tally.add([elapsed], elapsed, io, commits, lines);
            runs[s].push(tally.summary(None));
        }
    }
    let (durable, memory) = (&runs[0], &runs[1]);
    let rate = |r: &[Summary]| median_of(r, |s| s.ops_per_sec);
    let ratio = ratio_of(durable, memory, |s| s.ops_per_sec);
    let rows = vec![Row {
        scenario: "end to end: file-tail -> word-count".into(),
        metric: "events/s".into(),
        baseline: (Side::Memory.name().into(), rate(memory)),
        candidate: (Side::Durable.name().into(), rate(durable)),
        ratio,
        target: at_least(ratio, 0.8),
        note: format!(
            "{lines} lines, taken {BATCH} at a time, one commit in flight; from start to a clean stop; every word's count checked exact"
        ),
    }];
    let io = sides
        .iter()
        .zip(&runs)
        .map(|(side, runs)| {
            let (writes_per_sync, per_write) = io_medians(runs);
            IoRow {
                scenario: "end to end (per event)".into(),
                contender: side.name().into(),
                time: format!("{:.0} events/s", rate(runs)),
                writes_per_sync,
                how: match side {
                    Side::Durable => "counted: events / the host's durable-commit counter".into(),
                    Side::Memory => "not durable: no syncs".into(),
                },
                per_write,
            }
        })
        .collect();
    Report { rows, io }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_miscount_is_caught_and_exact_counts_pass() {
        let store = stateplug::provider::open_in_process(
            stateplug_provider_memory::open_in_process,
            &serde_json::Value::Null,
        )
        .expect("memory in process");
        let expected = BTreeMap::from([("state".to_string(), 3), ("store".to_string(), 1)]);
        super::super::runtime().block_on(async {
            let put = |word: &str, count: &str| {
                let store = Arc::clone(&store);
                let (key, value) = (format!("{COUNT_PREFIX}{word}"), count.as_bytes().to_vec());
                async move { store.set(REACTION, &key, value).await.expect("set") }
            };
            put("state", "3").await;
            put("store", "2").await;
            let wrong = check_counts(&store, &expected).await.expect_err("miscount");
            assert!(wrong.contains("\"store\""), "{wrong}");
            put("store", "1").await;
            check_counts(&store, &expected).await.expect("exact");
            put("scan", "1").await;
            let extra = check_counts(&store, &expected)
                .await
                .expect_err("extra word");
            assert!(extra.contains("\"scan\""), "{extra}");
        });
    }

    #[test]
    fn both_pipelines_count_every_line_of_a_small_corpus() {
        let dir = tempfile::tempdir().expect("temp dir");
        let corpus = dir.path().join("corpus.txt");
        let expected = write_corpus(&corpus, 1_000);
        for side in [Side::Durable, Side::Memory] {
            // Panics if a line is missed or a word miscounted.
            run_once(side, &corpus, 1_000, &expected);
        }
    }
}
