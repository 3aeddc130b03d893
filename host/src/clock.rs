//! [`Clock`]: the host's time, which says when keys with a time to live
//! expire.
//!
//! Invariant: a store computes a put's expiry from its clock, and the
//! provider behind it reads "now" from the same clock (handed over at open
//! across the boundary), so moving the clock moves both sides at once.

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use abi_stable::sabi_trait::TD_Opaque;
use stateplug_provider_api::{
    ffi::{FfiClock, FfiClockBox, FfiClock_TO},
    system_now_ms,
};

/// The time of a store: the system clock, moved forward by
/// [`Clock::advance`]. Clones share one time. A host passes its clock to
/// every provider it opens (see `HostBuilder::clock`); a test moves it to
/// expire keys without waiting.
#[derive(Clone, Default)]
pub struct Clock {
    /// How far this clock is ahead of the system clock, in milliseconds.
    ahead_ms: Arc<AtomicU64>,
}

impl Clock {
    /// A clock reading the system time, of its own (moving it moves no
    /// other clock).
    pub fn system() -> Self {
        Clock::default()
    }

    /// Now, in milliseconds since the unix epoch.
    pub fn now_ms(&self) -> u64 {
        system_now_ms().saturating_add(self.ahead_ms.load(Ordering::SeqCst))
    }

    /// Moves this clock (and every clone, and every provider opened with
    /// it) forward by `by`. Time never goes back.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |ahead| {
                Some(ahead.saturating_add(ms))
            })
            .ok();
    }

    /// The unix-millisecond expiry of a write issued now with time to live `ttl`.
    pub fn expiry_after(&self, ttl: Duration) -> u64 {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.now_ms().saturating_add(ms)
    }

    /// The clock as a provider reads it across the boundary.
    pub(crate) fn to_provider(&self) -> FfiClockBox {
        FfiClock_TO::from_value(self.clone(), TD_Opaque)
    }

    /// The clock as an in-process provider reads it.
    pub(crate) fn to_provider_clock(&self) -> stateplug_provider_api::Clock {
        stateplug_provider_api::Clock::from_host(self.to_provider())
    }
}

impl FfiClock for Clock {
    fn now_ms(&self) -> u64 {
        Clock::now_ms(self)
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock")
            .field("ahead_ms", &self.ahead_ms.load(Ordering::SeqCst))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_clone_and_the_provider_side() {
        let clock = Clock::system();
        let provider_side = clock.to_provider_clock();
        let other = Clock::system();
        let before = clock.now_ms();
        clock.clone().advance(Duration::from_secs(3_600));
        assert!(clock.now_ms() >= before + 3_600_000);
        assert!(provider_side.now_ms() >= before + 3_600_000);
        assert!(other.now_ms() < before + 3_600_000, "another clock stays");
        assert!(clock.expiry_after(Duration::from_secs(10)) >= before + 3_610_000);
    }
}
