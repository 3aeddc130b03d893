//! Sends a loaded provider's `tracing` events to the host's subscriber.
//!
//! A provider library carries its own copy of `tracing`, so its events reach
//! no subscriber of the host's. When the host opens a provider from a
//! library it passes a [`HostLogger`]; this module installs, in the
//! library's copy of `tracing`, a subscriber that formats each event and
//! hands it to that callback. Spans are not forwarded.

use std::{
    fmt::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering},
        OnceLock,
    },
};

use abi_stable::std_types::RStr;
use tracing_core::{
    field::{Field, Visit},
    span, Event, Interest, Level, LevelFilter, Metadata, Subscriber,
};

use crate::ffi::{HostLogger, LogLevel};

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Installs the forwarding subscriber once per library; later calls do nothing.
pub fn install(logger: HostLogger) {
    INSTALLED.get_or_init(|| {
        let forward = Forward {
            logger,
            next_span: AtomicU64::new(1),
        };
        // Another global subscriber may already be set if the provider set
        // one itself; then its choice stands.
        let _ = tracing_core::dispatcher::set_global_default(tracing_core::Dispatch::new(forward));
    });
}

fn to_wire(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::ERROR,
        Level::WARN => LogLevel::WARN,
        Level::INFO => LogLevel::INFO,
        Level::DEBUG => LogLevel::DEBUG,
        _ => LogLevel::TRACE,
    }
}

struct Forward {
    logger: HostLogger,
    next_span: AtomicU64,
}

impl Forward {
    fn wants(&self, metadata: &Metadata<'_>) -> bool {
        to_wire(metadata.level()) <= self.logger.max_level
    }
}

/// Collects an event's fields as `message key=value ...`.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            self.0.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }
}

impl Subscriber for Forward {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.wants(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match self.logger.max_level {
            LogLevel::ERROR => LevelFilter::ERROR,
            LogLevel::WARN => LevelFilter::WARN,
            LogLevel::INFO => LevelFilter::INFO,
            LogLevel::DEBUG => LevelFilter::DEBUG,
            LogLevel(0) => LevelFilter::OFF,
            _ => LevelFilter::TRACE,
        })
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.wants(metadata)
    }

    fn new_span(&self, _span: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}

    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = Text::default();
        event.record(&mut text);
        let metadata = event.metadata();
        (self.logger.log)(
            to_wire(metadata.level()),
            RStr::from_str(metadata.target()),
            RStr::from_str(&text.0),
        );
    }

    fn enter(&self, _span: &span::Id) {}

    fn exit(&self, _span: &span::Id) {}
}
