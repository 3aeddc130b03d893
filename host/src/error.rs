//! [`Error`]: every stateplug error, whatever phase it comes from.

use crate::{provider::LoadError, store::StoreError};

/// Any stateplug error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Loading or opening a provider failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
