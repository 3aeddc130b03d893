//! Publishes the answers of concurrent writes in commit order.
//!
//! Writes return to their callers in any order, so a write's changes are
//! not published when it returns but handed here, and released in revision
//! order (revisions are given in commit order) as soon as no write that
//! could have a smaller revision is still running.
//!
//! Invariants:
//! - every write takes a ticket (increasing) before it starts and gives it
//!   back once its answer is in, with the last ticket given out by then as
//!   its `barrier`: every write that may have committed before it holds a
//!   ticket at or below the barrier (a write that starts after it returned
//!   commits after it, with a greater revision);
//! - an answer is released once every ticket at or below its barrier is
//!   back, and answers are released in revision order: the first waiting
//!   answer blocks those behind it. So no released answer is ever followed
//!   by one of a smaller revision.
//! - changes observed rather than written through the layer (a provider's
//!   removals of expired keys) take a ticket number too, never running,
//!   as their barrier: they wait for every write that started before they
//!   were observed, and are released in revision order with what waits
//!   beside them. One observed late may follow a released answer of a
//!   greater revision; the layer observes a removal before it hands in any
//!   later write to the same key, so per key the order holds.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, MutexGuard},
};

use crate::store::ChangeRecord;

#[derive(Default)]
struct State {
    next_ticket: u64,
    running: BTreeSet<u64>,
    /// `(revision, ticket)` -> (barrier, changes).
    waiting: BTreeMap<(u64, u64), (u64, Vec<ChangeRecord>)>,
}

/// Receives released answers, in order.
type Publish = Box<dyn Fn(Vec<ChangeRecord>) + Send + Sync>;

/// Orders the answers of concurrent writes; `publish` receives them.
pub(super) struct Sequencer {
    state: Mutex<State>,
    publish: Publish,
}

/// A write's place in the order; give it back with [`Ticket::finish`]
/// (dropping it gives it back with no changes).
pub(super) struct Ticket {
    sequencer: Arc<Sequencer>,
    ticket: Option<u64>,
}

impl Sequencer {
    /// A sequencer handing released answers to `publish` (called under its
    /// lock, so in order).
    pub(super) fn new(publish: impl Fn(Vec<ChangeRecord>) + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Sequencer {
            state: Mutex::default(),
            publish: Box::new(publish),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // `publish` only sends to a channel; nothing here panics.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A ticket for a write about to start.
    pub(super) fn start(self: &Arc<Self>) -> Ticket {
        let mut state = self.lock();
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        state.running.insert(ticket);
        Ticket {
            sequencer: Arc::clone(self),
            ticket: Some(ticket),
        }
    }

    fn finish(&self, ticket: u64, revision: u64, changes: Vec<ChangeRecord>) {
        let mut state = self.lock();
        state.running.remove(&ticket);
        if !changes.is_empty() {
            let barrier = state.next_ticket;
            state.waiting.insert((revision, ticket), (barrier, changes));
        }
        self.release(&mut state);
    }

    /// Adds changes the layer observed (not a write through it) at
    /// `revision`, released once every write that started before this call
    /// has given its ticket back.
    pub(super) fn observed(&self, revision: u64, changes: Vec<ChangeRecord>) {
        let mut state = self.lock();
        state.next_ticket += 1;
        let barrier = state.next_ticket;
        state
            .waiting
            .insert((revision, barrier), (barrier, changes));
        self.release(&mut state);
    }

    /// Publishes, in revision order, every waiting answer whose barrier
    /// lies below the oldest running ticket, up to the first that does not.
    fn release(&self, state: &mut State) {
        let oldest_running = state.running.first().copied().unwrap_or(u64::MAX);
        while let Some(entry) = state.waiting.first_entry() {
            if entry.get().0 >= oldest_running {
                break;
            }
            let (_, changes) = entry.remove();
            (self.publish)(changes);
        }
    }
}

impl Ticket {
    /// Gives the ticket back with the write's revision and changes.
    pub(super) fn finish(mut self, revision: u64, changes: Vec<ChangeRecord>) {
        if let Some(ticket) = self.ticket.take() {
            self.sequencer.finish(ticket, revision, changes);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.sequencer.finish(ticket, 0, Vec::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ChangeKind;

    fn change(version: u64) -> Vec<ChangeRecord> {
        vec![ChangeRecord {
            store_id: "s".into(),
            key: "k".into(),
            kind: ChangeKind::Updated,
            version,
        }]
    }

    fn sequencer() -> (Arc<Sequencer>, Arc<Mutex<Vec<u64>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::clone(&seen);
        let s = Sequencer::new(move |c: Vec<ChangeRecord>| out.lock().unwrap().push(c[0].version));
        (s, seen)
    }

    #[test]
    fn an_answer_waits_for_writes_that_overlapped_it() {
        let (s, seen) = sequencer();
        let a = s.start();
        let b = s.start();
        // b committed second but returned first: it waits for a.
        b.finish(2, change(2));
        assert!(seen.lock().unwrap().is_empty());
        a.finish(1, change(1));
        assert_eq!(*seen.lock().unwrap(), [1, 2]);
    }

    #[test]
    fn a_write_started_after_another_returned_does_not_hold_it_back() {
        let (s, seen) = sequencer();
        let a = s.start();
        a.finish(1, change(1));
        let b = s.start();
        assert_eq!(*seen.lock().unwrap(), [1], "released at once");
        b.finish(2, change(2));
        assert_eq!(*seen.lock().unwrap(), [1, 2]);
    }

    #[test]
    fn a_dropped_ticket_releases_the_others() {
        let (s, seen) = sequencer();
        let a = s.start();
        let b = s.start();
        b.finish(5, change(5));
        drop(a);
        assert_eq!(*seen.lock().unwrap(), [5]);
    }

    #[test]
    fn observed_changes_wait_for_writes_started_before_them_and_order_by_revision() {
        let (s, seen) = sequencer();
        let running = s.start();
        s.observed(4, change(4));
        assert!(
            seen.lock().unwrap().is_empty(),
            "held for the running write"
        );
        let later = s.start();
        later.finish(5, change(5));
        running.finish(3, change(3));
        assert_eq!(*seen.lock().unwrap(), [3, 4, 5]);
        s.observed(6, change(6));
        assert_eq!(
            *seen.lock().unwrap(),
            [3, 4, 5, 6],
            "nothing running: at once"
        );
    }

    #[test]
    fn answers_come_out_in_revision_order_whatever_the_return_order() {
        let (s, seen) = sequencer();
        let tickets: Vec<_> = (0..4).map(|_| s.start()).collect();
        for (ticket, revision) in tickets.into_iter().zip([3, 1, 4, 2]) {
            ticket.finish(revision, change(revision));
        }
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3, 4]);
    }
}
