//! [`StoreFuture`]: the future of [`StateStore::get`](crate::StateStore::get)
//! and [`StateStore::write`](crate::StateStore::write).
//!
//! `#[async_trait]` boxes every call's future: an allocation, a free and an
//! indirect poll, a fifth of what a get from the memory provider costs.
//! A call the provider answers on the calling task (an inline read or
//! write) has its result before the future exists, so it comes back ready,
//! unboxed; other calls come back boxed.
//!
//! A ready answer still takes part in tokio's cooperative budget: when the
//! task has used its budget, the first poll returns `Pending` (and wakes the
//! task at once), so a loop of inline calls lets the other tasks of its
//! worker run, as a loop over a channel would.

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

use futures::future::BoxFuture;

use crate::store::StoreResult;

/// A store call's answer: ready at once, or still to be driven.
#[must_use = "futures do nothing unless awaited"]
pub struct StoreFuture<'a, T>(Answer<'a, T>);

enum Answer<'a, T> {
    /// Answered already (taken by the poll that returns it).
    Ready(Option<StoreResult<T>>),
    /// Still to be driven.
    Boxed(BoxFuture<'a, StoreResult<T>>),
}

impl<'a, T> StoreFuture<'a, T> {
    /// An answer already known.
    pub fn ready(result: StoreResult<T>) -> Self {
        StoreFuture(Answer::Ready(Some(result)))
    }

    /// An answer `future` will give.
    pub fn boxed(future: impl Future<Output = StoreResult<T>> + Send + 'a) -> Self {
        StoreFuture(Answer::Boxed(Box::pin(future)))
    }
}

impl<T> StoreFuture<'_, T> {
    /// The answer, if it is ready at once (an inline call's).
    pub(crate) fn ready_answer(&self) -> Option<&StoreResult<T>> {
        match &self.0 {
            Answer::Ready(answer) => answer.as_ref(),
            Answer::Boxed(_) => None,
        }
    }
}

impl<T: Unpin> Future for StoreFuture<'_, T> {
    type Output = StoreResult<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            Answer::Ready(answer) => {
                let budget = ready!(tokio::task::coop::poll_proceed(cx));
                budget.made_progress();
                Poll::Ready(
                    answer
                        .take()
                        .expect("StoreFuture polled after it completed"),
                )
            }
            Answer::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ErrorKind, Operation, StoreError};

    #[test]
    fn a_ready_answer_comes_out_on_the_first_poll_outside_a_runtime() {
        let mut ready = StoreFuture::ready(Ok(7u64));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(
            Pin::new(&mut ready).poll(&mut cx),
            Poll::Ready(Ok(7))
        ));
    }

    #[tokio::test]
    async fn a_boxed_answer_is_driven_to_its_end() {
        let boxed: StoreFuture<'_, u64> = StoreFuture::boxed(async {
            tokio::task::yield_now().await;
            Err(StoreError::host(
                Operation::Get,
                "test",
                "s",
                ErrorKind::UNAVAILABLE,
                "down",
            ))
        });
        let err = boxed.await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::UNAVAILABLE);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_loop_of_ready_answers_lets_other_tasks_run() {
        // On one thread, a spawned task runs only when the loop yields.
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _ = tx.send(());
        });
        let mut rx = rx;
        for polled in 0.. {
            StoreFuture::ready(Ok(())).await.unwrap();
            if rx.try_recv().is_ok() {
                assert!(
                    polled < 10_000,
                    "the other task ran only after {polled} calls"
                );
                return;
            }
            assert!(polled < 1_000_000, "the other task never ran");
        }
    }
}
