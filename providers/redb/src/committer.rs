//! Group commit: concurrent write calls share one durable transaction.
//!
//! A caller that finds no commit in progress becomes the leader and runs its
//! own call at once, without waiting for company: the one-writer path costs
//! one commit, as a plain redb commit does. Callers that arrive while a
//! commit is in progress queue their calls (made owned) and wait; when the
//! commit ends, one of them becomes the next leader and runs every queued
//! call in one transaction and one fsync. Every caller returns only after
//! the commit holding its call is durable (or with that commit's error).
//!
//! A call that fails with a conflict or refused input changed nothing (see
//! [`WriteOp::apply`]), so it fails alone. Any other failure inside a group
//! (storage, a panic) aborts the whole transaction and every call of the
//! group gets the error: nothing of the group was committed.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
};

use redb::Database;
use stateplug_provider_api::{ErrorKind, ProviderError, ProviderResult};

use crate::errors::AtPath;
use crate::ops::{Outcome, WriteOp};
use crate::writer::{Revisions, Tables};

/// The answer to one call: its outcome and the revision it consumed.
pub(crate) type Answer = ProviderResult<(Outcome, Option<u64>)>;

/// Where a waiting caller learns its fate.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    wake: Condvar,
}

#[derive(Default)]
enum SlotState {
    #[default]
    Waiting,
    /// The caller must lead the next group.
    Lead,
    /// The answers to the caller's calls, in order.
    Done(Vec<Answer>),
}

impl Slot {
    fn set(&self, state: SlotState) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
        self.wake.notify_one();
    }

    fn wait(&self) -> SlotState {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match std::mem::take(&mut *state) {
                SlotState::Waiting => {
                    state = self.wake.wait(state).unwrap_or_else(|p| p.into_inner())
                }
                other => return other,
            }
        }
    }
}

/// One caller's calls, waiting for the next group.
struct Queued {
    slot: Arc<Slot>,
    jobs: Vec<(String, WriteOp<'static>)>,
}

/// Whether a leader is committing, and the calls waiting for the next group.
#[derive(Default)]
struct State {
    leading: bool,
    queue: Vec<Queued>,
}

/// The group committer of one database.
///
/// Invariant: while `leading` is set exactly one thread runs a group; it
/// hands the role to the first queued caller (waking only that one) or
/// clears the flag when nobody waits. Each waiter is woken once, by its
/// own slot: no herd of threads wakes for every commit.
pub(crate) struct Committer {
    state: Mutex<State>,
    /// Version numbering; read and advanced only by the leader.
    revisions: Mutex<Revisions>,
    /// Durable commits made (for tests and figures).
    commits: AtomicU64,
}

impl Committer {
    /// A committer for a file whose `META[REVISION]` is `stored`.
    pub(crate) fn new(stored: u64) -> Self {
        Committer {
            state: Mutex::default(),
            revisions: Mutex::new(Revisions::from_stored(stored)),
            commits: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code that can panic runs under this lock, so poisoning is harmless.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Durable commits made so far.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `op` on `store_id` durably, alone or with concurrent calls.
    pub(crate) fn submit(
        &self,
        db: &Database,
        path: &Path,
        store_id: &str,
        op: WriteOp<'_>,
    ) -> Answer {
        self.submit_all(db, path, vec![(store_id, op)])
            .pop()
            .unwrap_or_else(|| Err(ProviderError::internal("a group commit lost an answer")))
    }

    /// Runs independent calls durably, in one group with each other and
    /// with concurrent callers' calls; one answer per call, in order.
    pub(crate) fn submit_all(
        &self,
        db: &Database,
        path: &Path,
        jobs: Vec<(&str, WriteOp<'_>)>,
    ) -> Vec<Answer> {
        let slot = {
            let mut state = self.lock();
            if !state.leading {
                state.leading = true;
                drop(state);
                let refs = jobs.iter().map(|(s, op)| (*s, op)).collect();
                let answers = run_group(db, path, refs, self);
                self.hand_over();
                return answers;
            }
            let slot = Arc::new(Slot::default());
            state.queue.push(Queued {
                slot: Arc::clone(&slot),
                jobs: jobs
                    .into_iter()
                    .map(|(s, op)| (s.to_string(), op.into_owned()))
                    .collect(),
            });
            slot
        };
        loop {
            match slot.wait() {
                SlotState::Done(answers) => return answers,
                SlotState::Lead => {
                    let group = std::mem::take(&mut self.lock().queue);
                    let refs = group
                        .iter()
                        .flat_map(|q| q.jobs.iter().map(|(s, op)| (s.as_str(), op)))
                        .collect();
                    let mut answers = run_group(db, path, refs, self).into_iter();
                    let mut mine = Vec::new();
                    for queued in group {
                        let part: Vec<Answer> = answers.by_ref().take(queued.jobs.len()).collect();
                        if Arc::ptr_eq(&queued.slot, &slot) {
                            mine = part;
                        } else {
                            queued.slot.set(SlotState::Done(part));
                        }
                    }
                    self.hand_over();
                    return mine;
                }
                SlotState::Waiting => {}
            }
        }
    }

    /// Ends a leader's turn: the first waiting caller leads the next group.
    fn hand_over(&self) {
        let mut state = self.lock();
        match state.queue.first() {
            Some(next) => next.slot.set(SlotState::Lead),
            None => state.leading = false,
        }
    }
}

/// Whether a failed call may have changed the transaction.
fn spoils_transaction(err: &ProviderError) -> bool {
    !matches!(
        err.kind(),
        ErrorKind::VERSION_CONFLICT
            | ErrorKind::ALREADY_EXISTS
            | ErrorKind::INVALID_ARGUMENT
            | ErrorKind::UNSUPPORTED
    )
}

/// Runs every call in one transaction and commits it once; one answer per call, in order.
fn run_group(
    db: &Database,
    path: &Path,
    jobs: Vec<(&str, &WriteOp<'_>)>,
    committer: &Committer,
) -> Vec<Answer> {
    let n = jobs.len();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        run_transaction(db, path, &jobs, committer)
    }));
    match outcome {
        Ok(Ok(answers)) => answers,
        Ok(Err(err)) => vec![Err(err); n],
        Err(payload) => vec![Err(ProviderError::from_panic(&*payload)); n],
    }
}

fn run_transaction(
    db: &Database,
    path: &Path,
    jobs: &[(&str, &WriteOp<'_>)],
    committer: &Committer,
) -> ProviderResult<Vec<Answer>> {
    let start = *committer
        .revisions
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let txn = db.begin_write().at(path)?;
    let mut answers = Vec::with_capacity(jobs.len());
    let changed = {
        let mut tables = Tables::open(&txn, path, start)?;
        for (store_id, op) in jobs {
            let mut writer = tables.writer(store_id)?;
            match op.apply(&mut writer) {
                Ok(outcome) => {
                    let revision = writer.finish()?;
                    answers.push(Ok((outcome, revision)));
                }
                Err(err) if spoils_transaction(&err) => return Err(err),
                Err(err) => answers.push(Err(err)),
            }
        }
        tables.finish()?
    };
    if let Some(revisions) = changed {
        txn.commit().at(path)?;
        *committer
            .revisions
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = revisions;
        committer.commits.fetch_add(1, Ordering::Relaxed);
        let writes = answers
            .iter()
            .filter(|a| matches!(a, Ok((_, Some(_)))))
            .count();
        tracing::trace!(target: "stateplug_provider_redb::commit", "group commit writes={writes} calls={}", jobs.len());
    } else {
        txn.abort().at(path)?;
    }
    Ok(answers)
}
