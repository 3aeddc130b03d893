//! Durable single-key sets of 100-byte values: one writer, and 8 / 64
//! concurrent writers, stateplug (the redb `.so` through the host) beside
//! raw redb, SQLite, fjall and (one writer) the disk's own limit.

use std::time::Instant;

use super::{
    contenders::{Contender, Kind, VALUE_LEN},
    key, multi_runtime,
    tally::{io_medians, io_rows, median_of, ratio_of, Summary, Tally},
    value,
};
use crate::{
    commits,
    io::IoCounters,
    report::{at_least, at_most, Report, Row},
    Sizes,
};

/// The 1-writer contenders, stateplug first.
const SINGLE: [Kind; 7] = [
    Kind::Host,
    Kind::HostUnjournaled,
    Kind::RawRedb,
    Kind::Sqlite,
    Kind::Fjall,
    Kind::DiskFixed,
    Kind::DiskAppend,
];

/// The concurrent contenders, stateplug first.
const CONCURRENT: [Kind; 4] = [Kind::Host, Kind::RawRedb, Kind::Fjall, Kind::Sqlite];

/// Rounds per run of a concurrent scenario; each contender writes one
/// slice of its keys per round, the contenders taking turns.
const ROUNDS: usize = 4;

/// A run's summary for `kind`: writes per sync counted, or fixed at 1 by its build.
fn summarize(kind: Kind, tally: Tally) -> Summary {
    tally.summary((!kind.syncs_are_counted()).then_some(1.0))
}

/// One writer: latency per durable set. The contenders take turns set by
/// set (each set starting with the next contender), so all see the same disk:
/// fsync times drift by several times within seconds on a shared machine.
pub fn single(sizes: &Sizes) -> Report {
    let n = sizes.durable_sets;
    let mut runs: Vec<Vec<Summary>> = SINGLE.iter().map(|_| Vec::new()).collect();
    for run in 0..sizes.runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let contenders: Vec<Contender> = SINGLE.iter().map(|k| k.open(dir.path())).collect();
        // A multi-thread runtime, as `stateplug run` uses.
        let tallies = multi_runtime().block_on(async {
            let mut tallies: Vec<Tally> = SINGLE.iter().map(|_| Tally::default()).collect();
            for i in 0..n {
                let (k, v) = (key(i), value(i + run, VALUE_LEN));
                for turn in 0..contenders.len() {
                    let c = (i + turn) % contenders.len();
                    let v = v.clone();
                    let (io, commits) = (IoCounters::now(), commits::snapshot());
                    let start = Instant::now();
                    contenders[c].set(&k, v).await;
                    let took = start.elapsed();
                    let io = IoCounters::now() - io;
                    tallies[c].add([took], took, io, commits::snapshot() - commits, 1);
                }
            }
            tallies
        });
        for ((kind, tally), runs) in SINGLE.iter().zip(tallies).zip(&mut runs) {
            runs.push(summarize(*kind, tally));
        }
    }
    let host = &runs[0];
    let scenario = "durable set, 1 writer";
    let mut rows = Vec::new();
    for (kind, base) in SINGLE.iter().zip(&runs).skip(1) {
        let ratio = ratio_of(host, base, |s| s.p50);
        let (target, note) = match kind {
            Kind::RawRedb => (at_most(ratio, 1.15), String::new()),
            Kind::Sqlite => (at_most(ratio, 0.8), "one connection, autocommit".to_string()),
            Kind::Fjall => (
                at_most(ratio, 1.0),
                "Keyspace::insert, then Database::persist(PersistMode::SyncData): the journal is written and fdatasync'd before the set returns".to_string(),
            ),
            Kind::DiskFixed => (None, "100 B at offset 0 of a preallocated (written, synced) file".to_string()),
            Kind::DiskAppend => (at_most(ratio, 1.3), "100 B at the end of a growing file".to_string()),
            Kind::HostUnjournaled => (None, "the A/B of the journal: the same provider, a durable redb commit per group".to_string()),
            Kind::Host => (None, String::new()),
        };
        rows.push(Row {
            scenario: scenario.into(),
            metric: "p50 µs/set".into(),
            baseline: (kind.name().into(), median_of(base, |s| s.p50)),
            candidate: (Kind::Host.name().into(), median_of(host, |s| s.p50)),
            ratio,
            target,
            note: format!(
                "p99 {:.0} / {:.0} µs; {n} sets each, taking turns set by set{}{note}",
                median_of(base, |s| s.p99),
                median_of(host, |s| s.p99),
                if note.is_empty() { "" } else { "; " },
            ),
        });
    }
    let io = io_rows(&format!("{scenario} (per set)"), &SINGLE, &runs, |r| {
        format!(
            "p50 {:.0} µs, p99 {:.0} µs",
            median_of(r, |s| s.p50),
            median_of(r, |s| s.p99)
        )
    });
    Report { rows, io }
}

/// `writers` concurrent durable writers, each writing its own keys. Every
/// run has [`ROUNDS`] rounds; in each, the contenders take turns (starting
/// with the next one each round), each writing one slice of its keys, so
/// all see the same disk.
pub fn concurrent(sizes: &Sizes, writers: usize) -> Report {
    let per_writer = sizes.concurrent_sets_per_writer;
    let mut runs: Vec<Vec<Summary>> = CONCURRENT.iter().map(|_| Vec::new()).collect();
    for run in 0..sizes.runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let contenders: Vec<Contender> = CONCURRENT.iter().map(|k| k.open(dir.path())).collect();
        let runtime = multi_runtime();
        let mut tallies: Vec<Tally> = CONCURRENT.iter().map(|_| Tally::default()).collect();
        for round in 0..ROUNDS {
            let range = round * per_writer / ROUNDS..(round + 1) * per_writer / ROUNDS;
            for turn in 0..contenders.len() {
                let c = (run + round + turn) % contenders.len();
                let (io, commits) = (IoCounters::now(), commits::snapshot());
                let (samples, elapsed) = contenders[c].writers(&runtime, writers, range.clone());
                let io = IoCounters::now() - io;
                let sets = samples.len() as u64;
                tallies[c].add(samples, elapsed, io, commits::snapshot() - commits, sets);
            }
        }
        for ((kind, tally), runs) in CONCURRENT.iter().zip(tallies).zip(&mut runs) {
            runs.push(summarize(*kind, tally));
        }
    }
    let [host, naive, fjall, sqlite] = [&runs[0], &runs[1], &runs[2], &runs[3]];
    let many = writers == 64;
    let scenario = format!("durable set, {writers} writers");
    let ops = |r: &[Summary]| median_of(r, |s| s.ops_per_sec);
    let p99 = |r: &[Summary]| median_of(r, |s| s.p99);
    let speedup = ratio_of(host, naive, |s| s.ops_per_sec);
    let p99_ratio = ratio_of(host, naive, |s| s.p99);
    let per_sync = io_medians(host).0.unwrap_or(f64::NAN);
    let over_fjall = ratio_of(host, fjall, |s| s.ops_per_sec);
    let p99_over_fjall = ratio_of(host, fjall, |s| s.p99);
    let over_sqlite = ratio_of(host, sqlite, |s| s.ops_per_sec);
    let sets = writers * per_writer;
    let mut rows = vec![
        Row {
            scenario: scenario.clone(),
            metric: "ops/s".into(),
            baseline: ("naive commit per set".into(), ops(naive)),
            candidate: (Kind::Host.name().into(), ops(host)),
            ratio: speedup,
            target: if many { at_least(speedup, 10.0) } else { None },
            note: format!(
                "{sets} sets each in {ROUNDS} rounds, taking turns; writes per fsync {per_sync:.1} (naive 1.0)"
            ),
        },
        Row {
            scenario: scenario.clone(),
            metric: "p50 / p99 µs".into(),
            baseline: ("naive".into(), median_of(naive, |s| s.p50)),
            candidate: ("host".into(), median_of(host, |s| s.p50)),
            ratio: p99_ratio,
            target: if many { at_most(p99_ratio, 1.0) } else { None },
            note: format!(
                "p99 naive {:.0} µs, host {:.0} µs (ratio column: p99)",
                p99(naive),
                p99(host)
            ),
        },
    ];
    if many {
        rows.push(Row {
            scenario: scenario.clone(),
            metric: "writes per fsync".into(),
            baseline: ("naive".into(), 1.0),
            candidate: ("host".into(), per_sync),
            ratio: per_sync,
            target: at_least(per_sync, 8.0),
            note:
                "acknowledged writes / durable commits, counted by the host's durable-commit counter"
                    .into(),
        });
    }
    rows.extend([
        Row {
            scenario: scenario.clone(),
            metric: "ops/s".into(),
            baseline: (Kind::Fjall.name().into(), ops(fjall)),
            candidate: (Kind::Host.name().into(), ops(host)),
            ratio: over_fjall,
            target: if many { at_least(over_fjall, 2.0) } else { None },
            note: format!(
                "a thread per writer, each set Keyspace::insert + Database::persist(PersistMode::SyncData); fjall p50 {:.0} µs",
                median_of(fjall, |s| s.p50)
            ),
        },
        Row {
            scenario: scenario.clone(),
            metric: "p99 µs".into(),
            baseline: (Kind::Fjall.name().into(), p99(fjall)),
            candidate: (Kind::Host.name().into(), p99(host)),
            ratio: p99_over_fjall,
            target: if many { at_most(p99_over_fjall, 0.2) } else { None },
            note: String::new(),
        },
        Row {
            scenario,
            metric: "ops/s".into(),
            baseline: (Kind::Sqlite.name().into(), ops(sqlite)),
            candidate: (Kind::Host.name().into(), ops(host)),
            ratio: over_sqlite,
            target: None,
            note: format!(
                "a thread per writer, one connection behind a mutex: SQLite serialises writers anyway, and a connection per writer with busy_timeout waits in SQLite's busy handler, which sleeps and retries; SQLite p99 {:.0} µs",
                p99(sqlite)
            ),
        },
    ]);
    let io = io_rows(
        &format!("durable set, {writers} writers (per set)"),
        &CONCURRENT,
        &runs,
        |r| format!("{:.0} ops/s, p99 {:.0} µs", ops(r), p99(r)),
    );
    Report { rows, io }
}
