//! Counts the durable commits of stateplug's contenders from the host's
//! own counter, [`DURABLE_COMMITS`], which the `MetricsLayer` wrapping each
//! of them increments once per provider call that acknowledged writes, to
//! report acknowledged writes per fsync.
//!
//! The recorder is the Prometheus one `stateplug run --metrics-addr`
//! installs, with that counter's increments also added to a total here. An
//! earlier version counted the provider's `tracing` commit events, which
//! made the provider format and forward one event per commit inside every
//! timed call (about 10 µs of a durable set on a 2-vCPU machine, more than
//! the provider's own work), a cost no other contender paid.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use stateplug::layers::metrics::{CALL_DURATION, DURABLE_COMMITS};

static COMMITS: AtomicU64 = AtomicU64::new(0);

/// The Prometheus recorder, with [`DURABLE_COMMITS`] also counted in [`COMMITS`].
struct CountingRecorder(PrometheusRecorder);

/// A [`DURABLE_COMMITS`] handle: the recorder's, plus the total here.
struct Counted(Counter);

impl CounterFn for Counted {
    fn increment(&self, value: u64) {
        COMMITS.fetch_add(value, Ordering::Relaxed);
        self.0.increment(value);
    }

    fn absolute(&self, value: u64) {
        self.0.absolute(value);
    }
}

impl Recorder for CountingRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        let counter = self.0.register_counter(key, metadata);
        if key.name() == DURABLE_COMMITS {
            return Counter::from_arc(Arc::new(Counted(counter)));
        }
        counter
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.register_histogram(key, metadata)
    }
}

/// Installs the recorder (latency buckets for the call histogram, as the
/// command sets them). Stores opened after this and wrapped in a
/// `MetricsLayer` are counted.
pub fn install() {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(CALL_DURATION.to_string()),
            &[
                1e-6, 5e-6, 2.5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 2.5e-2, 0.1, 0.5, 2.5, 10.0,
            ],
        )
        .expect("buckets")
        .build_recorder();
    metrics::set_global_recorder(CountingRecorder(recorder)).expect("the bench's recorder");
}

/// Durable commits counted so far.
pub fn snapshot() -> u64 {
    COMMITS.load(Ordering::Relaxed)
}
