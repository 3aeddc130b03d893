//! `MetricsLayer`: call latency, errors, bytes and commits of one provider,
//! recorded through the `metrics` facade.

use std::{future::Future, sync::OnceLock, time::Instant};

use metrics::{Counter, Histogram};

use self::get_counts::{GetCounts, Mine};
use crate::{
    layers::{Call, Layer},
    store::{Operation, StoreFuture, StoreResult, WriteOp, Written},
};

mod get_counts;

/// Store calls (counter; labels `provider`, `operation`): every call.
pub const CALLS: &str = "stateplug_store_calls_total";
/// Latency of store calls, in seconds (histogram; labels `provider`,
/// `operation`): every call the provider answers later, and one in 64 of
/// the calls it answers at once (inline reads of the memory provider),
/// whose timing would cost as much as the call.
pub const CALL_DURATION: &str = "stateplug_store_call_duration_seconds";
/// Failed store calls (counter; labels `provider`, `operation`, `kind`).
pub const CALL_ERRORS: &str = "stateplug_store_errors_total";
/// Key and value bytes handed to writes (counter; labels `provider`, `operation`).
pub const BYTES_WRITTEN: &str = "stateplug_store_bytes_written_total";
/// Key and value bytes that reads answered with (counter; labels
/// `provider`, `operation`).
pub const BYTES_READ: &str = "stateplug_store_bytes_read_total";
/// Commits of a durable provider: its calls that acknowledged writes, one
/// per group of writes it committed together (counter; label `provider`).
pub const DURABLE_COMMITS: &str = "stateplug_store_durable_commits_total";
/// Writes per durable commit: the size of each group the provider
/// committed together (histogram; label `provider`).
pub const WRITE_GROUP_SIZE: &str = "stateplug_store_write_group_size";
/// How long each durable commit took, in seconds, from the write call to
/// its durable acknowledgement: the provider's sync and any wait for a
/// group included (histogram; label `provider`). One per commit, as
/// [`DURABLE_COMMITS`] counts them.
pub const COMMIT_DURATION: &str = "stateplug_store_commit_duration_seconds";

/// Every metric name this layer records.
pub const NAMES: &[&str] = &[
    CALLS,
    CALL_DURATION,
    CALL_ERRORS,
    BYTES_WRITTEN,
    BYTES_READ,
    DURABLE_COMMITS,
    WRITE_GROUP_SIZE,
    COMMIT_DURATION,
];

/// One in this many gets answered at once is timed (per thread).
const INLINE_SAMPLE: u64 = 64;

/// Slots in the handle table: one per [`Operation`] up to `Expiries`;
/// an operation past them registers its handles on every call instead.
const OPERATIONS: usize = Operation::Expiries as usize + 1;

/// The handles of one operation, registered on its first call (`get`'s
/// when the layer is made).
struct OperationHandles {
    calls: Counter,
    duration: Histogram,
    bytes_written: Counter,
    bytes_read: Counter,
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
/// - [`CALLS`] per `operation`: every call. `get` calls, and the bytes
///   they read, are counted per thread and reach the recorder within a
///   second (and all of them when the layer is dropped): counting them
///   through the recorder's handles cost a fifth of a memory get;
/// - [`CALL_DURATION`] per `operation`: the latency of every call the
///   provider answers later, and of one in 64 calls it answers at once
///   (per thread); `sync` calls give the time of an explicit sync;
/// - [`CALL_ERRORS`] per `operation` and `kind` (the error kind's label,
///   such as `version conflict`);
/// - [`BYTES_WRITTEN`] per `operation`: key and value bytes of each write;
/// - [`BYTES_READ`] per `operation`: key and value bytes each read of
///   values (`get`, `get_entry`, `get_many`, `scan`, `history`,
///   `get_version`) answered with;
/// - [`DURABLE_COMMITS`], [`WRITE_GROUP_SIZE`] and [`COMMIT_DURATION`]:
///   each commit of a durable provider, how many writes (of concurrent
///   callers) it acknowledged together, and how long it took, its sync
///   included. The first acknowledged write of each commit records it, so
///   a commit whose first caller stopped waiting for its answer is not
///   counted.
///
/// A `get` the provider answers at once stays an unboxed, ready answer
/// through this layer.
///
/// The `get` handles are registered with the recorder when the layer is
/// made, and each other operation's on its first call, so the recorder
/// must be installed before the layer is made (before
/// [`HostBuilder::build`](crate::HostBuilder::build) for the host's stores).
pub struct MetricsLayer {
    provider: String,
    durable: bool,
    handles: [OnceLock<OperationHandles>; OPERATIONS],
    /// The durable commits, their group sizes and their durations.
    commits: OnceLock<(Counter, Histogram, Histogram)>,
    gets: GetCounts,
}

impl MetricsLayer {
    /// A layer recording under the label `provider = <provider>`; `durable`
    /// says whether the wrapped store's writes are commits to count.
    pub fn new(provider: &str, durable: bool) -> Self {
        let get = register(provider, Operation::Get);
        // The per-thread get counts are published to these handles.
        let gets = GetCounts::new(&get.calls, &get.bytes_read);
        let handles = std::array::from_fn(|_| OnceLock::new());
        let _ = handles[Operation::Get as usize].set(get);
        MetricsLayer {
            provider: provider.to_string(),
            durable,
            handles,
            commits: OnceLock::new(),
            gets,
        }
    }

    /// Runs `f` with `operation`'s handles.
    #[inline]
    fn with_handles(&self, operation: Operation, f: impl FnOnce(&OperationHandles)) {
        match self.handles.get(operation as usize) {
            Some(slot) => f(slot.get_or_init(|| register(&self.provider, operation))),
            None => f(&register(&self.provider, operation)),
        }
    }

    /// Counts one call, and its latency if it was timed (`start`).
    fn record<T>(&self, call: &Call<'_>, start: Option<Instant>, result: &StoreResult<T>) {
        let seconds = start.map(|s| s.elapsed().as_secs_f64());
        self.with_handles(call.operation, |h| {
            h.calls.increment(1);
            if let Some(seconds) = seconds {
                h.duration.record(seconds);
            }
        });
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

    /// Records a `get` answered with `result`, timed from `start` if it
    /// was timed: counted on `mine`, this thread's counts (see
    /// [`get_counts`]), or through the handles when there are none.
    #[inline]
    fn record_get(
        &self,
        call: &Call<'_>,
        mine: Option<Mine>,
        start: Option<Instant>,
        result: &GetResult,
    ) {
        let Ok(found) = result else {
            return self.record(call, start, result);
        };
        let bytes = read_len(found);
        if let Some(mine) = mine {
            mine.count(bytes);
            if start.is_none() {
                return;
            }
        }
        self.record_get_on_handles(call, mine.is_none(), start, bytes);
    }

    /// The part of [`Self::record_get`] that goes through the recorder's
    /// handles: the latency of a timed call, and the counts of a call not
    /// counted per thread (`count`).
    #[cold]
    fn record_get_on_handles(
        &self,
        call: &Call<'_>,
        count: bool,
        start: Option<Instant>,
        bytes: u64,
    ) {
        self.with_handles(call.operation, |h| {
            if count {
                h.calls.increment(1);
                h.bytes_read.increment(bytes);
            }
            if let Some(start) = start {
                h.duration.record(start.elapsed().as_secs_f64());
            }
        });
    }

    /// Records a `get` that was timed from `timed`, failed, or whose
    /// answer comes later (then timed from `timed` or from now, as every
    /// such call is, and recorded when it comes).
    #[cold]
    #[inline(never)]
    fn get_answered<'a>(
        &'a self,
        call: Call<'a>,
        mine: Option<Mine>,
        timed: Option<Instant>,
        answer: StoreFuture<'a, Option<Vec<u8>>>,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        if let Some(result) = answer.ready_answer() {
            self.record_get(&call, mine, timed, result);
            return answer;
        }
        let start = timed.unwrap_or_else(Instant::now);
        StoreFuture::boxed(async move {
            let result = answer.await;
            // Counted on the thread the answer came to.
            self.record_get(&call, self.gets.on_this_thread(), Some(start), &result);
            result
        })
    }

    fn record_write(&self, call: &Call<'_>, start: Instant, result: &StoreResult<Written>) {
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
        let writes = match result {
            Ok(written) if self.durable => written.commit_writes(),
            _ => 0,
        };
        if writes > 0 {
            let (commits, group, took) = self.commits.get_or_init(|| {
                (
                    metrics::counter!(DURABLE_COMMITS, "provider" => self.provider.clone()),
                    metrics::histogram!(WRITE_GROUP_SIZE, "provider" => self.provider.clone()),
                    metrics::histogram!(COMMIT_DURATION, "provider" => self.provider.clone()),
                )
            });
            commits.increment(1);
            group.record(f64::from(writes));
            took.record(start.elapsed().as_secs_f64());
        }
    }
}

/// Registers `operation`'s handles under the label `provider`.
fn register(provider: &str, operation: Operation) -> OperationHandles {
    let labels = [
        ("provider", provider.to_string()),
        ("operation", operation.as_str().to_string()),
    ];
    OperationHandles {
        calls: metrics::counter!(CALLS, &labels),
        duration: metrics::histogram!(CALL_DURATION, &labels),
        bytes_written: metrics::counter!(BYTES_WRITTEN, &labels),
        bytes_read: metrics::counter!(BYTES_READ, &labels),
    }
}

/// What a `get` answers.
type GetResult = StoreResult<Option<Vec<u8>>>;

/// The bytes a `get` read.
#[inline]
fn read_len(found: &Option<Vec<u8>>) -> u64 {
    found.as_ref().map_or(0, |value| value.len() as u64)
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
        self.record(&call, Some(start), &result);
        result
    }

    #[inline]
    fn around_get<'a>(
        &'a self,
        call: Call<'a>,
        mut run: impl FnMut() -> StoreFuture<'a, Option<Vec<u8>>> + Send + 'a,
    ) -> StoreFuture<'a, Option<Vec<u8>>> {
        // The common call: counted on this thread, not timed, answered at once.
        let mine = self.gets.on_this_thread();
        if let Some(mine) = mine.filter(|mine| !mine.times_next(INLINE_SAMPLE)) {
            let answer = run();
            if let Some(Ok(found)) = answer.ready_answer() {
                mine.count(read_len(found));
                return answer;
            }
            return self.get_answered(call, Some(mine), None, answer);
        }
        // Timed: one call in `INLINE_SAMPLE` on this thread, and every call
        // not counted per thread.
        let start = Instant::now();
        self.get_answered(call, mine, Some(start), run())
    }

    fn read_bytes(&self, call: &Call<'_>, bytes: u64) {
        self.with_handles(call.operation, |h| h.bytes_read.increment(bytes));
    }

    fn around_write<'a>(
        &'a self,
        call: Call<'a>,
        mut run: impl FnMut() -> StoreFuture<'a, Written> + Send + 'a,
    ) -> StoreFuture<'a, Written> {
        StoreFuture::boxed(async move {
            let start = Instant::now();
            let result = run().await;
            self.record(&call, Some(start), &result);
            self.record_write(&call, start, &result);
            result
        })
    }
}
