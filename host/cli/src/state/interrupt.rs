//! Ctrl-C (SIGINT) and SIGTERM during a long operation.
//!
//! Killed outright, `migrate`, `restore` and `clear` would leave their locks
//! behind for their whole lifetime (15 minutes), refusing everybody else,
//! and `dump -o` its `.partial` file. So while one runs, the first signal
//! asks it to stop at its next batch boundary (through
//! [`Monitor::stop_requested`]): it writes nothing more, releases its locks
//! and says what was done; the command then exits 130 (SIGINT) or 143
//! (SIGTERM), as a shell reports a process those signals ended. Ctrl-\
//! (SIGQUIT) still quits at once.

use std::sync::{
    atomic::{AtomicU8, Ordering},
    Arc,
};

use stateplug::ops::{Monitor, OpsError};
use tokio::signal::unix::{signal, SignalKind};

use crate::{state::target::ops_failure, Failure};

const SIGINT: u8 = 2;
const SIGTERM: u8 = 15;

/// Whether, and by which signal, the running operation was asked to stop.
#[derive(Clone)]
pub(crate) struct Interrupt {
    /// The signal received first; 0 while none was.
    signal: Arc<AtomicU8>,
}

impl Interrupt {
    /// Starts catching SIGINT and SIGTERM for `operation` (which replaces
    /// their default of ending the process at once, for the rest of it).
    pub(crate) fn catch(operation: &'static str) -> Result<Self, Failure> {
        let cannot = |e: std::io::Error| {
            Failure::failed(format!(
                "cannot catch Ctrl-C and SIGTERM for {operation}: {e}"
            ))
        };
        let mut interrupt = signal(SignalKind::interrupt()).map_err(cannot)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(cannot)?;
        let received = Arc::new(AtomicU8::new(0));
        let flag = Arc::clone(&received);
        tokio::spawn(async move {
            loop {
                let number = tokio::select! {
                    _ = interrupt.recv() => SIGINT,
                    _ = terminate.recv() => SIGTERM,
                };
                let first = flag
                    .compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok();
                crate::output::note!(
                    "{}: {} {operation} at the next batch boundary and releasing its locks \
                     (Ctrl-\\ quits at once, leaving them)",
                    name(number),
                    if first {
                        "stopping"
                    } else {
                        "already stopping"
                    }
                );
            }
        });
        Ok(Interrupt { signal: received })
    }

    /// The failure to report for `error`: a stop exits 128 + the signal's
    /// number, anything else as [`ops_failure`].
    pub(crate) fn failure(&self, error: OpsError) -> Failure {
        let number = self.signal.load(Ordering::SeqCst);
        if !error.is_stopped() || number == 0 {
            return ops_failure(error);
        }
        Failure {
            code: 128 + number,
            message: format!("{}: {error}", name(number)),
        }
    }
}

/// The signal's usual name.
fn name(number: u8) -> &'static str {
    if number == SIGTERM {
        "SIGTERM"
    } else {
        "SIGINT (Ctrl-C)"
    }
}

/// An operation without a progress display still stops when asked.
impl Monitor for Interrupt {
    fn stop_requested(&self) -> bool {
        self.signal.load(Ordering::SeqCst) != 0
    }
}
