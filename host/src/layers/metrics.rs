//! `MetricsLayer`: call latency, errors, bytes and commits of one provider,
//! recorded through the `metrics` facade.

use std::{future::Future, sync::OnceLock, time::Instant};

use metrics::{Counter, Histogram};

use crate::{
    layers::{Call, Layer},
    store::{Operation, StoreFuture, StoreResult, WriteOp, Written},
};

/// Latency of one store call, in seconds (histogram; labels `provider`, `operation`).
pub const CALL_DURATION: &str = "stateplug_store_call_duration_seconds";
/// Failed store calls (counter; labels `provider`, `operation`, `kind`).
pub const CALL_ERRORS: &str = "stateplug_store_errors_total";
/// Key and value bytes handed to writes (counter; labels `provider`, `operation`).
pub const BYTES_WRITTEN: &str = "stateplug_store_bytes_written_total";
/// Acknowledged writes of a durable provider (counter; label `provider`).
pub const DURABLE_COMMITS: &str = "stateplug_store_durable_commits_total";
/// Operations per acknowledged write: the group a commit carries
/// (histogram; label `provider`).
pub const WRITE_GROUP_SIZE: &str = "stateplug_store_write_group_size";

/// Every metric name this layer records.
pub const NAMES: &[&str] = &[
    CALL_DURATION,
    CALL_ERRORS,
    BYTES_WRITTEN,
    DURABLE_COMMITS,
    WRITE_GROUP_SIZE,
];

/// Slots in the handle table: one per [`Operation`] up to `WaitChanges`;
/// an operation past them registers its handles on every call instead.
const OPERATIONS: usize = Operation::WaitChanges as usize + 1;

/// The handles of one operation, registered on its first call.
struct OperationHandles {
    duration: Histogram,
    bytes_written: Counter,
}

/// Records every call of the wrapped store through the `metrics` facade
/// (wrap a store in it with [`Layered`](crate::layers::Layered)). The host
/// puts one around every provider it opens when asked to
/// ([`HostBuilder::record_metrics`](crate::HostBuilder::record_metrics)); an embedder installs a
/// recorder (for example `metrics-exporter-prometheus`) to collect them,
/// and without one recording costs a few atomic loads per call.
///
/// Recorded, with the label `provider` (the provider's name in the
/// configuration):
///
/// - [`CALL_DURATION`] per `operation`: every call's latency; `sync`
///   calls give the sync time;
/// - [`CALL_ERRORS`] per `operation` and `kind` (the error kind's label,
///   such as `version conflict`);
/// - [`BYTES_WRITTEN`] per `operation`: key and value bytes of each write;
/// - [`DURABLE_COMMITS`] and [`WRITE_GROUP_SIZE`]: each acknowledged write
///   of a durable provider, and how many operations it carried.
///
/// Each operation's handles are registered with the recorder on its first
/// call, so the recorder must be installed before the first call (before
/// [`HostBuilder::build`](crate::HostBuilder::build) for the host's stores).
pub struct MetricsLayer {
    provider: String,
    durable: bool,
    handles: [OnceLock<OperationHandles>; OPERATIONS],
    commits: OnceLock<(Counter, Histogram)>,
}

impl MetricsLayer {
    /// A layer recording under the label `provider = <provider>`; `durable`
    /// says whether the wrapped store's writes are commits to count.
    pub fn new(provider: &str, durable: bool) -> Self {
        MetricsLayer {
            provider: provider.to_string(),
            durable,
            handles: std::array::from_fn(|_| OnceLock::new()),
            commits: OnceLock::new(),
        }
    }

    fn register(&self, operation: Operation) -> OperationHandles {
        let labels = [
            ("provider", self.provider.clone()),
            ("operation", operation.as_str().to_string()),
        ];
        OperationHandles {
            duration: metrics::histogram!(CALL_DURATION, &labels),
            bytes_written: metrics::counter!(BYTES_WRITTEN, &labels),
        }
    }

    /// Runs `f` with `operation`'s handles.
    fn with_handles(&self, operation: Operation, f: impl FnOnce(&OperationHandles)) {
        match self.handles.get(operation as usize) {
            Some(slot) => f(slot.get_or_init(|| self.register(operation))),
            None => f(&self.register(operation)),
        }
    }

    fn record<T>(&self, call: &Call<'_>, start: Instant, result: &StoreResult<T>) {
        let seconds = start.elapsed().as_secs_f64();
        self.with_handles(call.operation, |h| h.duration.record(seconds));
        if let Err(e) = result {
            metrics::counter!(
                CALL_ERRORS,
                "provider" => self.provider.clone(),
                "operation" => call.operation.as_str(),
                "kind" => e.kind().as_str(),
            )
            .increment(1);
        }
    }

    fn record_write(&self, call: &Call<'_>, result: &StoreResult<Written>) {
        let bytes: usize = call
            .ops
            .iter()
            .map(|op| match (op.as_put(), op) {
                (Some((key, value, _)), _) => key.len() + value.len(),
                (None, WriteOp::Delete { key } | WriteOp::Check { key, .. }) => key.len(),
                _ => 0,
            })
            .sum();
        self.with_handles(call.operation, |h| h.bytes_written.increment(bytes as u64));
        if self.durable && result.is_ok() {
            let (commits, group) = self.commits.get_or_init(|| {
                (
                    metrics::counter!(DURABLE_COMMITS, "provider" => self.provider.clone()),
                    metrics::histogram!(WRITE_GROUP_SIZE, "provider" => self.provider.clone()),
                )
            });
            commits.increment(1);
            group.record(call.ops.len() as f64);
        }
    }
}

impl Layer for MetricsLayer {
    async fn around<'a, T, F>(
        &'a self,
        call: Call<'a>,
        mut run: impl FnMut() -> F + Send + 'a,
    ) -> StoreResult<T>
    where
        T: Send + 'a,
        F: Future<Output = StoreResult<T>> + Send + 'a,
    {
        let start = Instant::now();
        let result = run().await;
        self.record(&call, start, &result);
        result
    }

    fn around_write<'a>(
        &'a self,
        call: Call<'a>,
        mut run: impl FnMut() -> StoreFuture<'a, Written> + Send + 'a,
    ) -> StoreFuture<'a, Written> {
        StoreFuture::boxed(async move {
            let start = Instant::now();
            let result = run().await;
            self.record(&call, start, &result);
            self.record_write(&call, &result);
            result
        })
    }
}
