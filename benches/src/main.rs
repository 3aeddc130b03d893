//! `stateplug-bench`: every scenario runs the raw engine, the provider path
//! (and the peers users compare it with) in the same run, several times,
//! and prints a Markdown table of medians and ratios, and one of what each
//! durable contender writes per acknowledged write.
//!
//! `cargo run --release -p stateplug-bench` (small sizes, a few minutes on
//! 2 cores); `-- --full` for the full sizes; `-- --only get,durable`.

mod commits;
mod io;
mod measure;
mod report;
mod scenarios;

use std::path::PathBuf;

use clap::Parser;
use report::Report;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "stateplug-bench",
    about = "stateplug benchmarks beside the raw engines"
)]
struct Args {
    /// Use the full sizes (1M-key scans, 10M-key memory, more operations).
    #[arg(long)]
    full: bool,
    /// Runs per scenario; rows show medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Only these scenarios (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = SCENARIOS)]
    only: Vec<String>,
    /// Internal: measure resident memory of one structure in a child process.
    #[arg(long, hide = true, num_args = 2, value_names = ["KIND", "KEYS"])]
    rss_child: Vec<String>,
}

/// The scenarios `--only` picks from, in the order they run.
const SCENARIOS: [&str; 12] = [
    "get",
    "watch",
    "fencing",
    "durable",
    "concurrent",
    "batch",
    "scan",
    "dump",
    "memory",
    "e2e",
    "postgres",
    "metrics",
];

/// Sizes of one benchmark run.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Keys preloaded for point reads.
    pub get_keys: usize,
    /// Point reads timed per run.
    pub gets: usize,
    /// Single-writer durable sets per run.
    pub durable_sets: usize,
    /// Durable sets per writer in the concurrent scenarios.
    pub concurrent_sets_per_writer: usize,
    /// Keys in the scan scenario.
    pub scan_keys: usize,
    /// Keys in the memory scenario.
    pub memory_keys: usize,
    /// Lines of the end-to-end scenario's corpus.
    pub e2e_lines: u64,
    /// Runs per scenario.
    pub runs: usize,
}

impl Sizes {
    fn new(full: bool, runs: usize) -> Self {
        let runs = runs.max(1);
        if full {
            Sizes {
                get_keys: 1_000_000,
                gets: 2_000_000,
                durable_sets: 5_000,
                concurrent_sets_per_writer: 200,
                scan_keys: 1_000_000,
                memory_keys: 10_000_000,
                e2e_lines: 1_000_000,
                runs,
            }
        } else {
            Sizes {
                get_keys: 100_000,
                gets: 300_000,
                durable_sets: 1_000,
                concurrent_sets_per_writer: 100,
                scan_keys: 200_000,
                memory_keys: 1_000_000,
                e2e_lines: 200_000,
                runs,
            }
        }
    }
}

/// Where the provider libraries were built: beside this binary.
pub fn library(name: &str) -> stateplug::ProviderLibrary {
    let file = format!("libstateplug_provider_{name}.so");
    let path: PathBuf = stateplug::provider::default_provider_dirs()
        .into_iter()
        .map(|dir| dir.join(&file))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{file} not found beside the bench binary; build with cargo build --release -p stateplug-bench"));
    stateplug::ProviderLibrary::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn main() {
    let args = Args::parse();
    if let [kind, keys] = args.rss_child.as_slice() {
        scenarios::memory::child(kind, keys.parse().expect("a key count"));
        return;
    }
    commits::install();
    let sizes = Sizes::new(args.full, args.runs);
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    eprintln!(
        "stateplug-bench: {} sizes, {} runs per scenario",
        if args.full { "full" } else { "small" },
        sizes.runs
    );
    let mut report = Report::default();
    if wanted("get") {
        report.rows.extend(scenarios::get::run(&sizes));
    }
    if wanted("watch") {
        report.rows.extend(scenarios::watch::run(&sizes));
    }
    if wanted("fencing") {
        report.rows.extend(scenarios::fencing::run(&sizes));
    }
    if wanted("durable") {
        report.add(scenarios::durable::single(&sizes));
    }
    if wanted("concurrent") {
        report.rows.extend(scenarios::disk::run(&sizes));
        for writers in [8, 64] {
            report.add(scenarios::durable::concurrent(&sizes, writers));
        }
    }
    if wanted("batch") {
        report.add(scenarios::batch::run(&sizes));
    }
    if wanted("scan") {
        report.rows.extend(scenarios::scan::run(&sizes));
    }
    if wanted("dump") {
        report.rows.extend(scenarios::dump::run(&sizes));
    }
    if wanted("memory") {
        report.rows.extend(scenarios::memory::run(&sizes));
    }
    if wanted("e2e") {
        report.add(scenarios::e2e::run(&sizes));
    }
    if wanted("postgres") {
        match std::env::var("STATEPLUG_TEST_POSTGRES_URL") {
            Ok(url) => report.rows.extend(scenarios::postgres::run(&sizes, &url)),
            Err(_) => eprintln!("skipped postgres: STATEPLUG_TEST_POSTGRES_URL is not set"),
        }
    }
    // Last: it installs a global metrics recorder, which the host paths of
    // the other scenarios would then feed.
    if wanted("metrics") {
        report.rows.extend(scenarios::metrics_cost::run(&sizes));
    }
    report::print(&report, io::available());
}
