//! Single-key writes of concurrent tasks, handed to a provider in groups.
//!
//! For a provider that commits groups together (`GROUP_WRITES`) and waits
//! only on local storage (`LOCAL_IO`), a write does not take a thread of its
//! own. A task that finds no group running leads: on its worker thread
//! (`block_in_place`) it hands the queued calls, its own among them, to the
//! provider's `write_keys` at once, and answers each. Tasks that find a group
//! running queue their call and await the answer. When the leader's group is
//! done and calls queued meanwhile, one blocking thread takes over and runs
//! group after group, back to back, until the queue is empty. A group of
//! writes then costs one commit and no thread per write; a lone writer runs
//! its call at once, on its own worker, as before.
//!
//! Invariants:
//! - while `running` is set exactly one thread (the leader, then the
//!   drainer) takes calls off the queue, and it clears the flag only when it
//!   finds the queue empty, under the lock that queues calls, so no call is
//!   left queued with nobody to run it (the one exception: a runtime shutting
//!   down drops the drainer unrun, which clears the flag so that the next
//!   writer leads; see [`DrainJob`]);
//! - every queued call is answered once; a task that stopped waiting (its
//!   future dropped) just misses its answer, and its call may still run, as
//!   a cancelled call may.

use std::sync::{Arc, Mutex, MutexGuard};

use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RVec};
use stateplug_provider_api::{
    ffi::{
        FfiKeyWrite, FfiProviderBox, KEY_COMPARE_AND_DELETE, KEY_COMPARE_AND_SET, KEY_DELETE,
        KEY_SET,
    },
    ProviderError,
};
use tokio::sync::oneshot;

/// A single-key write call, owned while it waits in the queue.
pub(crate) struct KeyWriteCall {
    kind: u8,
    store_id: String,
    key: String,
    value: Vec<u8>,
    expected: u64,
}

impl KeyWriteCall {
    /// `set`.
    pub(crate) fn set(store_id: &str, key: &str, value: Vec<u8>) -> Self {
        Self::new(KEY_SET, store_id, key, value, 0)
    }

    /// `delete`.
    pub(crate) fn delete(store_id: &str, key: &str) -> Self {
        Self::new(KEY_DELETE, store_id, key, Vec::new(), 0)
    }

    /// `compare_and_set`, `expected` in wire form.
    pub(crate) fn compare_and_set(
        store_id: &str,
        key: &str,
        expected: u64,
        value: Vec<u8>,
    ) -> Self {
        Self::new(KEY_COMPARE_AND_SET, store_id, key, value, expected)
    }

    /// `compare_and_delete` at `version`.
    pub(crate) fn compare_and_delete(store_id: &str, key: &str, version: u64) -> Self {
        Self::new(KEY_COMPARE_AND_DELETE, store_id, key, Vec::new(), version)
    }

    fn new(kind: u8, store_id: &str, key: &str, value: Vec<u8>, expected: u64) -> Self {
        KeyWriteCall {
            kind,
            store_id: store_id.to_owned(),
            key: key.to_owned(),
            value,
            expected,
        }
    }

    fn as_ffi(&self) -> FfiKeyWrite<'_> {
        FfiKeyWrite {
            kind: self.kind,
            store_id: self.store_id.as_str().into(),
            key: self.key.as_str().into(),
            value: self.value.as_slice().into(),
            expected: self.expected,
        }
    }
}

type Answer = RResult<u64, ProviderError>;

struct Pending {
    call: KeyWriteCall,
    /// `None` for the leader's own call, answered by return.
    reply: Option<oneshot::Sender<Answer>>,
}

#[derive(Default)]
struct State {
    running: bool,
    queue: Vec<Pending>,
}

/// The group writer of one provider object.
#[derive(Default)]
pub(crate) struct GroupWriter {
    state: Mutex<State>,
}

fn lost(what: &str) -> Answer {
    RErr(ProviderError::internal(format!(
        "a grouped write lost its answer: {what}"
    )))
}

impl GroupWriter {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing under this lock can panic, so poisoning is harmless.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `call` in a group with the calls of concurrent tasks. Must run
    /// on a multi-thread runtime (the leader uses `block_in_place`).
    pub(crate) async fn write(
        self: &Arc<Self>,
        ffi: &Arc<FfiProviderBox>,
        call: KeyWriteCall,
    ) -> Answer {
        let answer = {
            let mut state = self.lock();
            if state.running {
                let (reply, answer) = oneshot::channel();
                state.queue.push(Pending {
                    call,
                    reply: Some(reply),
                });
                answer
            } else {
                state.running = true;
                state.queue.push(Pending { call, reply: None });
                drop(state);
                return self.lead(ffi);
            }
        };
        answer
            .await
            .unwrap_or_else(|_| lost("the group writer dropped the call"))
    }

    /// Runs the queued calls (the leader's own among them) as one group on
    /// this worker, then hands what queued meanwhile to a drainer.
    fn lead(self: &Arc<Self>, ffi: &Arc<FfiProviderBox>) -> Answer {
        let group = std::mem::take(&mut self.lock().queue);
        let mine = tokio::task::block_in_place(|| run_group(ffi, group));
        let mut state = self.lock();
        if state.queue.is_empty() {
            state.running = false;
        } else {
            drop(state);
            let job = DrainJob {
                writer: Arc::clone(self),
                ffi: Arc::clone(ffi),
                ran: false,
            };
            tokio::task::spawn_blocking(move || job.run());
        }
        mine.unwrap_or_else(|| lost("the leader's call was not in its group"))
    }

    /// Runs group after group until the queue is empty.
    fn drain(&self, ffi: &FfiProviderBox) {
        loop {
            let group = {
                let mut state = self.lock();
                if state.queue.is_empty() {
                    state.running = false;
                    return;
                }
                std::mem::take(&mut state.queue)
            };
            run_group(ffi, group);
        }
    }
}

/// The drainer's work, handed to the blocking pool. A runtime that shuts
/// down may drop it without running it: then the lead is released, so the
/// next writer leads and runs what is queued (calls of tasks that the
/// shutdown dropped, which may still run, as cancelled calls may).
struct DrainJob {
    writer: Arc<GroupWriter>,
    ffi: Arc<FfiProviderBox>,
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

/// Hands `group` to the provider as one `write_keys` call and answers each
/// waiting task; returns the answer of the call nobody waits for (the
/// leader's own), if there is one.
fn run_group(ffi: &FfiProviderBox, group: Vec<Pending>) -> Option<Answer> {
    let calls: Vec<FfiKeyWrite<'_>> = group.iter().map(|p| p.call.as_ffi()).collect();
    let mut out = RVec::with_capacity(calls.len());
    let answers = match ffi.write_keys(RSlice::from_slice(&calls), &mut out) {
        ROk(()) => out.into_vec(),
        RErr(err) => vec![RErr(err); calls.len()],
    };
    let mut answers = answers.into_iter();
    let mut mine = None;
    for pending in group {
        let answer = answers
            .next()
            .unwrap_or_else(|| lost("the provider answered fewer calls than it was given"));
        match pending.reply {
            // A task that stopped waiting (cancelled) just misses its answer.
            Some(reply) => drop(reply.send(answer)),
            None => mine = Some(answer),
        }
    }
    mine
}
