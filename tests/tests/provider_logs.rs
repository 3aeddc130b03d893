//! A provider library's `tracing` events reach the host's subscriber.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use tracing::{field::Visit, Subscriber};
use tracing_subscriber::{layer::Context, prelude::*, Layer};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl<S: Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields(format!(
            "{} {} ",
            event.metadata().level(),
            event.metadata().target()
        ));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

#[test]
fn provider_events_are_forwarded_with_level_and_target() {
    let captured = Captured::default();
    tracing_subscriber::registry()
        .with(
            captured
                .clone()
                .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
        )
        .init();
    let dir = tempfile::tempdir().unwrap();
    let _store = stateplug_tests::load("stateplug-provider-redb")
        .open(&stateplug_tests::redb_config(dir.path()))
        .unwrap();
    let lines = captured.0.lock().unwrap().clone();
    let forwarded = lines
        .iter()
        .find(|l| l.contains("stateplug::provider") && l.contains("opened redb database"))
        .unwrap_or_else(|| panic!("the provider's debug event was not forwarded: {lines:#?}"));
    assert!(forwarded.starts_with("DEBUG"), "{forwarded}");
    assert!(
        forwarded.contains("stateplug_provider_redb"),
        "the provider's own target is kept: {forwarded}"
    );
}
