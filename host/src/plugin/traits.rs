//! The plugin kinds a host runs: sources emit events, reactions consume
//! them, bootstrap providers hand a new reaction a snapshot first.

use async_trait::async_trait;

use crate::plugin::{PluginResult, ReactionContext, Snapshot, SourceContext};

/// A source: produces events, for example from a file or a message queue.
#[async_trait]
pub trait Source: Send + Sync + 'static {
    /// The plugin id, unique in the host; also its store_id.
    fn id(&self) -> &str;

    /// Whether the source's checkpoints must survive a crash; a host with a
    /// non-durable provider refuses such a source at build time.
    fn requires_durable_state(&self) -> bool {
        false
    }

    /// Emits events from [`SourceContext::resume_position`] on, until
    /// [`SourceContext::stopped`] resolves; then returns `Ok(())`.
    async fn run(&self, ctx: SourceContext) -> PluginResult<()>;
}

/// A reaction: consumes the events of the sources it subscribes to.
#[async_trait]
pub trait Reaction: Send + Sync + 'static {
    /// The plugin id, unique in the host; also its store_id.
    fn id(&self) -> &str;

    /// The ids of the sources whose events it receives.
    fn subscriptions(&self) -> Vec<String>;

    /// Whether the reaction's checkpoints must survive a crash; a host with
    /// a non-durable provider refuses such a reaction at build time.
    fn requires_durable_state(&self) -> bool {
        false
    }

    /// Processes batches from [`ReactionContext::next_batch`], committing
    /// each with [`ReactionContext::commit`], until `next_batch` returns
    /// `None` (the sources stopped and everything was delivered).
    async fn run(&self, ctx: ReactionContext) -> PluginResult<()>;
}

/// Hands a reaction the current state of a source when the reaction first
/// subscribes (it has no checkpoint for that source yet), before live events.
#[async_trait]
pub trait BootstrapProvider: Send + Sync + 'static {
    /// The source whose data it snapshots.
    fn source_id(&self) -> &str;

    /// Takes the snapshot. Called before the source starts.
    async fn snapshot(&self) -> PluginResult<Snapshot>;
}
