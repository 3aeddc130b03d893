//! Progress of `migrate`, `dump` and `restore` on standard error: an
//! indicatif bar on a terminal, plain periodic lines otherwise (logs, pipes).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stateplug::ops::{Monitor, OpsError, StoreMigration};

use crate::{
    output::note,
    state::{interrupt::Interrupt, show::escaped},
    Failure,
};

/// Shows how an operation advances, and stops it when interrupted.
pub(crate) struct CliProgress {
    /// The operation, which starts every plain line (`migrate: …`).
    operation: &'static str,
    bar: Option<ProgressBar>,
    every: Duration,
    started: Instant,
    done: AtomicU64,
    total: AtomicU64,
    /// When the last plain line was printed, and the store being worked on.
    plain: Mutex<(Instant, String)>,
    interrupt: Interrupt,
}

impl CliProgress {
    /// A bar when `terminal`, else a line at most every `every` (each batch
    /// when zero); stops the operation when `interrupt` says so.
    pub(crate) fn new(
        operation: &'static str,
        terminal: bool,
        every: Duration,
        interrupt: Interrupt,
    ) -> Self {
        let bar = terminal.then(|| {
            let style = ProgressStyle::with_template(
                "{spinner} {msg:20} [{bar:30}] {pos}/{len} keys  {per_sec}  eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(style)
        });
        CliProgress {
            operation,
            bar,
            every,
            started: Instant::now(),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            plain: Mutex::new((Instant::now(), String::new())),
            interrupt,
        }
    }

    /// The failure to report for `error` (see [`Interrupt::failure`]).
    pub(crate) fn failure(&self, error: OpsError) -> Failure {
        self.interrupt.failure(error)
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => note!("{text}"),
        }
    }

    fn plain_state(&self) -> std::sync::MutexGuard<'_, (Instant, String)> {
        // Only progress text is behind this lock; a poisoned one is still usable.
        self.plain.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Monitor for CliProgress {
    fn begin(&self, stores: usize, total_keys: u64) {
        self.total.store(total_keys, Ordering::Relaxed);
        match &self.bar {
            Some(bar) => bar.set_length(total_keys),
            None => note!("{}: {stores} stores, {total_keys} keys", self.operation),
        }
    }

    fn store(&self, store_id: &str) {
        let shown = escaped(store_id).into_owned();
        match &self.bar {
            Some(bar) => bar.set_message(shown),
            None => {
                note!("{}: store {shown}", self.operation);
                self.plain_state().1 = shown;
            }
        }
    }

    fn advance(&self, keys: u64) {
        let done = self.done.fetch_add(keys, Ordering::Relaxed) + keys;
        if let Some(bar) = &self.bar {
            bar.inc(keys);
            return;
        }
        let mut state = self.plain_state();
        if state.0.elapsed() < self.every {
            return;
        }
        state.0 = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        note!(
            "{}: {done}/{} keys ({:.0} keys/s), store {}",
            self.operation,
            self.total.load(Ordering::Relaxed),
            done as f64 / secs,
            state.1
        );
    }

    fn verifying(&self, store_id: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} (verifying)", escaped(store_id)));
        }
    }

    fn store_done(&self, result: &StoreMigration) {
        self.line(&format!(
            "{}: store {}: {} written, {} deleted, {} unchanged; source {} keys, target {} keys, {}",
            self.operation,
            escaped(&result.store_id),
            result.written,
            result.deleted,
            result.unchanged,
            result.source_keys,
            result.target_keys,
            if result.verified() {
                "verified equal"
            } else {
                "DIFFERENT"
            }
        ));
    }

    fn stop_requested(&self) -> bool {
        self.interrupt.stop_requested()
    }
}
