//! Writes acknowledged through the journal but not yet applied to the redb
//! file, and the thread that applies them.
//!
//! A deferred group (see [`crate::deferred`]) is durable once its journal
//! record is synced. Its leader then publishes here what the group wrote,
//! and acknowledges it; the applier thread applies the record to redb later.
//! redb's write transaction is off the acknowledgement path.
//!
//! The applier wakes at the first record queued, gathers records for
//! [`GATHER`] (or until a caller waits in [`Unapplied::settle`]) and
//! applies them all in one non-durable commit. After a batch it gathers
//! again at once, and sleeps only once a gathering found nothing: a
//! publish wakes only a sleeping applier, so steady writers pay for no
//! wake-up on their acknowledgement path (in a profile of one writer on 2
//! vCPUs the wake-up was about 2.5% of each durable set; BENCHMARKS.md,
//! "Twelfth session").
//!
//! Measured on 2 vCPUs (`stateplug-bench --only durable,batch`, BENCHMARKS.md, "Ninth session"
//! and "Tenth session"): applying each record at once left one writer at
//! 1.23-1.26x fjall's durable set, because the applier's commit competed
//! with the writers; gathering for 2 ms gave 1.10-1.16x, for 10 ms
//! 1.06-1.14x, with `set_many` of 1,000 alike for both. Applying while the
//! next group's record syncs (the writer idle) gave 1.54-1.56x: the
//! applier's commit then slowed the writer's own journal `pwrite`.
//!
//! Invariants:
//! - every acknowledged write is in the published entries or in the redb
//!   snapshot [`LatestEntries`] gives. A record's entries are published
//!   before its writers return. They are retired only after the commit
//!   applying the record and the renewal of the snapshot;
//! - a [`View`] holds the entries' read lock and, taken under it, a
//!   snapshot. The two together are the state after one group exactly:
//!   the snapshot holds only records applied before the view, and an entry
//!   retired since the snapshot was taken would need the write lock;
//! - records are applied in `seq` order, each exactly once; an entry is
//!   retired only by the record that last wrote it, so a newer write of the
//!   key stays published;
//! - the queue holds at most the records journaled since the last
//!   checkpoint, because a checkpoint settles first: what this pins in
//!   memory is bounded by `checkpoint_bytes` (the records, and their
//!   published entries: about three times the records' bytes for small
//!   values);
//! - an apply that fails (a redb error) stops the applier. Every later
//!   write and every read that must settle then fails, naming the fix (a
//!   reopen replays the journal). Point reads go on seeing every
//!   acknowledged write.

use std::{
    ops::{Bound, RangeBounds},
    panic::{catch_unwind, AssertUnwindSafe},
    path::Path,
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, Weak},
    thread::{self, JoinHandle},
};

use redb::{Database, Durability};
use stateplug_provider_api::{ProviderError, ProviderResult};

use crate::encoding::{decode_expiring, with_entry_key};
use crate::errors::AtPath;
use crate::provider::Shared;
use crate::replay::apply_record;
use crate::snapshot::{EntriesTable, LatestEntries};
use crate::writer::Tables;

/// How long the applier gathers records after the first one before it
/// applies them in one commit, unless a caller waits for them.
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

/// The name of the applier thread.
const THREAD_NAME: &str = "stateplug-redb-apply";

/// What a deferred group wrote to one key, keyed by its encoded entry key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    /// The journal record holding the write (0 until published).
    pub(crate) seq: u64,
    /// The version it gave the key (for a delete, the delete's revision).
    pub(crate) version: u64,
    /// Where the value is in the record's payload, as `(start, len)`;
    /// `None`: the key was deleted.
    pub(crate) at: Option<(u32, u32)>,
    /// When the value expires, if it does.
    pub(crate) expires_at_ms: Option<u64>,
    /// The record's payload, set when the group is published (a group's
    /// own lookups read only `at`); the value is read from it, so a write
    /// costs no allocation of its own.
    pub(crate) record: Option<Record>,
}

impl Written {
    /// The value a published write holds (`None`: the key was deleted).
    pub(crate) fn value(&self) -> Option<&[u8]> {
        let (start, len) = self.at?;
        let record = self.record.as_deref()?;
        record.get(start as usize..start as usize + len as usize)
    }
}

/// A journal record's payload, shared by the applier's queue and the
/// writes it holds.
pub(crate) type Record = Arc<[u8]>;

/// An encoded entry key, kept inline when it is short (most are).
pub(crate) type EntryKey = smallvec::SmallVec<[u8; 36]>;

/// Published writes copied out of the map, in key order.
pub(crate) type WrittenRows = Vec<(EntryKey, Written)>;

/// Writes by encoded entry key, one per key (the newest). A hash map: a
/// group looks up and inserts every key it writes, and a `BTreeMap` of
/// keys sharing a long store prefix spent most of a `set_many` of 1,000 in
/// comparisons; scans sort the few writes of their span instead
/// ([`Unapplied::range`]).
pub(crate) type WrittenMap = hashbrown::HashMap<EntryKey, Written>;

/// The published writes and the queue of records to apply.
#[derive(Default)]
pub(crate) struct Unapplied {
    entries: RwLock<WrittenMap>,
    queue: Mutex<Queue>,
    /// Wakes the applier: a record is queued, or it must stop.
    wake: Condvar,
    /// Wakes the callers of [`Unapplied::settle`]: a batch is applied, or failed.
    settled: Condvar,
}

#[derive(Default)]
struct Queue {
    records: Vec<(u64, Record)>,
    /// The `seq` of the last record published.
    published: u64,
    /// The `seq` of the last record applied to redb.
    applied: u64,
    /// Why the applier stopped applying, if it did.
    failed: Option<ProviderError>,
    stop: bool,
    /// Set by a caller waiting in [`Unapplied::settle`]: the applier
    /// applies what is queued at once instead of gathering more.
    urgent: bool,
    /// Whether the applier waits for a first record, with no time limit:
    /// only then does a publish wake it.
    asleep: bool,
    /// Set by tests to keep records queued, as a busy applier would.
    #[cfg(test)]
    held: bool,
    /// Set by tests: the next apply fails with this error instead of
    /// touching redb, as a failing disk would make it.
    #[cfg(test)]
    fail: Option<ProviderError>,
}

impl Queue {
    /// Whether the applier has nothing it may apply yet.
    fn idle(&self) -> bool {
        #[cfg(test)]
        if self.held {
            return true;
        }
        self.records.is_empty()
    }
}

/// The state of every acknowledged write: published entries over a redb snapshot.
pub(crate) struct View<'a> {
    written: RwLockReadGuard<'a, WrittenMap>,
    table: Arc<EntriesTable>,
}

impl View<'_> {
    /// Hands `found` the stored entry of `key` in `store_id` as
    /// `(version, value, expires_at_ms)`, expired or not (`None`: absent).
    pub(crate) fn find<R>(
        &self,
        store_id: &str,
        key: &str,
        path: &Path,
        found: impl FnOnce(Option<(u64, &[u8], Option<u64>)>) -> ProviderResult<R>,
    ) -> ProviderResult<R> {
        with_entry_key(store_id, key, |k| self.find_encoded(k, path, found))
    }

    /// [`View::find`] of the encoded entry key `k`.
    pub(crate) fn find_encoded<R>(
        &self,
        k: &[u8],
        path: &Path,
        found: impl FnOnce(Option<(u64, &[u8], Option<u64>)>) -> ProviderResult<R>,
    ) -> ProviderResult<R> {
        if let Some(w) = self.published(k) {
            return found(w.value().map(|v| (w.version, v, w.expires_at_ms)));
        }
        match self.table.get(k).at(path)? {
            Some(raw) => found(Some(decode_expiring(raw.value())?)),
            None => found(None),
        }
    }

    /// The published write of the encoded entry key `k`, if any.
    pub(crate) fn published(&self, k: &[u8]) -> Option<&Written> {
        if self.written.is_empty() {
            return None;
        }
        self.written.get(k)
    }
}

impl Unapplied {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // No code that can panic runs under this lock.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A view of every write acknowledged before this call.
    pub(crate) fn view(
        &self,
        latest: &LatestEntries,
        db: &Database,
        path: &Path,
    ) -> ProviderResult<View<'_>> {
        // Entries are only ever inserted or removed whole, so a lock a
        // panic poisoned is used as is.
        let written = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let table = latest.get(db, path)?;
        Ok(View { written, table })
    }

    /// The published writes within `bounds` (encoded entry keys), in key
    /// order, and a snapshot: together, every write acknowledged before
    /// this call. The writes are copied, so a long walk holds no lock.
    pub(crate) fn range(
        &self,
        bounds: (Bound<&[u8]>, Bound<&[u8]>),
        latest: &LatestEntries,
        db: &Database,
        path: &Path,
    ) -> ProviderResult<(WrittenRows, Arc<EntriesTable>)> {
        let view = self.view(latest, db, path)?;
        let mut written: WrittenRows = match view.written.is_empty() {
            true => Vec::new(),
            false => view
                .written
                .iter()
                .filter(|(k, _)| RangeBounds::<[u8]>::contains(&bounds, k.as_slice()))
                .map(|(k, w)| (k.clone(), w.clone()))
                .collect(),
        };
        drop(view.written);
        written.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok((written, view.table))
    }

    /// Publishes what the group journaled in record `seq` (`payload`) and
    /// queues the record for the applier. Readers see the writes from now on.
    pub(crate) fn publish(&self, seq: u64, mut written: WrittenMap, payload: Record) {
        for w in written.values_mut() {
            w.seq = seq;
            if w.at.is_some() {
                w.record = Some(Arc::clone(&payload));
            }
        }
        {
            let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
            if entries.is_empty() {
                // The group's map becomes the published one; the empty one is freed below.
                std::mem::swap(&mut *entries, &mut written);
            } else {
                entries.extend(written.drain());
            }
        }
        drop(written);
        let mut queue = self.queue();
        queue.records.push((seq, payload));
        queue.published = seq;
        let asleep = queue.asleep;
        drop(queue);
        // An applier gathering a batch, or applying one, is left to it.
        if asleep {
            self.wake.notify_one();
        }
    }

    /// Why the applier stopped, if it did.
    pub(crate) fn failure(&self) -> Option<ProviderError> {
        self.queue().failed.clone()
    }

    /// Waits until every record published before this call is applied to
    /// redb (at once when none waits), or fails with the applier's error.
    pub(crate) fn settle(&self) -> ProviderResult<()> {
        let mut queue = self.queue();
        // Records published later are not waited for, so steady writers
        // cannot keep a caller waiting.
        let target = queue.published;
        loop {
            if let Some(err) = &queue.failed {
                return Err(err.clone());
            }
            if queue.applied >= target {
                return Ok(());
            }
            if !queue.urgent {
                queue.urgent = true;
                self.wake.notify_one();
            }
            queue = self
                .settled
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Starts the applier thread of `shared`, whose committer holds `self`.
    /// It holds `shared` by `Weak`, upgraded for one batch at a time.
    pub(crate) fn start(self: &Arc<Self>, shared: &Arc<Shared>) -> ProviderResult<JoinHandle<()>> {
        let unapplied = Arc::clone(self);
        let shared = Arc::downgrade(shared);
        thread::Builder::new()
            .name(THREAD_NAME.to_string())
            .spawn(move || unapplied.apply_until_stopped(&shared))
            .map_err(|e| {
                ProviderError::storage(format!(
                    "cannot start the redb journal's applier thread: {e}; the system is out of \
                     threads or memory"
                ))
            })
    }

    /// Keeps the applier from applying (`true`) or lets it go on, for
    /// tests that look at writes acknowledged but not yet applied.
    #[cfg(test)]
    pub(crate) fn hold(&self, held: bool) {
        self.queue().held = held;
        self.wake.notify_one();
    }

    /// Whether the applier sleeps until a publish wakes it.
    #[cfg(test)]
    pub(crate) fn asleep(&self) -> bool {
        self.queue().asleep
    }

    /// Ends the applier after the batch it is applying; records still
    /// queued stay in the journal, for the next open to replay.
    pub(crate) fn stop(&self) {
        self.queue().stop = true;
        self.wake.notify_one();
    }

    fn apply_until_stopped(&self, shared: &Weak<Shared>) {
        // Whether the last gathering found records: then the applier
        // gathers again at once, without sleeping until a publish wakes it.
        let mut lingering = false;
        loop {
            let batch = {
                let mut queue = self.queue();
                if !lingering {
                    while queue.idle() && !queue.stop {
                        queue.asleep = true;
                        queue = self
                            .wake
                            .wait(queue)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                    queue.asleep = false;
                }
                let gathering = std::time::Instant::now() + GATHER;
                while !queue.urgent && !queue.stop {
                    let left = gathering.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    queue = self
                        .wake
                        .wait_timeout(queue, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                if queue.stop {
                    return;
                }
                queue.urgent = false;
                match queue.idle() {
                    true => Vec::new(),
                    false => std::mem::take(&mut queue.records),
                }
            };
            lingering = !batch.is_empty();
            if batch.is_empty() {
                continue;
            }
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let last = batch.last().map_or(0, |(seq, _)| *seq);
            #[cfg(test)]
            {
                let fail = self.queue().fail.take();
                if let Some(err) = fail {
                    self.stopped(&shared.path, err);
                    return;
                }
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                apply_batch(&shared.db, &shared.path, &batch)
            }))
            .unwrap_or_else(|payload| Err(ProviderError::from_panic(&*payload)));
            match outcome {
                Ok(()) => {
                    shared.committer.latest.renew(&shared.db);
                    self.retire(last);
                    self.queue().applied = last;
                    self.settled.notify_all();
                }
                Err(err) => {
                    self.stopped(&shared.path, err);
                    return;
                }
            }
        }
    }

    /// Records that applying failed with `err`: every later settle fails
    /// with it, naming the fix.
    fn stopped(&self, path: &Path, err: ProviderError) {
        let err = ProviderError::storage(format!(
            "{}; acknowledged writes are durable in the journal but cannot be applied to the \
             database file: reopen the provider to replay them",
            err.message()
        ));
        tracing::error!(path = %path.display(), %err, "the journal's applier stopped");
        self.queue().failed = Some(err);
        self.settled.notify_all();
    }

    /// Makes the applier's next apply fail with `err`, for tests of what
    /// follows a failing disk.
    #[cfg(test)]
    pub(crate) fn fail_next(&self, err: ProviderError) {
        self.queue().fail = Some(err);
    }

    /// Removes the entries written by records up to `last`, now applied;
    /// an entry a later record wrote again stays.
    fn retire(&self, last: u64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.values().any(|w| w.seq > last) {
            entries.retain(|_, w| w.seq > last);
            return;
        }
        // Every entry is applied: the map is freed outside the lock, so
        // readers do not wait for it.
        let retired = std::mem::take(&mut *entries);
        drop(entries);
        drop(retired);
    }
}

/// Applies `batch` to redb in one non-durable commit; the next checkpoint
/// makes it durable.
fn apply_batch(db: &Database, path: &Path, batch: &[(u64, Record)]) -> ProviderResult<()> {
    let mut txn = db.begin_write().at(path)?;
    txn.set_durability(Durability::None).at(path)?;
    {
        let mut tables = Tables::open_for_records(&txn, path)?;
        for (seq, payload) in batch {
            apply_record(&mut tables, path, *seq, payload)?;
        }
        tables.finish()?;
    }
    txn.commit().at(path)
}
