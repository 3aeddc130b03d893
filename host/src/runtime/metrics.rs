//! The metrics a running host records per plugin and per source, through
//! the `metrics` facade (names below; an embedder installs the recorder).

use metrics::{Counter, Gauge};

/// Events a plugin emitted (sources) or committed (reactions)
/// (counter; labels `plugin`, `kind`).
pub const PLUGIN_EVENTS: &str = "stateplug_plugin_events_total";
/// Commits a reaction made, or checkpoints the host persisted for a source
/// (counter; labels `plugin`, `kind`).
pub const PLUGIN_COMMITS: &str = "stateplug_plugin_commits_total";
/// The last checkpoint position written (gauge; labels `plugin`, `kind`).
pub const PLUGIN_CHECKPOINT: &str = "stateplug_plugin_checkpoint_position";
/// Positions a source has emitted that its subscribers have not all
/// committed yet (gauge; label `source`).
pub const SOURCE_LAG: &str = "stateplug_source_lag_events";

/// Times this host took a plugin's store over from another owner
/// (counter; labels `plugin`, `kind`).
pub const PLUGIN_TAKEOVERS: &str = "stateplug_plugin_takeovers_total";
/// Times a plugin of this host found itself superseded by another owner
/// and stopped (counter; labels `plugin`, `kind`).
pub const PLUGIN_FENCED: &str = "stateplug_plugin_fenced_total";

/// Every metric name the runtime records.
pub const NAMES: &[&str] = &[
    PLUGIN_EVENTS,
    PLUGIN_COMMITS,
    PLUGIN_CHECKPOINT,
    SOURCE_LAG,
    PLUGIN_TAKEOVERS,
    PLUGIN_FENCED,
];

/// Every metric name the host records: the store layer's
/// ([`crate::layers::metrics::NAMES`]), the watch layer's and the runtime's.
pub fn all_names() -> Vec<&'static str> {
    let watch = [
        crate::layers::WATCHERS,
        crate::layers::WATCH_LAGGED,
        crate::layers::WATCH_MISSED,
    ];
    crate::layers::metrics::NAMES
        .iter()
        .chain(watch.iter())
        .chain(NAMES.iter())
        .copied()
        .collect()
}

/// One plugin's handles.
#[derive(Debug)]
pub(crate) struct PluginMetrics {
    pub(crate) events: Counter,
    pub(crate) commits: Counter,
    pub(crate) checkpoint: Gauge,
}

impl PluginMetrics {
    /// Registers the handles of plugin `id` of `kind` (`source`, `reaction`).
    pub(crate) fn new(id: &str, kind: &'static str) -> Self {
        let labels = [("plugin", id.to_string()), ("kind", kind.to_string())];
        PluginMetrics {
            events: metrics::counter!(PLUGIN_EVENTS, &labels),
            commits: metrics::counter!(PLUGIN_COMMITS, &labels),
            checkpoint: metrics::gauge!(PLUGIN_CHECKPOINT, &labels),
        }
    }
}

/// The lag gauge of `source`.
pub(crate) fn source_lag(source: &str) -> Gauge {
    metrics::gauge!(SOURCE_LAG, "source" => source.to_string())
}

/// Counts one ownership event (`name`: [`PLUGIN_TAKEOVERS`] or
/// [`PLUGIN_FENCED`]) of plugin `id` of `kind`.
pub(crate) fn count_ownership(name: &'static str, id: &str, kind: &'static str) {
    metrics::counter!(name, "plugin" => id.to_string(), "kind" => kind).increment(1);
}
