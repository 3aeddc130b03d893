//! How far each source's events have been committed by its subscribers.
//!
//! Invariant: a source's watermark is the greatest position such that every
//! subscribed reaction has committed (with its own checkpoint) every event
//! at or below it. Persisting the watermark as the source's checkpoint and
//! resuming from it therefore never skips an event a reaction has not
//! committed; re-emitted events are skipped by position in the reaction.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use metrics::Gauge;
use tokio::sync::Notify;

use crate::runtime::metrics::{source_lag, PluginMetrics};

/// The key under which the host keeps a source's checkpoint (its watermark) in the source's own store.
pub const SOURCE_CHECKPOINT_KEY: &str = "$checkpoint";

/// The key under which a reaction's checkpoint for `source` lives in the reaction's own store.
pub fn reaction_checkpoint_key(source: &str) -> String {
    format!("$checkpoint/{source}")
}

/// Counters one plugin exposes while the host runs (also recorded as
/// metrics: [`crate::runtime::metrics`]).
#[derive(Debug)]
pub struct PluginStats {
    /// Events emitted (sources) or committed (reactions).
    pub events: AtomicU64,
    /// Commits made (reactions) or checkpoints persisted (sources).
    pub checkpoints: AtomicU64,
    /// The last checkpoint position written.
    pub last_checkpoint: AtomicU64,
    metrics: PluginMetrics,
}

impl PluginStats {
    /// Zeroed figures of plugin `id` of `kind` (`source`, `reaction`).
    pub(crate) fn new(id: &str, kind: &'static str) -> Self {
        PluginStats {
            events: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            last_checkpoint: AtomicU64::new(0),
            metrics: PluginMetrics::new(id, kind),
        }
    }

    /// Counts `n` events emitted or committed.
    pub(crate) fn add_events(&self, n: u64) {
        self.events.fetch_add(n, Ordering::Relaxed);
        self.metrics.events.increment(n);
    }

    /// Sets the last checkpoint position written, without counting a commit.
    pub(crate) fn set_checkpoint(&self, position: u64) {
        self.last_checkpoint.store(position, Ordering::Relaxed);
        self.metrics.checkpoint.set(position as f64);
    }

    /// Counts one commit (or persisted checkpoint).
    pub(crate) fn add_commit(&self) {
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.metrics.commits.increment(1);
    }
}

/// The acknowledgement board of one source.
#[derive(Debug)]
pub(crate) struct SourceProgress {
    pub(crate) source: Arc<str>,
    subscribers: Vec<(Arc<str>, AtomicU64)>,
    emitted: AtomicU64,
    pub(crate) changed: Notify,
    lag: Gauge,
}

impl SourceProgress {
    /// A board for `source` with each subscriber's committed position.
    pub(crate) fn new(source: Arc<str>, subscribers: Vec<(Arc<str>, u64)>, emitted: u64) -> Self {
        SourceProgress {
            lag: source_lag(&source),
            source,
            subscribers: subscribers
                .into_iter()
                .map(|(r, p)| (r, AtomicU64::new(p)))
                .collect(),
            emitted: AtomicU64::new(emitted),
            changed: Notify::new(),
        }
    }

    /// Every subscriber has committed every event at or below this position.
    pub(crate) fn watermark(&self) -> u64 {
        if self.subscribers.is_empty() {
            return self.emitted.load(Ordering::Acquire);
        }
        self.subscribers
            .iter()
            .map(|(_, p)| p.load(Ordering::Acquire))
            .min()
            .unwrap_or(0)
    }

    /// The last position emitted.
    pub(crate) fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::Acquire)
    }

    pub(crate) fn set_emitted(&self, position: u64) {
        self.emitted.store(position, Ordering::Release);
        self.record_lag();
        if self.subscribers.is_empty() {
            self.changed.notify_one();
        }
    }

    /// Records that `reaction` committed everything up to `position`.
    pub(crate) fn acknowledge(&self, reaction: &str, position: u64) {
        for (id, committed) in &self.subscribers {
            if &**id == reaction {
                committed.fetch_max(position, Ordering::AcqRel);
            }
        }
        self.record_lag();
        self.changed.notify_one();
    }

    /// Sets the lag gauge: emitted positions not yet committed by every subscriber.
    fn record_lag(&self) {
        let lag = self.emitted().saturating_sub(self.watermark());
        self.lag.set(lag as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_is_the_slowest_subscriber() {
        let p = SourceProgress::new("s".into(), vec![("a".into(), 5), ("b".into(), 3)], 9);
        assert_eq!(p.watermark(), 3);
        p.acknowledge("b", 7);
        assert_eq!(p.watermark(), 5);
        p.acknowledge("b", 6);
        assert_eq!(p.watermark(), 5, "acknowledgements never move back");
        let alone = SourceProgress::new("s".into(), vec![], 4);
        alone.set_emitted(8);
        assert_eq!(
            alone.watermark(),
            8,
            "without subscribers, emitted is acknowledged"
        );
    }
}
