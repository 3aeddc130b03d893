//! The background sweeper: removes expired keys while no writes come.
//!
//! Invariants:
//! - a read-write provider runs at most one sweeper thread, named
//!   `stateplug-redb-sweep`, started once the file holds an expiring key
//!   (at open when `EXPIRING` has a row, or at the first write carrying an
//!   expiry); a read-only provider, or one that never sees an expiry,
//!   runs none;
//! - the thread holds the provider's [`Shared`] only by `Weak`, upgraded
//!   for the length of one look, so it never keeps the database open;
//!   dropping the provider drops the thread's channel `Sender` (its
//!   `recv_timeout` returns at once) and joins the thread before the
//!   database is dropped, so the file lock is gone when the drop returns;
//! - every `sweep_interval_ms` it reads now from the provider's clock and,
//!   only when the first `EXPIRING` row is due by then (one read
//!   transaction), runs a group of its own through the committer
//!   ([`Committer::sweep`](crate::committer::Committer::sweep)): bounded to
//!   [`SWEEP_PER_GROUP`] keys, serialized with writers, journaled and durable
//!   like a write group. It runs another group while a group removes a full
//!   chunk, and skips its turn while a writer's group runs (which sweeps too);
//! - a failure or a panic of a look is logged with `tracing::warn!` and the
//!   look is retried at the next interval: the thread never ends on its own
//!   and never breaks the provider.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError},
        Arc, Mutex, Weak,
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use redb::{ReadableDatabase, ReadableTable};
use stateplug_provider_api::{ProviderError, ProviderResult};

use crate::committer::SWEEP_PER_GROUP;
use crate::errors::AtPath;
use crate::provider::Shared;
use crate::schema::EXPIRING;

/// The name of the sweeper thread.
const THREAD_NAME: &str = "stateplug-redb-sweep";

/// The background sweeper of one provider: its interval and, once
/// started, its thread.
pub(crate) struct Sweeper {
    /// Time between two looks; `None`: the sweeper never starts (a
    /// read-only open).
    interval: Option<Duration>,
    /// Set once a start was attempted: later writes skip the lock.
    started: AtomicBool,
    /// The running thread, if any.
    running: Mutex<Option<Running>>,
}

/// A started sweeper thread.
struct Running {
    /// Dropped to end the thread: its `recv_timeout` returns `Disconnected`.
    stop: Sender<()>,
    thread: JoinHandle<()>,
    /// Alive exactly while the thread runs (the thread owns the `Arc`).
    #[cfg(test)]
    alive: Weak<()>,
}

impl Sweeper {
    /// A sweeper looking every `interval`, or none at all for `None`.
    pub(crate) fn new(interval: Option<Duration>) -> Self {
        Sweeper {
            interval,
            started: AtomicBool::new(false),
            running: Mutex::new(None),
        }
    }

    /// Starts the thread sweeping `shared`, unless it was started before
    /// or the sweeper is off. A thread that cannot be spawned is logged
    /// and not retried: writes still remove expired keys.
    pub(crate) fn start(&self, shared: &Arc<Shared>) {
        let Some(interval) = self.interval else {
            return;
        };
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let (stop, stopped) = mpsc::channel();
        let weak = Arc::downgrade(shared);
        let alive = Arc::new(());
        #[cfg(test)]
        let token = Arc::downgrade(&alive);
        let spawned = thread::Builder::new()
            .name(THREAD_NAME.to_string())
            .spawn(move || run(&weak, &stopped, interval, alive));
        match spawned {
            Ok(thread) => {
                *running = Some(Running {
                    stop,
                    thread,
                    #[cfg(test)]
                    alive: token,
                })
            }
            Err(err) => tracing::warn!(
                path = %shared.path.display(),
                %err,
                "cannot start the background sweeper; expired keys are removed by writes only"
            ),
        }
        self.started.store(true, Ordering::Release);
    }

    /// Ends the thread, if it runs, and waits for it: its current look
    /// ends with at most one bounded group. Called when the provider
    /// drops, when no other call can hold a write transaction, so the
    /// wait cannot deadlock.
    pub(crate) fn stop(&mut self) {
        let running = self
            .running
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(Running { stop, thread, .. }) = running {
            drop(stop);
            if thread.thread().id() != thread::current().id() {
                let _ = thread.join();
            }
        }
    }

    /// Whether the thread runs now.
    #[cfg(test)]
    pub(crate) fn running(&self) -> bool {
        self.alive().is_some_and(|alive| alive.strong_count() > 0)
    }

    /// A token alive exactly while the thread runs (`None`: never started).
    #[cfg(test)]
    pub(crate) fn alive(&self) -> Option<Weak<()>> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.as_ref().map(|r| r.alive.clone())
    }
}

/// The thread: one look per `interval` until `stopped` disconnects or the
/// provider is gone. `_alive` is dropped when the thread ends.
fn run(shared: &Weak<Shared>, stopped: &Receiver<()>, interval: Duration, _alive: Arc<()>) {
    loop {
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| sweep_due(&shared, stopped)));
        let err = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(err)) => err,
            Err(payload) => ProviderError::from_panic(&*payload),
        };
        tracing::warn!(
            path = %shared.path.display(),
            %err,
            "removing expired keys in the background failed; retrying in {} ms",
            interval.as_millis()
        );
    }
}

/// Runs sweep groups while keys are due and each group removes a full
/// chunk; stops early when the provider drops meanwhile.
fn sweep_due(shared: &Shared, stopped: &Receiver<()>) -> ProviderResult<()> {
    while first_due(shared)? {
        match shared.committer.sweep(&shared.db, &shared.path)? {
            Some(removed) if removed == SWEEP_PER_GROUP => {}
            _ => return Ok(()),
        }
        if !matches!(stopped.try_recv(), Err(TryRecvError::Empty)) {
            return Ok(());
        }
    }
    Ok(())
}

/// Whether the first `EXPIRING` row is due by the provider's clock now.
fn first_due(shared: &Shared) -> ProviderResult<bool> {
    let now = shared.committer.clock.now_ms();
    let txn = shared.db.begin_read().at(&shared.path)?;
    let expiring = txn.open_table(EXPIRING).at(&shared.path)?;
    let first = expiring.first().at(&shared.path)?;
    Ok(first.is_some_and(|(row, _)| row.value().0 <= now))
}
