//! What one contender did in one run of a durable scenario: its latencies,
//! its time, and what it wrote; and the medians over runs.

use std::time::Duration;

use super::contenders::Kind;
use crate::{
    io::{IoCounters, PerWrite},
    measure::{median, Latencies},
    report::IoRow,
};

/// One contender's figures, summed over the timed sections of one run.
#[derive(Default)]
pub struct Tally {
    samples: Vec<Duration>,
    elapsed: Duration,
    io: IoCounters,
    commits: u64,
    writes: u64,
}

impl Tally {
    /// Adds a timed section: the latency of each acknowledged call in it,
    /// its wall time, the process's write counters and the durable commits
    /// the provider reported meanwhile, and the writes it acknowledged.
    pub fn add(
        &mut self,
        samples: impl IntoIterator<Item = Duration>,
        elapsed: Duration,
        io: IoCounters,
        commits: u64,
        writes: u64,
    ) {
        self.samples.extend(samples);
        self.elapsed += elapsed;
        self.io += io;
        self.commits += commits;
        self.writes += writes;
    }

    /// The run's summary. `writes_per_sync` is what the contender's build
    /// makes it (`Some`), or `None` to count it from the host's durable-commit counter.
    pub fn summary(self, writes_per_sync: Option<f64>) -> Summary {
        let calls = self.samples.len();
        let latencies = Latencies::new(self.samples);
        let counted = (self.commits > 0).then(|| self.writes as f64 / self.commits as f64);
        Summary {
            p50: latencies.p50_us(),
            p99: latencies.p99_us(),
            ops_per_sec: self.writes as f64 / self.elapsed.as_secs_f64(),
            us_per_call: self.elapsed.as_secs_f64() * 1e6 / calls.max(1) as f64,
            writes_per_sync: writes_per_sync.or(counted),
            per_write: self.io.per(self.writes),
        }
    }
}

/// One contender's figures in one run.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Median latency of a call, µs.
    pub p50: f64,
    /// 99th percentile latency of a call, µs.
    pub p99: f64,
    /// Acknowledged writes per second of wall time.
    pub ops_per_sec: f64,
    /// Mean wall time of a call, µs.
    pub us_per_call: f64,
    /// Acknowledged writes per sync, where known.
    pub writes_per_sync: Option<f64>,
    /// Write counters per acknowledged write.
    pub per_write: PerWrite,
}

/// The median over runs of one figure.
pub fn median_of(runs: &[Summary], figure: impl Fn(&Summary) -> f64) -> f64 {
    median(&runs.iter().map(figure).collect::<Vec<_>>())
}

/// The median over runs of `candidate / baseline` for one figure, run by run.
pub fn ratio_of(
    candidate: &[Summary],
    baseline: &[Summary],
    figure: impl Fn(&Summary) -> f64,
) -> f64 {
    let ratios: Vec<f64> = candidate
        .iter()
        .zip(baseline)
        .map(|(c, b)| figure(c) / figure(b))
        .collect();
    median(&ratios)
}

/// The medians over runs of the writes per sync (where known) and of each write counter.
pub fn io_medians(runs: &[Summary]) -> (Option<f64>, PerWrite) {
    let known: Vec<f64> = runs.iter().filter_map(|s| s.writes_per_sync).collect();
    let per_write = PerWrite {
        write_calls: median_of(runs, |s| s.per_write.write_calls),
        bytes_written: median_of(runs, |s| s.per_write.bytes_written),
        cpu_us: median_of(runs, |s| s.per_write.cpu_us),
    };
    ((!known.is_empty()).then(|| median(&known)), per_write)
}

/// One I/O row per contender.
pub fn io_rows(
    scenario: &str,
    kinds: &[Kind],
    runs: &[Vec<Summary>],
    time: impl Fn(&[Summary]) -> String,
) -> Vec<IoRow> {
    kinds
        .iter()
        .zip(runs)
        .map(|(kind, runs)| {
            let (writes_per_sync, per_write) = io_medians(runs);
            IoRow {
                scenario: scenario.to_string(),
                contender: kind.name().to_string(),
                time: time(runs),
                writes_per_sync,
                how: kind.how_syncs_are_known().to_string(),
                per_write,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_per_sync_are_counted_from_commits_unless_the_build_fixes_them() {
        let mut tally = Tally::default();
        let io = IoCounters {
            write_calls: 14,
            bytes_written: 2_000,
            cpu_ns: 60_000,
        };
        tally.add(
            [Duration::from_micros(100), Duration::from_micros(300)],
            Duration::from_millis(1),
            io,
            1,
            2,
        );
        let summary = tally.summary(None);
        assert_eq!(summary.writes_per_sync, Some(2.0));
        assert_eq!(summary.ops_per_sec, 2_000.0);
        assert_eq!(summary.per_write.write_calls, 7.0);
        assert_eq!(summary.per_write.bytes_written, 1_000.0);
        assert_eq!(summary.per_write.cpu_us, 30.0);
        // No commits counted and no fixed figure: unknown, not zero.
        assert_eq!(Tally::default().summary(None).writes_per_sync, None);
        // A contender whose build fixes the figure keeps it.
        assert_eq!(
            Tally::default().summary(Some(1.0)).writes_per_sync,
            Some(1.0)
        );
    }
}
