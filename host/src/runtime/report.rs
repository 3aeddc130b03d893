//! What a host reports: each plugin's figures and failures, how a run
//! ended, and the errors of starting and running a host.

use crate::{plugin::PluginError, store::StoreError};

/// Whether a plugin is a source or a reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// A source.
    Source,
    /// A reaction.
    Reaction,
}

/// One plugin's failure: which plugin, and what happened.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?} {id:?} failed: {message}")]
pub struct PluginFailure {
    /// The plugin id.
    pub id: String,
    /// Source or reaction.
    pub kind: PluginKind,
    /// The error or panic message.
    pub message: String,
    /// The plugin failed on a store error its provider marked temporary
    /// (a lost connection, a file in use): running it again may succeed.
    pub temporary: bool,
    /// Another host instance took the plugin's store over (see
    /// [`Fenced`](crate::runtime::Fenced)): this instance stopped it, and the
    /// new owner goes on from the checkpoint.
    pub fenced: bool,
}

/// A host-level error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// Reading or writing checkpoints failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A checkpoint in a plugin's store is not a position.
    #[error("checkpoint {key:?} of plugin {plugin:?} is not a position ({value:?}); fix or delete it with `stateplug state`")]
    BadCheckpoint {
        /// The plugin.
        plugin: String,
        /// The key.
        key: String,
        /// What was stored.
        value: String,
    },
    /// A bootstrap provider failed.
    #[error("bootstrap of source {source_id:?} failed: {error}")]
    Bootstrap {
        /// The source.
        source_id: String,
        /// The error.
        error: PluginError,
    },
    /// A plugin's provider cannot make a write conditional on ownership, so
    /// two hosts running the plugin could both commit.
    #[error(
        "plugin {plugin:?} cannot be fenced: its provider {provider} lacks {missing}; \
             use a provider with compare-and-set and transactions (memory, redb, postgres)"
    )]
    CannotFence {
        /// The plugin.
        plugin: String,
        /// The provider holding its state.
        provider: String,
        /// The capabilities it lacks.
        missing: String,
    },
    /// Plugins failed; the host stopped gracefully.
    #[error("the host stopped because plugins failed: {}", .0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
    PluginsFailed(Vec<PluginFailure>),
}

/// One plugin's figures at the end of a run or during it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginReport {
    /// The plugin id.
    pub id: String,
    /// Source or reaction.
    pub kind: PluginKind,
    /// Events emitted (source) or committed (reaction).
    pub events: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// The last checkpoint position.
    pub last_checkpoint: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Every plugin's figures.
    pub plugins: Vec<PluginReport>,
    /// Failures, in the order they happened (empty for a clean run).
    pub failures: Vec<PluginFailure>,
    /// The signal that stopped the run, if one did
    /// ([`RunningHost::run_until_shutdown`]).
    pub stopped_by: Option<StopSignal>,
}

/// A signal that asks a running host to stop gracefully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (what `kill`, systemd and Kubernetes send).
    Terminate,
}
