//! The `get` calls of a [`MetricsLayer`](super::MetricsLayer) and the bytes
//! they answered with, counted per thread and published to the recorder.
//!
//! A memory get takes about 110 ns; the recorder's counter handles cost two
//! atomic read-modify-writes each, which made counting a get 20% of it.
//! Here a thread adds to counts only it writes (plain loads and stores),
//! and a publisher adds what the counts grew by to the recorder's handles:
//! every second on a thread of its own, and when the layer is dropped.
//!
//! Invariants:
//! - each [`ThreadCounts`] is written by its own thread only; a block of
//!   counts is never freed, and once its thread ended it is zeroed and
//!   kept for the next thread (so a thread holds its block as `'static`);
//! - for every slot, `published` is what the slot's counters in every
//!   thread (and the counts of threads that ended) added up to at the last
//!   publish, so a slot taken again starts from where its last owner's
//!   counts stopped;
//! - all of it is read and changed under [`PUBLISHER`]'s lock, except a
//!   thread's own increments.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Mutex, MutexGuard, OnceLock, PoisonError,
    },
    time::Duration,
};

use metrics::Counter;

/// Layers that count per thread at the same time; more count through the
/// recorder's handles.
const SLOTS: usize = 64;
/// How often the publisher thread publishes.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Calls and bytes of one slot.
type Pair = [u64; 2];

/// One thread's counts, per slot: calls and bytes.
struct ThreadCounts([[AtomicU64; 2]; SLOTS]);

/// What a slot publishes to.
struct Slot {
    /// The recorder's `calls` and `bytes read` handles of the layer's
    /// `get`; `None` while the slot is free.
    targets: Option<(Counter, Counter)>,
    published: Pair,
}

/// Every slot, every live thread's counts, the counts of threads that
/// ended, and the zeroed blocks of ended threads.
struct Publisher {
    slots: [Slot; SLOTS],
    threads: Vec<&'static ThreadCounts>,
    ended: [Pair; SLOTS],
    spare: Vec<&'static ThreadCounts>,
}

static PUBLISHER: Mutex<Publisher> = Mutex::new(Publisher {
    slots: [const {
        Slot {
            targets: None,
            published: [0; 2],
        }
    }; SLOTS],
    threads: Vec::new(),
    ended: [[0; 2]; SLOTS],
    spare: Vec::new(),
});

/// Whether the publisher thread runs (it is started once, by the first slot taken).
static PUBLISHING: OnceLock<bool> = OnceLock::new();

fn publisher() -> MutexGuard<'static, Publisher> {
    PUBLISHER.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Publisher {
    /// What `slot` adds up to now.
    fn total(&self, slot: usize) -> Pair {
        let mut total = self.ended[slot];
        for thread in &self.threads {
            total[0] += thread.0[slot][0].load(Relaxed);
            total[1] += thread.0[slot][1].load(Relaxed);
        }
        total
    }

    /// Adds to `slot`'s targets what it grew by since its last publish.
    fn publish(&mut self, slot: usize) {
        let total = self.total(slot);
        let entry = &mut self.slots[slot];
        if let Some((calls, bytes)) = &entry.targets {
            calls.increment(total[0].saturating_sub(entry.published[0]));
            bytes.increment(total[1].saturating_sub(entry.published[1]));
        }
        entry.published = total;
    }

    fn publish_all(&mut self) {
        for slot in 0..SLOTS {
            self.publish(slot);
        }
    }
}

/// This thread's counts, registered with the publisher while the thread lives.
struct Registered(&'static ThreadCounts);

impl Registered {
    fn new() -> Self {
        let mut publisher = publisher();
        let counts = publisher.spare.pop().unwrap_or_else(|| {
            Box::leak(Box::new(ThreadCounts(std::array::from_fn(|_| {
                [AtomicU64::new(0), AtomicU64::new(0)]
            }))))
        });
        publisher.threads.push(counts);
        Registered(counts)
    }
}

impl Drop for Registered {
    /// Moves this thread's counts into the ended threads' sums and keeps
    /// the zeroed block for the next thread.
    fn drop(&mut self) {
        let mut publisher = publisher();
        for (slot, ended) in publisher.ended.iter_mut().enumerate() {
            for (sum, count) in ended.iter_mut().zip(&self.0 .0[slot]) {
                *sum += count.swap(0, Relaxed);
            }
        }
        publisher.threads.retain(|t| !std::ptr::eq(*t, self.0));
        publisher.spare.push(self.0);
    }
}

thread_local! {
    static MINE: Registered = Registered::new();
}

/// Adds `n` to a counter only this thread writes.
#[inline]
fn add(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed) + n, Relaxed);
}

/// The get counts of one layer: a slot, or none when every slot is taken
/// or no publisher thread could be started.
pub(super) struct GetCounts {
    slot: Option<usize>,
}

impl GetCounts {
    /// Takes a free slot, publishing to the layer's `get` handles `calls`
    /// and `bytes` (bytes read).
    pub(super) fn new(calls: &Counter, bytes: &Counter) -> Self {
        let running = *PUBLISHING.get_or_init(|| {
            std::thread::Builder::new()
                .name("stateplug-metrics".to_string())
                .spawn(|| loop {
                    std::thread::sleep(PUBLISH_EVERY);
                    publisher().publish_all();
                })
                .is_ok()
        });
        if !running {
            return GetCounts { slot: None };
        }
        let mut publisher = publisher();
        let slot = publisher.slots.iter().position(|s| s.targets.is_none());
        if let Some(slot) = slot {
            publisher.slots[slot].targets = Some((calls.clone(), bytes.clone()));
        }
        GetCounts { slot }
    }

    /// This thread's counts of the layer's gets; `None` if the layer has
    /// no slot or this thread is ending (the caller then counts through
    /// the recorder's handles).
    #[inline]
    pub(super) fn on_this_thread(&self) -> Option<Mine> {
        let slot = self.slot?;
        MINE.try_with(|mine| Mine(&mine.0 .0[slot])).ok()
    }
}

/// This thread's counts of one layer's gets: calls, bytes.
#[derive(Clone, Copy)]
pub(super) struct Mine(&'static [AtomicU64; 2]);

impl Mine {
    /// Whether to time the next call: the first of every `one_in` this
    /// thread makes.
    #[inline]
    pub(super) fn times_next(self, one_in: u64) -> bool {
        self.0[0].load(Relaxed).is_multiple_of(one_in)
    }

    /// Counts one call that answered with `bytes`.
    #[inline]
    pub(super) fn count(self, bytes: u64) {
        add(&self.0[0], 1);
        add(&self.0[1], bytes);
    }
}

impl Drop for GetCounts {
    /// Publishes the last counts and frees the slot.
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            let mut publisher = publisher();
            publisher.publish(slot);
            publisher.slots[slot].targets = None;
        }
    }
}
