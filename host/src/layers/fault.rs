//! `FaultLayer`: injects failures and delays, for testing how the host and
//! plugins behave when the store misbehaves.
//!
//! Rules are checked before each call reaches the wrapped store: fail the
//! Nth call, fail every call of one operation, delay one operation. A
//! failing rule produces an error of the chosen kind, temporary or not,
//! exactly as a provider would report it. One rule acts after the call
//! instead: a lost answer lets the call reach the store and be applied, then
//! reports `OUTCOME_UNKNOWN`, as a connection that dies after COMMIT does.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use std::future::Future;

use crate::{
    layers::{Call, Layer},
    store::{ErrorKind, Operation, StoreError, StoreResult},
};

/// The error a rule injects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The error kind.
    pub kind: ErrorKind,
    /// Whether the error is marked temporary.
    pub temporary: bool,
    /// The message.
    pub message: String,
}

impl Fault {
    /// A temporary `UNAVAILABLE` error.
    pub fn temporary(message: impl Into<String>) -> Self {
        Fault {
            kind: ErrorKind::UNAVAILABLE,
            temporary: true,
            message: message.into(),
        }
    }

    /// A permanent error of `kind`.
    pub fn permanent(kind: ErrorKind, message: impl Into<String>) -> Self {
        Fault {
            kind,
            temporary: false,
            message: message.into(),
        }
    }
}

#[derive(Default)]
struct Rules {
    /// Call number (from 1) -> fault, each used once.
    nth: HashMap<u64, Fault>,
    /// Operation -> (fault, remaining uses; None = every call).
    by_operation: HashMap<Operation, (Fault, Option<u32>)>,
    delays: HashMap<Operation, Duration>,
    /// Operation -> how many more of its calls are applied with the answer lost.
    lost_answers: HashMap<Operation, u32>,
}

/// Injects the configured faults into the calls of the wrapped store (wrap
/// a store in it with [`Layered`](crate::layers::Layered)).
#[derive(Default)]
pub struct FaultLayer {
    calls: AtomicU64,
    rules: Mutex<Rules>,
}

impl FaultLayer {
    /// A layer with no faults.
    pub fn new() -> Self {
        FaultLayer::default()
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails the `n`th call from now on (1 = the next call), once.
    pub fn fail_nth(&self, n: u64, fault: Fault) {
        let at = self.calls.load(Ordering::SeqCst) + n.max(1);
        self.rules().nth.insert(at, fault);
    }

    /// Fails every call of `op` (`times: None`) or the next `times` calls.
    pub fn fail_operation(&self, op: Operation, fault: Fault, times: Option<u32>) {
        self.rules().by_operation.insert(op, (fault, times));
    }

    /// Delays every call of `op` by `delay` before it reaches the store.
    pub fn delay_operation(&self, op: Operation, delay: Duration) {
        self.rules().delays.insert(op, delay);
    }

    /// Applies the next `times` calls of `op` to the store and then answers
    /// each with a temporary `OUTCOME_UNKNOWN` error (the call's effect is
    /// stored; only its answer is lost).
    pub fn lose_answers(&self, op: Operation, times: u32) {
        self.rules().lost_answers.insert(op, times);
    }

    /// Whether this call of `op` loses its answer (and uses up one loss).
    fn loses_answer(&self, op: Operation) -> bool {
        let mut rules = self.rules();
        match rules.lost_answers.get_mut(&op) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }

    /// Removes every rule.
    pub fn clear(&self) {
        *self.rules() = Rules::default();
    }

    /// How many calls reached this layer.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Applies the rules to one call of `op`.
    async fn enter(&self, op: Operation, provider: &str, store_id: &str) -> StoreResult<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let (fault, delay) = {
            let mut rules = self.rules();
            let mut fault = rules.nth.remove(&n);
            if fault.is_none() {
                if let Some((f, remaining)) = rules.by_operation.get_mut(&op) {
                    match remaining {
                        None => fault = Some(f.clone()),
                        Some(0) => {}
                        Some(left) => {
                            *left -= 1;
                            fault = Some(f.clone());
                        }
                    }
                }
            }
            (fault, rules.delays.get(&op).copied())
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        match fault {
            Some(f) => {
                let mut err = StoreError::host(op, provider, store_id, f.kind, f.message);
                err.temporary = f.temporary;
                Err(err)
            }
            None => Ok(()),
        }
    }
}

impl Layer for FaultLayer {
    async fn around<'a, T, F>(
        &'a self,
        call: Call<'a>,
        mut run: impl FnMut() -> F + Send + 'a,
    ) -> StoreResult<T>
    where
        T: Send + 'a,
        F: Future<Output = StoreResult<T>> + Send + 'a,
    {
        self.enter(call.operation, call.provider, call.store_id)
            .await?;
        let answer = run().await?;
        if self.loses_answer(call.operation) {
            let mut err = StoreError::host(
                call.operation,
                call.provider,
                call.store_id,
                ErrorKind::OUTCOME_UNKNOWN,
                "injected: the call was applied and its answer lost",
            );
            err.temporary = true;
            return Err(err);
        }
        Ok(answer)
    }
}
