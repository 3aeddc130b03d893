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
    collections::HashMap,
    panic::{catch_unwind, AssertUnwindSafe},
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Condvar, Mutex, MutexGuard,
    },
};

use redb::Database;
use stateplug_provider_api::{ErrorKind, ProviderError, ProviderResult};

use crate::errors::AtPath;
use crate::ops::{Outcome, WriteOp};
use crate::writer::Tables;

/// The answer to one call: its outcome and the revision it consumed.
pub(crate) type Answer = ProviderResult<(Outcome, Option<u64>)>;

struct Queued {
    ticket: u64,
    store_id: String,
    op: WriteOp<'static>,
}

#[derive(Default)]
struct State {
    leading: bool,
    queue: Vec<Queued>,
    answers: HashMap<u64, Answer>,
    next_ticket: u64,
}

/// The group committer of one database.
#[derive(Default)]
pub(crate) struct Committer {
    state: Mutex<State>,
    turn: Condvar,
    /// Durable commits made (for tests and figures).
    commits: AtomicU64,
}

impl Committer {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code that can panic runs under this lock, so poisoning is harmless.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `op` on `store_id` durably, alone or with concurrent calls.
    pub(crate) fn submit(
        &self,
        db: &Database,
        path: &Path,
        store_id: &str,
        op: WriteOp<'_>,
    ) -> Answer {
        let mut state = self.lock();
        if !state.leading && state.queue.is_empty() {
            state.leading = true;
            drop(state);
            let mut answers = run_group(db, path, vec![(store_id, &op)], &self.commits);
            self.hand_over();
            return answers
                .pop()
                .unwrap_or_else(|| Err(ProviderError::internal("a group commit lost an answer")));
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push(Queued {
            ticket,
            store_id: store_id.to_string(),
            op: op.into_owned(),
        });
        loop {
            if let Some(answer) = state.answers.remove(&ticket) {
                return answer;
            }
            if !state.leading {
                state.leading = true;
                let group = std::mem::take(&mut state.queue);
                drop(state);
                let jobs: Vec<(&str, &WriteOp<'static>)> =
                    group.iter().map(|q| (q.store_id.as_str(), &q.op)).collect();
                let answers = run_group(db, path, jobs, &self.commits);
                state = self.lock();
                for (queued, answer) in group.iter().zip(answers) {
                    state.answers.insert(queued.ticket, answer);
                }
                state.leading = false;
                self.turn.notify_all();
                continue;
            }
            state = self.turn.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Durable commits made so far.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Ends a leader's turn: the waiting callers may take the next one.
    fn hand_over(&self) {
        let mut state = self.lock();
        state.leading = false;
        self.turn.notify_all();
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
    commits: &AtomicU64,
) -> Vec<Answer> {
    let n = jobs.len();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        run_transaction(db, path, &jobs, commits)
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
    commits: &AtomicU64,
) -> ProviderResult<Vec<Answer>> {
    let txn = db.begin_write().at(path)?;
    let mut answers = Vec::with_capacity(jobs.len());
    let changed = {
        let mut tables = Tables::open(&txn, path)?;
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
    if changed {
        txn.commit().at(path)?;
        commits.fetch_add(1, Ordering::Relaxed);
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
