//! The tables of results: each row of the first puts a candidate beside its
//! baseline; each row of the second says what one contender wrote per
//! acknowledged write.

use crate::io::PerWrite;

/// One measured comparison.
pub struct Row {
    /// The scenario.
    pub scenario: String,
    /// What was measured and its unit, e.g. "ns/get".
    pub metric: String,
    /// The baseline's name and value.
    pub baseline: (String, f64),
    /// The candidate's name and value.
    pub candidate: (String, f64),
    /// candidate / baseline (median over runs).
    pub ratio: f64,
    /// The target, e.g. "<= 1.5", and whether it was met.
    pub target: Option<(String, bool)>,
    /// Anything else worth saying.
    pub note: String,
}

/// A target that `ratio` must not exceed.
pub fn at_most(ratio: f64, limit: f64) -> Option<(String, bool)> {
    Some((format!("<= {limit}"), ratio <= limit))
}

/// A target that `ratio` must reach.
pub fn at_least(ratio: f64, limit: f64) -> Option<(String, bool)> {
    Some((format!(">= {limit}"), ratio >= limit))
}

/// What one contender of a durable scenario wrote per acknowledged write
/// (medians over runs).
pub struct IoRow {
    /// The scenario, with what one acknowledged write is ("per set", "per key").
    pub scenario: String,
    /// The contender.
    pub contender: String,
    /// Its time in the scenario, with the unit ("p50 231 µs").
    pub time: String,
    /// Acknowledged writes per sync, where it can be known.
    pub writes_per_sync: Option<f64>,
    /// How `writes_per_sync` is known.
    pub how: String,
    /// The process's write counters per acknowledged write.
    pub per_write: PerWrite,
}

/// Every row of a benchmark run.
#[derive(Default)]
pub struct Report {
    /// Comparisons.
    pub rows: Vec<Row>,
    /// Writes per acknowledged write.
    pub io: Vec<IoRow>,
}

impl Report {
    /// Adds the rows of another part of the run.
    pub fn add(&mut self, other: Report) {
        self.rows.extend(other.rows);
        self.io.extend(other.io);
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A count that may be a small fraction (write calls per key of a batch).
fn count(v: f64) -> String {
    if v < 0.1 {
        format!("{v:.3}")
    } else {
        fmt(v)
    }
}

fn bytes(v: f64) -> String {
    if v >= 10.0 * 1024.0 {
        format!("{:.1} KiB", v / 1024.0)
    } else {
        format!("{v:.0} B")
    }
}

/// Prints the tables in Markdown.
pub fn print(report: &Report, io_counted: bool) {
    println!("| scenario | metric | baseline | candidate | ratio | target | met | note |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &report.rows {
        let (target, met) = match &r.target {
            Some((t, ok)) => (t.as_str(), if *ok { "yes" } else { "**no**" }),
            None => ("", ""),
        };
        println!(
            "| {} | {} | {} {} | {} {} | {:.2} | {} | {} | {} |",
            r.scenario,
            r.metric,
            r.baseline.0,
            fmt(r.baseline.1),
            r.candidate.0,
            fmt(r.candidate.1),
            r.ratio,
            target,
            met,
            r.note
        );
    }
    if report.io.is_empty() {
        return;
    }
    println!();
    if !io_counted {
        println!("(this kernel keeps no /proc/self/io: the write counters below read 0)\n");
    }
    println!("Per acknowledged write: the write calls and the bytes they carry, from `/proc/self/io` (`syscw`, `wchar`) deltas, and the CPU time (`CLOCK_PROCESS_CPUTIME_ID`) deltas, around each contender's own timed calls (every thread of the process counts).\n");
    println!("| scenario | contender | time | writes per sync | write calls | bytes written | CPU µs | how writes per sync is known |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &report.io {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {} |",
            r.scenario,
            r.contender,
            r.time,
            r.writes_per_sync.map_or_else(|| "–".to_string(), fmt),
            count(r.per_write.write_calls),
            bytes(r.per_write.bytes_written),
            r.per_write.cpu_us,
            r.how
        );
    }
}
