//! `StoreError`: an operation on a store failed.

pub use stateplug_provider_api::ErrorKind;
use stateplug_provider_api::ProviderError;

use crate::store::Operation;

/// An operation on a store failed.
///
/// Carries the operation, the provider, the store_id, and the provider's
/// error kind and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} on store {store_id:?} failed in provider {provider}: {kind}: {message}")]
#[non_exhaustive]
pub struct StoreError {
    /// The operation that failed.
    pub operation: Operation,
    /// The provider's name.
    pub provider: String,
    /// The store_id the operation named (empty for whole-provider operations).
    pub store_id: String,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The provider's message.
    pub message: String,
    /// Whether retrying the same call may succeed.
    pub temporary: bool,
}

impl StoreError {
    /// Wraps a provider's error with the call's context.
    pub fn from_provider(
        operation: Operation,
        provider: &str,
        store_id: &str,
        err: ProviderError,
    ) -> Self {
        StoreError {
            operation,
            provider: provider.to_string(),
            store_id: store_id.to_string(),
            kind: err.kind(),
            message: err.message().to_string(),
            temporary: err.is_temporary(),
        }
    }

    /// An error raised by the host itself about a call.
    pub fn host(
        operation: Operation,
        provider: &str,
        store_id: &str,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        StoreError {
            operation,
            provider: provider.to_string(),
            store_id: store_id.to_string(),
            kind,
            message: message.into(),
            temporary: false,
        }
    }

    /// The error kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether this is a version conflict or an already-exists refusal of a
    /// conditional write: the caller should re-read and retry.
    pub fn is_conflict(&self) -> bool {
        self.kind == ErrorKind::VERSION_CONFLICT || self.kind == ErrorKind::ALREADY_EXISTS
    }
}

/// The result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;
