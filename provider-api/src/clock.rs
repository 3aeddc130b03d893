//! [`Clock`]: the time a provider reads to tell expired keys.

use std::{
    fmt,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use crate::ffi::FfiClockBox;

/// Where a provider reads "now", in milliseconds since the unix epoch:
/// the host's clock, handed over at open in
/// [`OpenContext::clock`](crate::OpenContext::clock). A provider that
/// declares [`CapabilityFlags::TTL`](crate::CapabilityFlags::TTL) reads the
/// time from it and nowhere else, so that a host that moves its clock (a
/// test) moves the provider's too.
#[derive(Clone)]
pub struct Clock {
    source: Source,
}

#[derive(Clone)]
enum Source {
    System,
    Host(Arc<FfiClockBox>),
    Fn(Arc<dyn Fn() -> u64 + Send + Sync>),
}

impl Clock {
    /// The system clock.
    pub const SYSTEM: Clock = Clock {
        source: Source::System,
    };

    /// A clock that reads `now` (for a provider's own tests).
    pub fn from_fn(now: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Clock {
            source: Source::Fn(Arc::new(now)),
        }
    }

    /// The host's clock, as it crosses the boundary.
    #[doc(hidden)]
    pub fn from_host(clock: FfiClockBox) -> Self {
        Clock {
            source: Source::Host(Arc::new(clock)),
        }
    }

    /// Now, in milliseconds since the unix epoch.
    pub fn now_ms(&self) -> u64 {
        match &self.source {
            Source::System => system_now_ms(),
            Source::Host(clock) => clock.now_ms(),
            Source::Fn(now) => now(),
        }
    }

    /// Whether a key that expires at `expires_at_ms` has expired by now:
    /// a key is expired from its expiry on.
    pub fn expired(&self, expires_at_ms: Option<u64>) -> bool {
        expires_at_ms.is_some_and(|at| at <= self.now_ms())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::SYSTEM
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            Source::System => "system",
            Source::Host(_) => "host",
            Source::Fn(_) => "fn",
        };
        f.debug_struct("Clock").field("source", &source).finish()
    }
}

/// The system clock in unix milliseconds (0 before the epoch).
pub fn system_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn a_key_is_expired_from_its_expiry_on() {
        let now = Arc::new(AtomicU64::new(1_000));
        let clock = Clock::from_fn({
            let now = now.clone();
            move || now.load(Ordering::SeqCst)
        });
        assert!(!clock.expired(None));
        assert!(!clock.expired(Some(1_001)));
        assert!(clock.expired(Some(1_000)));
        now.store(5_000, Ordering::SeqCst);
        assert!(clock.expired(Some(1_001)));
        assert!(
            Clock::SYSTEM.now_ms() > 1_600_000_000_000,
            "system time is unix ms"
        );
    }
}
