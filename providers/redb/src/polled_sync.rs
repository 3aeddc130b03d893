//! Syncing a small journal write without sleeping through its write.
//!
//! `fdatasync` of a small write waits twice: for the write to reach the
//! device, then for the device's cache flush. A thread that sleeps through
//! the first wait pays a wake-up when it ends, and on a virtual machine a
//! halted vCPU takes 10–20 µs to wake: measured here, 100 B `pwrite` +
//! `fdatasync` took 100–124 µs p50, and 89–111 µs when the write was
//! started first and its completion polled (see BENCHMARKS.md). So a sync
//! starts the write of the range written since the last sync
//! (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), then polls the page cache
//! (`cachestat`, Linux 6.5) until no page of the range is dirty or under
//! writeback, yielding the CPU between polls to any thread that wants it,
//! for at most [`POLL_BUDGET`]; then `fdatasync` has only the flush left.
//!
//! Invariants:
//! - `fdatasync` always runs after the poll: polling changes when the
//!   caller sleeps, never what is durable or when a write is acknowledged;
//! - the CPU a sync spends polling is at most [`POLL_BUDGET`]; after
//!   [`MISSES_TO_PAUSE`] polls in a row run out of it (a device slower
//!   than the budget, where polling buys nothing), polling pauses for
//!   [`PAUSED_SYNCS`] syncs, then is tried again;
//! - a kernel or sandbox without `sync_file_range` or `cachestat`
//!   (`ENOSYS`, `EPERM`, `EOPNOTSUPP`) turns polling off for the file's
//!   life; any other error of either call only ends that poll, and the
//!   `fdatasync` that follows reports what is wrong with the file.

use std::{
    fs::File,
    io,
    sync::{Mutex, PoisonError},
    time::Duration,
};

/// The longest a sync polls for its write to finish.
pub(crate) const POLL_BUDGET: Duration = Duration::from_micros(100);

/// Polls in a row that run out of budget before polling pauses.
pub(crate) const MISSES_TO_PAUSE: u32 = 8;

/// Syncs that sleep through their write once polling is paused.
pub(crate) const PAUSED_SYNCS: u32 = 1000;

/// `cachestat(2)`; the same number on every Linux architecture.
#[cfg(target_os = "linux")]
const SYS_CACHESTAT: libc::c_long = 451;

/// `struct cachestat_range` of `cachestat(2)`.
#[cfg(target_os = "linux")]
#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

/// `struct cachestat` of `cachestat(2)`.
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// How one poll ended.
#[derive(Debug, PartialEq, Eq)]
enum Polled {
    /// The range is clean: its write is on the device.
    Written,
    /// The budget ran out first.
    OutOfBudget,
    /// The kernel cannot do it: never poll again.
    Unsupported,
    /// Another error: left to `fdatasync`.
    Failed,
}

#[derive(Debug, Default)]
struct PollState {
    /// Bytes written since the last sync, as `(start, end)`.
    written: Option<(u64, u64)>,
    /// Polls in a row that ran out of budget.
    misses: u32,
    /// Syncs left before polling is tried again.
    paused: u32,
    /// Set for good once the kernel refused a call.
    unsupported: bool,
}

/// The sync of one file, polling for its write as described above.
#[derive(Debug, Default)]
pub(crate) struct PolledSync {
    state: Mutex<PollState>,
}

impl PolledSync {
    fn lock(&self) -> std::sync::MutexGuard<'_, PollState> {
        // Nothing under this lock can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `len` bytes at `offset` were written.
    pub(crate) fn wrote(&self, offset: u64, len: u64) {
        let mut state = self.lock();
        let end = offset + len;
        state.written = Some(match state.written {
            Some((start, last)) => (start.min(offset), last.max(end)),
            None => (offset, end),
        });
    }

    /// Makes what `file` holds durable (`fdatasync`), first polling for
    /// the write of the range written since the last sync.
    pub(crate) fn sync(&self, file: &File) -> io::Result<()> {
        let range = {
            let mut state = self.lock();
            let range = state.written.take();
            if state.unsupported {
                None
            } else if state.paused > 0 {
                state.paused -= 1;
                None
            } else {
                range
            }
        };
        if let Some((start, end)) = range {
            let polled = poll(file, start, end - start);
            self.lock().record(polled);
        }
        file.sync_data()
    }
}

impl PollState {
    /// Takes the outcome of a poll into account for the next syncs.
    fn record(&mut self, polled: Polled) {
        match polled {
            Polled::Written => self.misses = 0,
            Polled::OutOfBudget => {
                self.misses += 1;
                if self.misses == MISSES_TO_PAUSE {
                    self.misses = 0;
                    self.paused = PAUSED_SYNCS;
                }
            }
            Polled::Unsupported => self.unsupported = true,
            Polled::Failed => {}
        }
    }
}

/// Elsewhere than on Linux there is nothing to poll with.
#[cfg(not(target_os = "linux"))]
fn poll(_file: &File, _offset: u64, _len: u64) -> Polled {
    Polled::Unsupported
}

/// Starts the write of `len` bytes at `offset` of `file` and polls until
/// they are clean, for at most [`POLL_BUDGET`].
#[cfg(target_os = "linux")]
fn poll(file: &File, offset: u64, len: u64) -> Polled {
    use std::{os::fd::AsRawFd, time::Instant};

    let fd = file.as_raw_fd();
    let (Ok(at), Ok(n)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Polled::Failed;
    };
    // SAFETY: `fd` is the open file `file` borrows for this call; the call
    // reads no memory of ours.
    if unsafe { libc::sync_file_range(fd, at, n, libc::SYNC_FILE_RANGE_WRITE) } != 0 {
        return refused(io::Error::last_os_error());
    }
    let range = CachestatRange { off: offset, len };
    let deadline = Instant::now() + POLL_BUDGET;
    loop {
        let mut stat = Cachestat::default();
        // SAFETY: `range` and `stat` are live, properly laid out
        // (`#[repr(C)]`) structs of the kernel's `cachestat` ABI; the
        // kernel reads the first and writes the second, and keeps neither.
        let done = unsafe {
            libc::syscall(
                SYS_CACHESTAT,
                fd,
                &range as *const CachestatRange,
                &mut stat as *mut Cachestat,
                0u32,
            )
        };
        if done != 0 {
            return refused(io::Error::last_os_error());
        }
        if stat.nr_dirty == 0 && stat.nr_writeback == 0 {
            return Polled::Written;
        }
        if Instant::now() >= deadline {
            return Polled::OutOfBudget;
        }
        std::thread::yield_now();
    }
}

/// What an error of `sync_file_range` or `cachestat` means for polling.
#[cfg(target_os = "linux")]
fn refused(err: io::Error) -> Polled {
    match err.raw_os_error() {
        Some(libc::ENOSYS | libc::EPERM | libc::EOPNOTSUPP) => Polled::Unsupported,
        _ => Polled::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn a_polled_sync_leaves_the_written_range_clean_and_forgets_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("f"))
            .expect("open");
        let sync = PolledSync::default();
        file.write_all_at(&[7; 300], 4000).expect("write");
        sync.wrote(4000, 300);
        sync.wrote(4300, 10);
        assert_eq!(sync.lock().written, Some((4000, 4310)), "ranges merge");
        sync.sync(&file).expect("sync");
        assert_eq!(sync.lock().written, None, "a sync forgets what it synced");
        let mut back = [0; 300];
        file.read_exact_at(&mut back, 4000).expect("read");
        assert_eq!(back, [7; 300]);
        // Whatever the kernel supports, the poll ends and says how.
        let polled = poll(&file, 4000, 300);
        assert_ne!(
            polled,
            Polled::Failed,
            "a clean range of an open file polls fine"
        );
    }

    #[test]
    fn polls_that_keep_running_out_of_budget_pause_polling_for_a_while() {
        let mut state = PollState::default();
        for _ in 0..MISSES_TO_PAUSE - 1 {
            state.record(Polled::OutOfBudget);
        }
        state.record(Polled::Written);
        assert_eq!(
            (state.misses, state.paused),
            (0, 0),
            "a finished poll resets the count"
        );
        for _ in 0..MISSES_TO_PAUSE {
            state.record(Polled::OutOfBudget);
        }
        assert_eq!(state.paused, PAUSED_SYNCS, "a slow device pauses polling");
        state.record(Polled::Unsupported);
        assert!(state.unsupported);

        let dir = tempfile::tempdir().expect("temp dir");
        let file = File::create(dir.path().join("f")).expect("create");
        let sync = PolledSync::default();
        sync.lock().paused = 2;
        sync.wrote(0, 1);
        sync.sync(&file).expect("sync");
        let state = sync.lock();
        assert_eq!(state.paused, 1, "a paused sync counts down without polling");
        assert_eq!(state.written, None, "and still forgets what it synced");
    }
}
