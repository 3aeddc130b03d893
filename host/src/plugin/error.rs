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
    /// Another host instance took this plugin's store over: the commit
    /// wrote nothing, and this instance stops.
    #[error(transparent)]
    Fenced(Box<crate::runtime::Fenced>),
    /// Any other failure, with its source error kept (`?` on any error
    /// through [`PluginError::other`], or a message through [`PluginError::msg`]).
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl PluginError {
    /// A failure described by `message`.
    pub fn msg(message: impl Into<String>) -> Self {
        PluginError::Other(message.into().into())
    }

    /// A failure caused by `error`, kept as the source.
    pub fn other(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        PluginError::Other(Box::new(error))
    }
}

/// The result of plugin code.
pub type PluginResult<T> = Result<T, PluginError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_error_is_kept_as_the_source() {
        let io = std::io::Error::other("disk gone");
        let err = PluginError::other(std::fmt::Error);
        assert!(matches!(err, PluginError::Other(_)));
        let err = PluginError::Other(Box::new(io));
        let source = match &err {
            PluginError::Other(e) => e.downcast_ref::<std::io::Error>(),
            _ => None,
        };
        assert_eq!(source.map(|e| e.to_string()).as_deref(), Some("disk gone"));
        assert_eq!(PluginError::msg("plain").to_string(), "plain");
    }
}
