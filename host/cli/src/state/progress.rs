//! Migration progress on standard error: an indicatif bar on a terminal,
//! plain periodic lines otherwise (logs, pipes).

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stateplug::ops::{MigrateProgress, StoreMigration};

use crate::output::note;

/// Shows how a migration advances.
pub(crate) struct CliProgress {
    bar: Option<ProgressBar>,
    every: Duration,
    started: Instant,
    done: AtomicU64,
    total: AtomicU64,
    /// When the last plain line was printed, and the store being copied.
    plain: Mutex<(Instant, String)>,
}

impl CliProgress {
    /// A bar when `terminal`, else a line every `every`.
    pub(crate) fn new(terminal: bool, every: Duration) -> Self {
        let bar = terminal.then(|| {
            let style = ProgressStyle::with_template(
                "{spinner} {msg:20} [{bar:30}] {pos}/{len} keys  {per_sec}  eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(style)
        });
        CliProgress {
            bar,
            every,
            started: Instant::now(),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            plain: Mutex::new((Instant::now(), String::new())),
        }
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

impl MigrateProgress for CliProgress {
    fn begin(&self, stores: usize, total_keys: u64) {
        self.total.store(total_keys, Ordering::Relaxed);
        match &self.bar {
            Some(bar) => bar.set_length(total_keys),
            None => note!("migrate: {stores} stores, {total_keys} keys in the source"),
        }
    }

    fn store(&self, store_id: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(store_id.to_string()),
            None => {
                self.plain_state().1 = store_id.to_string();
                note!("migrate: copying store {store_id}");
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
            "migrate: {done}/{} keys ({:.0} keys/s), store {}",
            self.total.load(Ordering::Relaxed),
            done as f64 / secs,
            state.1
        );
    }

    fn verifying(&self, store_id: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{store_id} (verifying)"));
        }
    }

    fn store_done(&self, result: &StoreMigration) {
        self.line(&format!(
            "migrate: store {}: {} written, {} deleted, {} unchanged; source {} keys, target {} keys, {}",
            result.store_id,
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
}
