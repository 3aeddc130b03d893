//! [`OpenContext`]: what the host asks of a provider instance it opens.

/// What the host asks of an instance when it opens one (see
/// [`Provider::open_with`](crate::Provider::open_with)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OpenContext {
    /// The instance is only read (`stateplug state keys`, `dump`, ...):
    /// open existing storage, create nothing (no file, no folder, no table),
    /// and say clearly when the storage does not exist. Writes may be
    /// refused.
    pub read_only: bool,
}

impl OpenContext {
    /// An open for reading and writing, creating storage as needed.
    pub const READ_WRITE: OpenContext = OpenContext { read_only: false };

    /// An open for reading only.
    pub const READ_ONLY: OpenContext = OpenContext { read_only: true };
}
