//! The writes of concurrent tasks, handed to a provider in groups.
//!
//! For a provider that commits groups together (`GROUP_WRITES`), a write
//! does not take a thread of its own. A write that finds no group running
//! goes to the provider at once, alone; writes that arrive meanwhile queue
//! and await their answer, and when the running group returns, one thread
//! takes everything queued to the provider as the next group, back to
//! back, until the queue is empty. A group of writes then costs one commit
//! and no thread per write; a lone writer commits at once.
//!
//! Where the first group runs: with `LOCAL_IO` on a multi-thread runtime,
//! on the writer's own worker (`block_in_place`, no thread hop), and the
//! groups after it on one blocking thread; otherwise every group runs on
//! the blocking pool, and a writer waits at most the call timeout for its
//! answer (a provider that hangs costs a thread, not the host).
//!
//! Invariants:
//! - while `running` is set exactly one thread (the leader, then the
//!   drainer) takes writes off the queue, and it clears the flag only when
//!   it finds the queue empty, under the lock that queues writes, so no
//!   write is left queued with nobody to run it (the one exception: a
//!   runtime shutting down drops the drainer unrun, which clears the flag so
//!   that the next writer leads; see [`DrainJob`]);
//! - every queued write is answered once; a task that stopped waiting (its
//!   future dropped) just misses its answer, and its write may still run,
//!   as a cancelled call may.

use std::{
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::Duration,
};

use abi_stable::std_types::RErr;
use stateplug_provider_api::{
    ffi::{FfiProviderBox, FfiWriteOp, FfiWriteUnit},
    ProviderError, WriteOp,
};
use tokio::sync::oneshot;

use crate::provider::write_call::{unit_of, write_units, Answer, OwnedWrite, WireOps};

struct Pending {
    write: OwnedWrite,
    reply: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct State {
    running: bool,
    queue: Vec<Pending>,
}

/// The group writer of one provider object.
pub(crate) struct GroupWriter {
    state: Mutex<State>,
    /// Whether the first group may run on the writer's worker thread.
    local_io: bool,
    /// How long a writer waits for a group on the blocking pool.
    call_timeout: Duration,
}

fn lost(what: &str) -> Answer {
    RErr(ProviderError::internal(format!(
        "a grouped write lost its answer: {what}"
    )))
}

impl GroupWriter {
    /// A group writer; `local_io` as the provider declares it.
    pub(crate) fn new(local_io: bool, call_timeout: Duration) -> Self {
        GroupWriter {
            state: Mutex::default(),
            local_io,
            call_timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing under this lock can panic, so poisoning is harmless.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the write of `ops` on `store_id` in a group with the writes of
    /// concurrent tasks.
    pub(crate) async fn write(
        self: &Arc<Self>,
        ffi: &Arc<FfiProviderBox>,
        store_id: &str,
        ops: &[WriteOp<'_>],
    ) -> Answer {
        let inline = self.local_io && super::on_multi_thread_runtime();
        let answer = {
            let mut state = self.lock();
            if !state.running && inline {
                state.running = true;
                drop(state);
                return self.lead(ffi, store_id, ops);
            }
            let (reply, answer) = oneshot::channel();
            state.queue.push(Pending {
                write: OwnedWrite::new(store_id, ops),
                reply,
            });
            if !state.running {
                state.running = true;
                drop(state);
                self.spawn_drainer(ffi);
            }
            answer
        };
        let lost_answer = || lost("the group writer dropped the write");
        if inline {
            // The groups run on local storage only: they always finish.
            return answer.await.unwrap_or_else(|_| lost_answer());
        }
        match tokio::time::timeout(self.call_timeout, answer).await {
            Ok(answer) => answer.unwrap_or_else(|_| lost_answer()),
            // The write stays queued, so it may still be applied.
            Err(_) => RErr(super::abandoned(true, self.call_timeout)),
        }
    }

    /// Runs the leader's own write, with whatever is queued, as one group on
    /// this worker, then hands what queued meanwhile to a drainer.
    fn lead(
        self: &Arc<Self>,
        ffi: &Arc<FfiProviderBox>,
        store_id: &str,
        ops: &[WriteOp<'_>],
    ) -> Answer {
        let group = std::mem::take(&mut self.lock().queue);
        let own: WireOps<'_> = ops.iter().map(FfiWriteOp::from_op).collect();
        let (mine, answers) =
            tokio::task::block_in_place(|| run_group(ffi, Some((store_id, &own)), &group));
        answer(group, answers);
        let more = {
            let mut state = self.lock();
            if state.queue.is_empty() {
                state.running = false;
            }
            state.running
        };
        if more {
            self.spawn_drainer(ffi);
        }
        mine.unwrap_or_else(|| lost("the leader's write was not in its group"))
    }

    fn spawn_drainer(self: &Arc<Self>, ffi: &Arc<FfiProviderBox>) {
        let job = DrainJob {
            writer: Arc::clone(self),
            ffi: Arc::downgrade(ffi),
            ran: false,
        };
        tokio::task::spawn_blocking(move || job.run());
    }

    /// Runs group after group until the queue is empty. Holds the provider
    /// only while a group runs, not while it answers: every waiting writer
    /// holds it, and once the last has its answer, dropping the store
    /// closes the provider at once (a file reopened right after is free).
    fn drain(&self, ffi: &Weak<FfiProviderBox>) {
        loop {
            let group = {
                let mut state = self.lock();
                if state.queue.is_empty() {
                    state.running = false;
                    return;
                }
                std::mem::take(&mut state.queue)
            };
            let answers = match ffi.upgrade() {
                Some(ffi) => run_group(&ffi, None, &group).1,
                None => (0..group.len())
                    .map(|_| lost("the store was closed while the write waited"))
                    .collect(),
            };
            answer(group, answers);
        }
    }
}

/// The drainer's work, handed to the blocking pool. A runtime that shuts
/// down may drop it without running it: then the lead is released, so the
/// next writer leads and runs what is queued (writes of tasks that the
/// shutdown dropped, which may still run, as cancelled calls may).
struct DrainJob {
    writer: Arc<GroupWriter>,
    ffi: Weak<FfiProviderBox>,
    ran: bool,
}

impl DrainJob {
    fn run(mut self) {
        self.ran = true;
        self.writer.drain(&self.ffi);
    }
}

impl Drop for DrainJob {
    fn drop(&mut self) {
        if !self.ran {
            self.writer.lock().running = false;
        }
    }
}

/// Hands `own` (the leader's write, borrowed) and `group` to the provider
/// as one `write` call; returns the answer of `own`, if there is one, and
/// the answers of `group`, in order.
fn run_group(
    ffi: &FfiProviderBox,
    own: Option<(&str, &[FfiWriteOp<'_>])>,
    group: &[Pending],
) -> (Option<Answer>, Vec<Answer>) {
    let wires: Vec<WireOps<'_>> = group.iter().map(|p| p.write.wire()).collect();
    let mut units: Vec<FfiWriteUnit<'_>> = Vec::with_capacity(group.len() + 1);
    if let Some((store_id, ops)) = own {
        units.push(unit_of(store_id, ops));
    }
    for (pending, wire) in group.iter().zip(&wires) {
        units.push(unit_of(pending.write.store_id(), wire));
    }
    let mut answers = write_units(ffi, &units).into_iter();
    let mine = own.map(|_| answers.next().unwrap_or_else(|| lost("no answer")));
    let theirs = group
        .iter()
        .map(|_| {
            answers
                .next()
                .unwrap_or_else(|| lost("the provider answered fewer writes than it was given"))
        })
        .collect();
    (mine, theirs)
}

/// Hands each waiting task its answer.
fn answer(group: Vec<Pending>, answers: Vec<Answer>) {
    for (pending, answer) in group.into_iter().zip(answers) {
        // A task that stopped waiting (cancelled) just misses its answer.
        let _ = pending.reply.send(answer);
    }
}
