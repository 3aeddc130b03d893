//! `set_many` of 1,000 keys: the redb `.so` through the host against raw
//! redb (one transaction, one commit), SQLite (one transaction), fjall (one
//! write batch, one persist) and the disk's own limit (the 1,000 values as
//! one write, one fdatasync).

use std::time::Instant;

use super::{
    contenders::{Contender, Kind, VALUE_LEN},
    key, multi_runtime,
    tally::{io_rows, median_of, ratio_of, Summary, Tally},
    value,
};
use crate::{
    commits,
    io::IoCounters,
    report::{at_most, Report, Row},
    Sizes,
};

const BATCH: usize = 1_000;
const BATCHES: usize = 50;
/// The contenders, stateplug first.
const KINDS: [Kind; 7] = [
    Kind::Host,
    Kind::HostUnjournaled,
    Kind::RawRedb,
    Kind::Sqlite,
    Kind::Fjall,
    Kind::DiskFixed,
    Kind::DiskAppend,
];

/// Batch `b`: the entries every contender is given, built the same way.
fn entries(b: usize) -> Vec<(String, Vec<u8>)> {
    (0..BATCH)
        .map(|i| (key(b * BATCH + i), value(b * BATCH + i, VALUE_LEN)))
        .collect()
}

/// Batch rows. Batch by batch the contenders take turns, each batch
/// starting with the next one, so all see the same disk (fsync times drift
/// by several times within seconds on a shared machine) and none always
/// runs right after another's fsync.
pub fn run(sizes: &Sizes) -> Report {
    let mut runs: Vec<Vec<Summary>> = KINDS.iter().map(|_| Vec::new()).collect();
    for _ in 0..sizes.runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let contenders: Vec<Contender> = KINDS.iter().map(|k| k.open(dir.path())).collect();
        let tallies = multi_runtime().block_on(async {
            let mut tallies: Vec<Tally> = KINDS.iter().map(|_| Tally::default()).collect();
            for b in 0..BATCHES {
                for turn in 0..contenders.len() {
                    let c = (b + turn) % contenders.len();
                    let (io, commits) = (IoCounters::now(), commits::snapshot());
                    // The entries are built inside the timing, for every contender.
                    let start = Instant::now();
                    contenders[c].set_many(entries(b)).await;
                    let took = start.elapsed();
                    let io = IoCounters::now() - io;
                    let commits = commits::snapshot() - commits;
                    tallies[c].add([took], took, io, commits, BATCH as u64);
                }
            }
            tallies
        });
        for ((kind, tally), runs) in KINDS.iter().zip(tallies).zip(&mut runs) {
            // Keys per sync: a whole batch per sync, unless counted.
            runs.push(tally.summary((!kind.syncs_are_counted()).then_some(BATCH as f64)));
        }
    }
    let host = &runs[0];
    let us = |r: &[Summary]| median_of(r, |s| s.us_per_call);
    let mut rows = Vec::new();
    for (kind, base) in KINDS.iter().zip(&runs).skip(1) {
        let ratio = ratio_of(host, base, |s| s.us_per_call);
        let (target, note) = match kind {
            Kind::RawRedb => (at_most(ratio, 1.0), "one transaction, one commit"),
            Kind::Sqlite => (
                at_most(ratio, 0.8),
                "BEGIN, 1,000 prepared INSERT OR REPLACE, COMMIT",
            ),
            Kind::Fjall => (
                None,
                "one WriteBatch, commit, then Database::persist(PersistMode::SyncData)",
            ),
            Kind::HostUnjournaled => (
                None,
                "the A/B of the journal: the same provider, a durable redb commit per group",
            ),
            _ => (None, "the 1,000 values (100,000 B) as one write"),
        };
        rows.push(Row {
            scenario: "set_many of 1,000".into(),
            metric: "µs/batch".into(),
            baseline: (kind.name().into(), us(base)),
            candidate: (Kind::Host.name().into(), us(host)),
            ratio,
            target,
            note: format!(
                "{note}; {BATCHES} batches of new keys each, taking turns; every contender is given the same 1,000 entries, built inside the timing"
            ),
        });
    }
    let io = io_rows("set_many of 1,000 (per key)", &KINDS, &runs, |r| {
        format!("{:.0} µs/batch", us(r))
    });
    Report { rows, io }
}
