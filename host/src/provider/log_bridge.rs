//! Receives log records from loaded provider libraries and re-emits them
//! through the host's `tracing` subscriber.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::std_types::RStr;
use stateplug_provider_api::ffi::{HostLogger, LogLevel};
use tracing::level_filters::LevelFilter;

/// The callback passed to every provider opened from a library.
pub fn host_logger() -> HostLogger {
    let max_level = match LevelFilter::current() {
        LevelFilter::OFF => LogLevel(0),
        LevelFilter::ERROR => LogLevel::ERROR,
        LevelFilter::WARN => LogLevel::WARN,
        LevelFilter::INFO => LogLevel::INFO,
        LevelFilter::DEBUG => LogLevel::DEBUG,
        _ => LogLevel::TRACE,
    };
    HostLogger {
        max_level,
        log: receive,
    }
}

extern "C" fn receive(level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
    // A panic in a subscriber must not unwind into the provider's frames.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let (target, message) = (target.as_str(), message.as_str());
        match level {
            LogLevel::ERROR => {
                tracing::error!(target: "stateplug::provider", provider_target = target, "{message}")
            }
            LogLevel::WARN => {
                tracing::warn!(target: "stateplug::provider", provider_target = target, "{message}")
            }
            LogLevel::INFO => {
                tracing::info!(target: "stateplug::provider", provider_target = target, "{message}")
            }
            LogLevel::DEBUG => {
                tracing::debug!(target: "stateplug::provider", provider_target = target, "{message}")
            }
            _ => {
                tracing::trace!(target: "stateplug::provider", provider_target = target, "{message}")
            }
        }
    }));
}
