//! `TracingLayer`: one `tracing` event per store call.

use std::{future::Future, time::Instant};

use ::tracing::{Instrument, Level, Span};

use crate::{
    layers::{Call, Layer},
    store::StoreResult,
};

/// Logs every call of the wrapped store through `tracing` (wrap a store in
/// it with [`Layered`](crate::layers::Layered)).
///
/// Each data call ends with one event carrying the fields `operation`
/// ([`Operation::as_str`](crate::Operation::as_str)), `provider` (the
/// provider's name), `store_id` (empty for whole-provider calls), `outcome`
/// (`ok`, or the error kind's label such as `version conflict`) and
/// `duration_us` (microseconds). Failed calls also carry `error` (the
/// provider's message).
///
/// - A call that succeeds is logged at TRACE and runs inside a TRACE span
///   `store_op` with the operation, provider and store_id, so that events
///   the provider emits during the call are attributed to it.
/// - A call that fails is logged at DEBUG, not WARN: conflicts and refused
///   input are normal outcomes that the caller handles.
/// - When neither level is enabled for this module, the call goes straight
///   to the wrapped store: no clock read, no span, no allocation.
///
/// Events use the target `stateplug::layers::tracing`, so
/// `RUST_LOG=stateplug::layers=trace` shows every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingLayer;

impl Layer for TracingLayer {
    async fn around<'a, T, F>(
        &'a self,
        call: Call<'a>,
        mut run: impl FnMut() -> F + Send + 'a,
    ) -> StoreResult<T>
    where
        T: Send + 'a,
        F: Future<Output = StoreResult<T>> + Send + 'a,
    {
        let trace_on = ::tracing::enabled!(Level::TRACE);
        if !trace_on && !::tracing::enabled!(Level::DEBUG) {
            return run().await;
        }
        let (operation, provider, store_id) =
            (call.operation.as_str(), call.provider, call.store_id);
        let span = if trace_on {
            ::tracing::trace_span!("store_op", operation, provider, store_id)
        } else {
            Span::none()
        };
        let start = Instant::now();
        let result = run().instrument(span).await;
        let duration_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        match &result {
            Ok(_) => ::tracing::trace!(
                operation,
                provider,
                store_id,
                outcome = "ok",
                duration_us,
                "store call"
            ),
            Err(e) => ::tracing::debug!(
                operation,
                provider,
                store_id,
                outcome = e.kind().as_str(),
                duration_us,
                error = e.message.as_str(),
                "store call failed"
            ),
        }
        result
    }
}
