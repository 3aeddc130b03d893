//! The plugin kinds a host runs: sources emit events, reactions consume
//! them, bootstrap providers hand a new reaction a snapshot first.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{ReactionContext, SourceContext, StoreError};

/// An event a source emits.
///
/// `position` orders a source's events: it strictly increases, and a
/// source restarted from [`SourceContext::resume_position`] re-emits
/// nothing at or below it that a reaction has not already seen, so
/// reactions skip duplicates by position. For a file, the byte offset after
/// the line; for a counter, its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The id of the source that emitted it.
    pub source: Arc<str>,
    /// The event's position in its source's order.
    pub position: u64,
    /// The event's data.
    pub payload: Arc<[u8]>,
    /// Whether the event is part of a bootstrap snapshot rather than live.
    pub bootstrap: bool,
}

impl Event {
    /// The payload as UTF-8 text, if it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }

    /// The payload parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }
}

/// What a plugin's `run` may fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// A state store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing JSON failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An I/O operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Every reaction subscribed to the source has stopped.
    #[error("source {0}: no subscribed reaction is running any more")]
    Closed(String),
    /// A source emitted a position not greater than its previous one.
    #[error("source {source_id} emitted position {position} after {previous}; positions must strictly increase")]
    PositionNotIncreasing {
        /// The source.
        source_id: String,
        /// The offending position.
        position: u64,
        /// The previous position.
        previous: u64,
    },
    /// Any other failure, described.
    #[error("{0}")]
    Other(String),
}

impl PluginError {
    /// A failure described by `message`.
    pub fn msg(message: impl Into<String>) -> Self {
        PluginError::Other(message.into())
    }
}

/// The result of plugin code.
pub type PluginResult<T> = Result<T, PluginError>;

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

/// A snapshot of a source's data as of one of its positions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The source position the snapshot reflects: live events at or below
    /// it are already in the snapshot.
    pub position: u64,
    /// The snapshot's items, delivered as events of that position.
    pub items: Vec<Vec<u8>>,
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
