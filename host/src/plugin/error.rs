//! [`PluginError`]: what plugin code may fail with.

use crate::store::StoreError;

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
