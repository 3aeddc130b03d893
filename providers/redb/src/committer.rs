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
//! inside a group (storage, a panic) aborts the whole group and every
//! write of the group gets the error: nothing of the group was committed.
//! What each write changed is kept in a [`ChangeLog`] and handed to its
//! caller only once the group holding it is durable.
//!
//! With a journal (see [`crate::journal`]) a group is made durable by one
//! journal append and one sync. A group of puts and deletes is deferred:
//! it runs on the state of every acknowledged write without a redb
//! transaction (see [`crate::deferred`]), and once its record is synced it
//! is published to readers and applied to redb later by the applier thread
//! (see [`crate::unapplied`]). Any other group (a clear, history kept,
//! expired keys to remove, the sweeper's) first waits until every published
//! record is applied, then runs in a redb transaction committed without
//! durability after its record is synced. Either way readers never see a
//! write that is not yet durable. A checkpoint, due by size or time, waits
//! for the applier too, then commits redb durably, recording the last
//! journaled `seq` in the same commit, and the journal starts over. After a
//! journal I/O error, or a redb commit that fails after its record was
//! synced (the write is durable but not in the open database), every later
//! write is refused until the provider is reopened, which replays the
//! journal.
//!
//! Every group that finds a key expired by its time (the committer keeps a
//! lower bound of the earliest expiry) runs in a redb transaction and,
//! after its writes, removes up to [`SWEEP_PER_GROUP`] such keys, at
//! revisions of their own. The background
//! sweeper (see [`crate::sweeper`]) runs groups of no writes through
//! [`Committer::sweep`], as a leader like any other: a group that changes
//! nothing (nothing expired, or only refused writes) aborts its redb
//! transaction, so it appends no journal record, commits nothing and
//! consumes no revision. The keys a group removed are recorded in the
//! committer's expiry feed once the group is committed and before any of
//! its writers returns.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
};

use redb::{Database, Durability};
use stateplug_provider_api::{
    apply, Clock, ExpiryLog, ProviderError, ProviderResult, WriteFailure, WriteOp,
};

use crate::deferred::DeferredWriter;
use crate::errors::AtPath;
use crate::journal::Journal;
use crate::ops::{ChangeLog, OwnedWrite};
use crate::record::Effects;
use crate::snapshot::LatestEntries;
use crate::unapplied::{Record, Unapplied, WrittenMap};
use crate::writer::{next_revision, Revisions, Tables};

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
    /// The journal, when the file has one; used only by the leader.
    journal: Option<Mutex<JournalState>>,
    /// The time each group runs at: it hides keys expired by then from
    /// the group's writes, and removes up to [`SWEEP_PER_GROUP`] of them.
    pub(crate) clock: Clock,
    /// The expiry feed: every key a committed group removed.
    pub(crate) expired: ExpiryLog,
    /// The snapshot reads share; forgotten after every commit, before
    /// any of its writers returns.
    pub(crate) latest: LatestEntries,
    /// Deferred groups' writes not yet applied to redb.
    pub(crate) unapplied: Arc<Unapplied>,
    /// Whether the file keeps history: then no group is deferred.
    history: bool,
    /// At most the earliest expiry of any key (`u64::MAX`: none expires).
    /// A group at or past it runs in a redb transaction, which removes
    /// expired keys and sets it from `EXPIRING` again.
    earliest_expiry: AtomicU64,
}

/// How many expired keys a group commit removes, at most.
pub(crate) const SWEEP_PER_GROUP: usize = 64;

/// The journal and what a group needs around it.
struct JournalState {
    journal: Journal,
    /// The record being built, reused between groups.
    effects: Effects,
    /// Set when writes can no longer be made durable in order: every
    /// later group fails with it.
    broken: Option<ProviderError>,
}

impl Committer {
    /// A committer for a file whose `META[REVISION]` is `stored`, with
    /// `journal` if the file has one (already replayed), that keeps
    /// `history` or not, and whose earliest expiry is `earliest_expiry`.
    pub(crate) fn new(
        stored: u64,
        journal: Option<Journal>,
        history: bool,
        earliest_expiry: Option<u64>,
    ) -> Self {
        Committer {
            state: Mutex::default(),
            revisions: Mutex::new(Revisions::from_stored(stored)),
            commits: AtomicU64::new(0),
            journal: journal.map(|journal| {
                Mutex::new(JournalState {
                    journal,
                    effects: Effects::default(),
                    broken: None,
                })
            }),
            clock: Clock::SYSTEM,
            expired: ExpiryLog::default(),
            latest: LatestEntries::default(),
            unapplied: Arc::default(),
            history,
            earliest_expiry: AtomicU64::new(earliest_expiry.unwrap_or(u64::MAX)),
        }
    }

    /// Journal records appended since the file was opened (0 without a journal).
    pub(crate) fn journal_appends(&self) -> u64 {
        self.journal.as_ref().map_or(0, |j| {
            j.lock()
                .unwrap_or_else(|p| p.into_inner())
                .journal
                .appends()
        })
    }

    /// Checkpoints the journal, if anything is journaled since the last
    /// checkpoint (see [`Committer::checkpoint_now`]). Runs when the
    /// provider closes, so the next open replays nothing.
    pub(crate) fn checkpoint(&self, db: &Database, path: &Path) -> ProviderResult<()> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let mut js = journal.lock().unwrap_or_else(|p| p.into_inner());
        if js.broken.is_some() || !js.journal.dirty() {
            return Ok(());
        }
        self.checkpoint_now(&mut js, db, path)
    }

    /// Waits until every deferred group is applied to redb, then makes redb
    /// durable in one commit recording the last journaled `seq`; the journal
    /// starts over.
    fn checkpoint_now(
        &self,
        js: &mut JournalState,
        db: &Database,
        path: &Path,
    ) -> ProviderResult<()> {
        self.unapplied.settle()?;
        let txn = db.begin_write().at(path)?;
        txn.open_table(crate::schema::META)
            .at(path)?
            .insert(crate::schema::JOURNAL_SEQ, js.journal.last_seq())
            .at(path)?;
        txn.commit().at(path)?;
        self.latest.forget();
        js.journal.checkpointed();
        Ok(())
    }

    /// Whether a group of `jobs` may be deferred: the file has a journal
    /// and keeps no history, no job clears a store, and no key can have
    /// expired by `now`.
    fn deferrable(&self, jobs: &[Job<'_>], now: u64) -> bool {
        self.journal.is_some()
            && !self.history
            && now < self.earliest_expiry.load(Ordering::Acquire)
            && !jobs
                .iter()
                .any(|(_, ops)| ops.iter().any(|op| matches!(op, WriteOp::Clear)))
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

    /// Runs a group of no writes that only removes up to
    /// [`SWEEP_PER_GROUP`] expired keys, if no group is running: it leads
    /// the group itself, so it is serialized with writers, journaled and
    /// made durable exactly like a write group, and writers that arrive
    /// meanwhile queue for the next group. Returns how many keys it
    /// removed, or `None` when a group was already running (every group
    /// sweeps too, so the sweeper need not wait for it).
    pub(crate) fn sweep(&self, db: &Database, path: &Path) -> ProviderResult<Option<usize>> {
        {
            let mut state = self.lock();
            if state.leading {
                return Ok(None);
            }
            state.leading = true;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| run_transaction(db, path, &[], self)));
        self.hand_over();
        match outcome {
            Ok(Ok((_, swept))) => Ok(Some(swept)),
            Ok(Err(err)) => Err(err),
            Err(payload) => Err(ProviderError::from_panic(&*payload)),
        }
    }

    /// Sets the lower bound of the earliest expiry to `first`, read from
    /// `EXPIRING` in a transaction that saw every acknowledged write.
    fn set_earliest_expiry(&self, first: Option<u64>) {
        self.earliest_expiry
            .store(first.unwrap_or(u64::MAX), Ordering::Release);
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

/// Runs every write in one group, deferred or in one transaction, made
/// durable once; one answer per write, in order.
fn run_group(db: &Database, path: &Path, jobs: &[Job<'_>], committer: &Committer) -> Vec<Answer> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let now = committer.clock.now_ms();
        if committer.deferrable(jobs, now) {
            run_deferred(db, path, jobs, committer, now)
        } else {
            run_transaction(db, path, jobs, committer).map(|(answers, _)| answers)
        }
    }));
    match outcome {
        Ok(Ok(answers)) => answers,
        Ok(Err(err)) => vec![Err(err); jobs.len()],
        Err(payload) => vec![Err(ProviderError::from_panic(&*payload)); jobs.len()],
    }
}

/// Runs `jobs` in one transaction, then removes up to [`SWEEP_PER_GROUP`]
/// expired keys in it, and commits it once if anything changed: one answer
/// per write, in order, and how many expired keys it removed. A group that
/// changes nothing (no jobs and nothing expired, or only refused writes)
/// aborts its transaction: it appends no journal record, makes no commit
/// and consumes no revision.
fn run_transaction(
    db: &Database,
    path: &Path,
    jobs: &[Job<'_>],
    committer: &Committer,
) -> ProviderResult<(Vec<Answer>, usize)> {
    let mut journal = committer
        .journal
        .as_ref()
        .map(|j| j.lock().unwrap_or_else(|p| p.into_inner()));
    if let Some(err) = journal.as_ref().and_then(|j| j.broken.clone()) {
        return Err(err);
    }
    // The transaction must see every deferred group's writes.
    committer.unapplied.settle()?;
    let effects = journal.as_mut().map(|j| {
        let mut effects = std::mem::take(&mut j.effects);
        effects.clear();
        effects
    });
    let start = *committer
        .revisions
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let mut txn = db.begin_write().at(path)?;
    let mut answers = Vec::with_capacity(jobs.len());
    let mut writes = 0;
    let mut checkpoint = false;
    let earliest_expiry;
    let (changed, effects, swept) = {
        let mut tables = Tables::open(&txn, path, start, effects)?;
        tables.set_now(committer.clock.now_ms());
        for (store_id, ops) in jobs {
            let mut writer = tables.writer(store_id)?;
            let mut log = ChangeLog::default();
            match apply(ops, &mut writer, &mut |c| log.push(c)) {
                Ok(revision) => {
                    writes += usize::from(writer.finish()?.is_some());
                    answers.push(Ok((revision, log)));
                }
                Err(WriteFailure::Refused(err)) => {
                    tables.drop_call();
                    answers.push(Err(err));
                }
                // Part of the write may be in the transaction: abort it all.
                Err(WriteFailure::Failed(err)) => return Err(err),
            }
        }
        let swept = tables.sweep_expired(SWEEP_PER_GROUP)?;
        earliest_expiry = tables.first_expiry()?;
        let effects = tables.take_effects();
        if let (Some(j), Some(e)) = (journal.as_mut(), effects.as_ref()) {
            let len = e.bytes().len();
            checkpoint = j.journal.checkpoint_due(len);
            // A journal that cannot grow (a full disk) is checkpointed and
            // reused from its start instead.
            if !checkpoint {
                if let Err(err) = j.journal.reserve(len) {
                    tracing::warn!(%err, "checkpointing instead of growing the journal");
                    checkpoint = true;
                }
            }
            if checkpoint {
                tables.set_journal_seq(j.journal.last_seq())?;
            }
        }
        (tables.finish()?, effects, swept)
    };
    let Some(revisions) = changed else {
        txn.abort().at(path)?;
        committer.set_earliest_expiry(earliest_expiry);
        if let (Some(j), Some(e)) = (journal.as_mut(), effects) {
            j.effects = e;
        }
        return Ok((answers, swept.len()));
    };
    match (journal.as_mut(), effects) {
        (Some(j), Some(effects)) if !checkpoint => {
            txn.set_durability(Durability::None).at(path)?;
            if let Err(err) = j.journal.append(effects.bytes()) {
                // The record may or may not be on disk: refuse writes until
                // a reopen settles it by replay.
                j.broken = Some(err.clone());
                let _ = txn.abort();
                return Err(err);
            }
            j.effects = effects;
            if let Err(err) = txn.commit().at(path) {
                let err = ProviderError::storage(format!(
                    "{}; the write is durable in the journal but not applied: reopen the \
                     provider to replay it",
                    err.message()
                ));
                j.broken = Some(err.clone());
                return Err(err);
            }
        }
        (Some(j), effects) => {
            txn.commit().at(path)?;
            j.journal.checkpointed();
            if let Some(effects) = effects {
                j.effects = effects;
            }
        }
        (None, _) => txn.commit().at(path)?,
    }
    committer.latest.forget();
    committer.set_earliest_expiry(earliest_expiry);
    *committer
        .revisions
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = revisions;
    committer.commits.fetch_add(1, Ordering::Relaxed);
    for (store_id, key, revision) in &swept {
        committer.expired.record(store_id, key, *revision);
    }
    tracing::trace!(target: "stateplug_provider_redb::commit", "group commit writes={writes} calls={} swept={} checkpoint={checkpoint}", jobs.len(), swept.len());
    Ok((answers, swept.len()))
}

/// Runs `jobs` as a deferred group at time `now`: every write on the state
/// of the acknowledged writes, without a redb transaction; then, if
/// anything changed, one journal append and sync, after which the group is
/// published to readers and queued for the applier. One answer per write,
/// in order. A group that changes nothing appends nothing and consumes no
/// revision.
fn run_deferred(
    db: &Database,
    path: &Path,
    jobs: &[Job<'_>],
    committer: &Committer,
    now: u64,
) -> ProviderResult<Vec<Answer>> {
    let Some(journal) = committer.journal.as_ref() else {
        return Err(ProviderError::internal("a deferred group needs a journal"));
    };
    let mut js = journal.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(err) = js.broken.clone().or_else(|| committer.unapplied.failure()) {
        return Err(err);
    }
    let mut effects = std::mem::take(&mut js.effects);
    effects.clear();
    let mut given = committer
        .revisions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .given;
    let mut written =
        WrittenMap::with_capacity(jobs.iter().map(|(_, ops)| ops.len()).sum::<usize>());
    let mut answers = Vec::with_capacity(jobs.len());
    let mut earliest_expiry = u64::MAX;
    {
        let view = committer.unapplied.view(&committer.latest, db, path)?;
        for (store_id, ops) in jobs {
            let revision = next_revision(given, path)?;
            effects.begin_unit(revision, store_id);
            let mut writer = DeferredWriter {
                view: &view,
                written: &mut written,
                effects: &mut effects,
                path,
                store_id,
                revision,
                now,
                earliest_expiry,
                changed: false,
            };
            let mut log = ChangeLog::default();
            match apply(ops, &mut writer, &mut |c| log.push(c)) {
                Ok(answer) => {
                    if writer.changed {
                        given = revision;
                    }
                    earliest_expiry = writer.earliest_expiry;
                    answers.push(Ok((answer, log)));
                }
                // A refused write wrote nothing: checks run first.
                Err(WriteFailure::Refused(err)) => {
                    effects.drop_unit();
                    answers.push(Err(err));
                }
                Err(WriteFailure::Failed(err)) => {
                    js.effects = effects;
                    return Err(err);
                }
            }
        }
    }
    if written.is_empty() {
        js.effects = effects;
        return Ok(answers);
    }
    let outcome = append_deferred(committer, &mut js, db, path, effects.bytes());
    let payload: Record = Arc::from(effects.bytes());
    js.effects = effects;
    outcome?;
    committer
        .earliest_expiry
        .fetch_min(earliest_expiry, Ordering::AcqRel);
    committer
        .unapplied
        .publish(js.journal.last_seq(), written, payload);
    committer
        .revisions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .given = given;
    committer.commits.fetch_add(1, Ordering::Relaxed);
    tracing::trace!(target: "stateplug_provider_redb::commit", "deferred group commit calls={}", jobs.len());
    Ok(answers)
}

/// Makes `payload` durable as the journal's next record, checkpointing
/// first when one is due or the journal cannot grow (a full disk). An
/// error before the append writes nothing replay could read; an error of
/// the append itself leaves the record maybe on disk, so the journal
/// refuses every later write until a reopen settles it by replay.
fn append_deferred(
    committer: &Committer,
    js: &mut JournalState,
    db: &Database,
    path: &Path,
    payload: &[u8],
) -> ProviderResult<()> {
    if js.journal.checkpoint_due(payload.len()) {
        committer.checkpoint_now(js, db, path)?;
    }
    if let Err(err) = js.journal.reserve(payload.len()) {
        tracing::warn!(%err, "checkpointing instead of growing the journal");
        committer.checkpoint_now(js, db, path)?;
        js.journal.reserve(payload.len())?;
    }
    if let Err(err) = js.journal.append(payload) {
        js.broken = Some(err.clone());
        return Err(err);
    }
    Ok(())
}
