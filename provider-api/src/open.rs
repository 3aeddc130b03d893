//! [`OpenContext`]: what the host asks of a provider instance it opens.

use crate::Clock;

/// What the host asks of an instance when it opens one (see
/// [`Provider::open_with`](crate::Provider::open_with)).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OpenContext {
    /// The instance is only read (`stateplug state keys`, `dump`, ...):
    /// open existing storage, create nothing (no file, no folder, no table),
    /// and say clearly when the storage does not exist. Writes may be
    /// refused.
    pub read_only: bool,
    /// The host's clock: where a provider that declares
    /// [`CapabilityFlags::TTL`](crate::CapabilityFlags::TTL) reads the time
    /// (the system clock when the host gives none).
    pub clock: Clock,
}

impl OpenContext {
    /// An open for reading and writing, creating storage as needed.
    pub const READ_WRITE: OpenContext = OpenContext {
        read_only: false,
        clock: Clock::SYSTEM,
    };

    /// An open for reading only.
    pub const READ_ONLY: OpenContext = OpenContext {
        read_only: true,
        clock: Clock::SYSTEM,
    };

    /// This context reading the time from `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}
