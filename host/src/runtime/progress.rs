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

use tokio::sync::Notify;

/// The key under which the host keeps a source's checkpoint (its watermark) in the source's own store.
pub const SOURCE_CHECKPOINT_KEY: &str = "$checkpoint";

/// The key under which a reaction's checkpoint for `source` lives in the reaction's own store.
pub fn reaction_checkpoint_key(source: &str) -> String {
    format!("$checkpoint/{source}")
}

/// Counters one plugin exposes while the host runs.
#[derive(Debug, Default)]
pub struct PluginStats {
    /// Events emitted (sources) or committed (reactions).
    pub events: AtomicU64,
    /// Commits made (reactions) or checkpoints persisted (sources).
    pub checkpoints: AtomicU64,
    /// The last checkpoint position written.
    pub last_checkpoint: AtomicU64,
}

/// The acknowledgement board of one source.
#[derive(Debug)]
pub(crate) struct SourceProgress {
    pub(crate) source: Arc<str>,
    subscribers: Vec<(Arc<str>, AtomicU64)>,
    emitted: AtomicU64,
    pub(crate) changed: Notify,
}

impl SourceProgress {
    /// A board for `source` with each subscriber's committed position.
    pub(crate) fn new(source: Arc<str>, subscribers: Vec<(Arc<str>, u64)>, emitted: u64) -> Self {
        SourceProgress {
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
        self.changed.notify_one();
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
