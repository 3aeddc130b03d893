//! `RetryLayer`: retries calls that failed with a temporary error, a
//! bounded number of times with exponential backoff.
//!
//! Only calls that are safe to repeat are retried
//! ([`Call::is_repeatable`]): reads, and writes whose repetition leaves the
//! same state (puts, deletes and clears without a version check). A
//! conditional write (compare-and-set, compare-and-delete, a transaction
//! with checks) is not: a temporary error there can mean "outcome unknown"
//! (a lost connection during commit), and repeating it could conflict with
//! itself. Its errors reach the caller unchanged.

use std::{future::Future, time::Duration};

use crate::{
    layers::{Call, Layer},
    store::StoreResult,
};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the first retry; doubled for each further one.
    pub first_backoff: Duration,
    /// The longest single wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// Retries temporary failures of the wrapped store (wrap a store in it
/// with [`Layered`](crate::layers::Layered)).
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryLayer {
    policy: RetryPolicy,
}

impl RetryLayer {
    /// A layer retrying with `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        RetryLayer { policy }
    }
}

impl Layer for RetryLayer {
    /// Runs the call until it succeeds, fails permanently, or the attempts
    /// run out; the last error says how many attempts were made.
    async fn around<'a, T, F>(
        &'a self,
        call: Call<'a>,
        mut run: impl FnMut() -> F + Send + 'a,
    ) -> StoreResult<T>
    where
        T: Send + 'a,
        F: Future<Output = StoreResult<T>> + Send + 'a,
    {
        if !call.is_repeatable() {
            return run().await;
        }
        let attempts = self.policy.attempts.max(1);
        let mut backoff = self.policy.first_backoff;
        let mut tried = 0;
        loop {
            tried += 1;
            match run().await {
                Err(e) if e.temporary && tried < attempts => {
                    tracing::debug!(operation = %call.operation, provider = %e.provider, store_id = %e.store_id,
                        attempt = tried, error = %e.message, "temporary failure; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.policy.max_backoff);
                }
                Err(mut e) if e.temporary => {
                    e.message = format!("{} (gave up after {tried} attempts)", e.message);
                    return Err(e);
                }
                other => return other,
            }
        }
    }
}
