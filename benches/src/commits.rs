//! Counts the durable commits a provider library reports through `tracing`
//! (target `stateplug_provider_redb::commit`, field `writes`), to report
//! acknowledged writes per fsync.

use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{field::Visit, Subscriber};
use tracing_subscriber::{layer::Context, prelude::*, Layer};

static COMMITS: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);

struct CountCommits;

struct Writes(u64);

impl Visit for Writes {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "writes" {
            self.0 = value;
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            // The bridge forwards provider events as text: "group commit writes=N".
            let text = format!("{value:?}");
            if let Some(n) = text
                .split("writes=")
                .nth(1)
                .and_then(|t| t.trim_matches('"').split_whitespace().next())
            {
                self.0 = n.parse().unwrap_or(self.0);
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for CountCommits {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut provider_target = String::new();
        struct Target<'a>(&'a mut String);
        impl Visit for Target<'_> {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "provider_target" {
                    self.0.push_str(value);
                }
            }
            fn record_debug(
                &mut self,
                _field: &tracing::field::Field,
                _value: &dyn std::fmt::Debug,
            ) {
            }
        }
        event.record(&mut Target(&mut provider_target));
        if provider_target != "stateplug_provider_redb::commit" {
            return;
        }
        let mut writes = Writes(0);
        event.record(&mut writes);
        COMMITS.fetch_add(1, Ordering::Relaxed);
        WRITES.fetch_add(writes.0, Ordering::Relaxed);
    }
}

/// Installs the counting subscriber (TRACE, so providers opened after this forward commit events).
pub fn install() {
    tracing_subscriber::registry()
        .with(CountCommits.with_filter(tracing_subscriber::filter::LevelFilter::TRACE))
        .init();
}

/// (commits, writes) counted so far.
pub fn snapshot() -> (u64, u64) {
    (
        COMMITS.load(Ordering::Relaxed),
        WRITES.load(Ordering::Relaxed),
    )
}
