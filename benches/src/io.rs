//! What the process hands the kernel to write, from `/proc/self/io`: the
//! write calls (`syscw`: `write`, `pwrite`, `writev`, ...) and the bytes
//! they carry (`wchar`); and the CPU time it spends
//! (`CLOCK_PROCESS_CPUTIME_ID`), so that a contender that buys latency
//! with CPU (polling, spinning) shows what it pays.
//!
//! The counters cover every thread of the process (the engines' own
//! background threads too), and none of them counts a sync: writes per sync
//! come from the engine's own counters or from how a contender is built.
//! `write_bytes` (page-cache bytes dirtied) is left out: it counts whole
//! folios, and with ext4's large folios a 100-byte pwrite + fdatasync into
//! a file written in one 1 MiB write counts 1 MiB (Linux 6.18, measured),
//! far more than the disk receives.

use std::ops::{AddAssign, Sub};

/// Write counters of the whole process at one moment, or a difference of two.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// Write calls (`syscw`).
    pub write_calls: u64,
    /// Bytes handed to write calls (`wchar`).
    pub bytes_written: u64,
    /// CPU time of every thread, user and system, in nanoseconds.
    pub cpu_ns: u64,
}

impl IoCounters {
    /// The process's counters now; the write counters are zero where the
    /// kernel keeps none (see [`available`]).
    pub fn now() -> Self {
        IoCounters {
            cpu_ns: cpu_ns(),
            ..read().unwrap_or_default()
        }
    }

    /// The counters in the text of `/proc/<pid>/io`, or `None` if one is missing.
    fn parse(text: &str) -> Option<Self> {
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|value| value.trim().parse().ok())
        };
        Some(IoCounters {
            write_calls: field("syscw")?,
            bytes_written: field("wchar")?,
            cpu_ns: 0,
        })
    }

    /// Each counter divided by `writes`: the figures per acknowledged write.
    pub fn per(self, writes: u64) -> PerWrite {
        let per = |v: u64| v as f64 / writes.max(1) as f64;
        PerWrite {
            write_calls: per(self.write_calls),
            bytes_written: per(self.bytes_written),
            cpu_us: per(self.cpu_ns) / 1_000.0,
        }
    }
}

impl Sub for IoCounters {
    type Output = IoCounters;

    fn sub(self, earlier: IoCounters) -> IoCounters {
        IoCounters {
            write_calls: self.write_calls.saturating_sub(earlier.write_calls),
            bytes_written: self.bytes_written.saturating_sub(earlier.bytes_written),
            cpu_ns: self.cpu_ns.saturating_sub(earlier.cpu_ns),
        }
    }
}

impl AddAssign for IoCounters {
    fn add_assign(&mut self, other: IoCounters) {
        self.write_calls += other.write_calls;
        self.bytes_written += other.bytes_written;
        self.cpu_ns += other.cpu_ns;
    }
}

/// Write counters per acknowledged write.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PerWrite {
    /// Write calls.
    pub write_calls: f64,
    /// Bytes handed to write calls.
    pub bytes_written: f64,
    /// CPU time of the whole process, in microseconds.
    pub cpu_us: f64,
}

/// The CPU time of every thread of the process so far, in nanoseconds.
fn cpu_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a live timespec the call writes and does not keep.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) } != 0 {
        return 0;
    }
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

fn read() -> Option<IoCounters> {
    IoCounters::parse(&std::fs::read_to_string("/proc/self/io").ok()?)
}

/// Whether this kernel keeps the counters (task I/O accounting).
pub fn available() -> bool {
    read().is_some()
}

#[cfg(test)]
mod tests {
    use std::{io::Write, os::unix::fs::FileExt};

    use super::*;

    #[test]
    fn the_kernels_text_gives_the_write_calls_and_their_bytes() {
        let text = "rchar: 6976\nwchar: 812\nsyscr: 10\nsyscw: 7\nread_bytes: 0\n\
                    write_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(
            IoCounters::parse(text),
            Some(IoCounters {
                write_calls: 7,
                bytes_written: 812,
                cpu_ns: 0,
            })
        );
        assert_eq!(IoCounters::parse("rchar: 1\nwchar: 2\n"), None);
    }

    #[test]
    fn a_write_counts_its_call_and_its_bytes() {
        if !available() {
            eprintln!("skipped: this kernel keeps no /proc/self/io");
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut file = std::fs::File::create(dir.path().join("probe")).expect("probe");
        file.write_all(&[0u8; 4096]).expect("fill");
        let before = IoCounters::now();
        file.write_all_at(&[1u8; 100], 0).expect("write");
        let delta = IoCounters::now() - before;
        // Other test threads may write meanwhile: at least this write is counted.
        assert!(delta.write_calls >= 1, "{delta:?}");
        assert!(delta.bytes_written >= 100, "{delta:?}");
    }

    #[test]
    fn work_on_the_cpu_counts_as_cpu_time() {
        let before = IoCounters::now();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let delta = IoCounters::now() - before;
        assert!(delta.cpu_ns >= 10_000_000, "20 ms of spinning, {delta:?}");
    }

    #[test]
    fn figures_per_write_divide_each_counter() {
        let total = IoCounters {
            write_calls: 10,
            bytes_written: 1_000,
            cpu_ns: 50_000,
        };
        assert_eq!(
            total.per(10),
            PerWrite {
                write_calls: 1.0,
                bytes_written: 100.0,
                cpu_us: 5.0,
            }
        );
    }
}
