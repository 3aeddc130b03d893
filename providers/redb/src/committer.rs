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
//! A write refused by its checks changed nothing (see
//! [`stateplug_provider_api::apply`]), so it fails alone. Any other failure
//! inside a group (storage, a panic) aborts the whole transaction and every
//! write of the group gets the error: nothing of the group was committed.
//! What each write changed is kept in a [`ChangeLog`] and handed to its
//! caller only once the transaction holding it is committed.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
};

use redb::Database;
use stateplug_provider_api::{apply, ProviderError, ProviderResult, WriteFailure, WriteOp};

use crate::errors::AtPath;
use crate::ops::{ChangeLog, OwnedWrite};
use crate::writer::{Revisions, Tables};

/// The answer to one write: its revision (0: it changed nothing) and what
/// it changed.
pub(crate) type Answer = ProviderResult<(u64, ChangeLog)>;

/// One write of a group: its store and operations.
pub(crate) type Job<'a> = (&'a str, &'a [WriteOp<'a>]);

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

/// One caller's writes, waiting for the next group.
struct Queued {
    slot: Arc<Slot>,
    jobs: Vec<OwnedWrite>,
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

    /// Runs independent writes durably, in one group with each other and
    /// with concurrent callers' writes; one answer per write, in order.
    pub(crate) fn submit_all(&self, db: &Database, path: &Path, jobs: &[Job<'_>]) -> Vec<Answer> {
        let slot = {
            let mut state = self.lock();
            if !state.leading {
                state.leading = true;
                drop(state);
                let answers = run_group(db, path, jobs, self);
                self.hand_over();
                return answers;
            }
            let slot = Arc::new(Slot::default());
            state.queue.push(Queued {
                slot: Arc::clone(&slot),
                jobs: jobs
                    .iter()
                    .map(|(store_id, ops)| OwnedWrite::new(store_id, ops))
                    .collect(),
            });
            slot
        };
        loop {
            match slot.wait() {
                SlotState::Done(answers) => return answers,
                SlotState::Lead => {
                    let group = std::mem::take(&mut self.lock().queue);
                    let ops: Vec<Vec<Vec<WriteOp<'_>>>> = group
                        .iter()
                        .map(|q| q.jobs.iter().map(OwnedWrite::ops).collect())
                        .collect();
                    let jobs: Vec<Job<'_>> = group
                        .iter()
                        .zip(&ops)
                        .flat_map(|(q, ops)| {
                            q.jobs
                                .iter()
                                .zip(ops)
                                .map(|(w, ops)| (w.store_id.as_str(), ops.as_slice()))
                        })
                        .collect();
                    let mut answers = run_group(db, path, &jobs, self).into_iter();
                    let mut mine = Vec::new();
                    for queued in &group {
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

/// Runs every write in one transaction and commits it once; one answer
/// per write, in order.
fn run_group(db: &Database, path: &Path, jobs: &[Job<'_>], committer: &Committer) -> Vec<Answer> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        run_transaction(db, path, jobs, committer)
    }));
    match outcome {
        Ok(Ok(answers)) => answers,
        Ok(Err(err)) => vec![Err(err); jobs.len()],
        Err(payload) => vec![Err(ProviderError::from_panic(&*payload)); jobs.len()],
    }
}

fn run_transaction(
    db: &Database,
    path: &Path,
    jobs: &[Job<'_>],
    committer: &Committer,
) -> ProviderResult<Vec<Answer>> {
    let start = *committer
        .revisions
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let txn = db.begin_write().at(path)?;
    let mut answers = Vec::with_capacity(jobs.len());
    let mut writes = 0;
    let changed = {
        let mut tables = Tables::open(&txn, path, start)?;
        for (store_id, ops) in jobs {
            let mut writer = tables.writer(store_id)?;
            let mut log = ChangeLog::default();
            match apply(ops, &mut writer, &mut |c| log.push(c)) {
                Ok(revision) => {
                    writes += usize::from(writer.finish()?.is_some());
                    answers.push(Ok((revision, log)));
                }
                Err(WriteFailure::Refused(err)) => answers.push(Err(err)),
                // Part of the write may be in the transaction: abort it all.
                Err(WriteFailure::Failed(err)) => return Err(err),
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
        tracing::trace!(target: "stateplug_provider_redb::commit", "group commit writes={writes} calls={}", jobs.len());
    } else {
        txn.abort().at(path)?;
    }
    Ok(answers)
}
