//! What a running plugin is handed: its scoped store, its inputs or outputs,
//! and the host's stop signal.

use std::{collections::HashMap, sync::Arc};

use tokio::sync::{mpsc, watch, Mutex};

use crate::{
    plugin::{Event, PluginError, PluginResult, Snapshot},
    runtime::{
        owner::Ownership,
        progress::{reaction_checkpoint_key, PluginStats, SourceProgress},
    },
    store::{ErrorKind, Expected, ScopedStore, TxnOp},
};

/// How many times a commit whose outcome is unknown is read back and run
/// again before the error is handed to the reaction.
const UNKNOWN_OUTCOME_ATTEMPTS: u32 = 8;

/// A running source's handle on the host.
pub struct SourceContext {
    pub(crate) store: ScopedStore,
    pub(crate) outputs: Vec<mpsc::Sender<Event>>,
    pub(crate) progress: Arc<SourceProgress>,
    pub(crate) stats: Arc<PluginStats>,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) resume: u64,
    pub(crate) owner: Arc<Ownership>,
}

impl SourceContext {
    /// The source's id.
    pub fn id(&self) -> &str {
        self.store.store_id()
    }

    /// The source's own store (store_id = its id).
    pub fn store(&self) -> &ScopedStore {
        &self.store
    }

    /// Where to resume: every subscribed reaction has committed every event
    /// at or below this position (0 on a first run). Emit from just past it.
    pub fn resume_position(&self) -> u64 {
        self.resume
    }

    /// Emits one event to every subscribed reaction, waiting while their
    /// input is full (back-pressure). `position` must exceed the previous one.
    ///
    /// Fails with [`PluginError::Fenced`] once another host instance has
    /// taken the source over: the source then returns the error and stops.
    pub async fn emit(&self, position: u64, payload: impl Into<Arc<[u8]>>) -> PluginResult<()> {
        if let Some(fenced) = self.owner.fenced() {
            return Err(PluginError::Fenced(Box::new((*fenced).clone())));
        }
        let previous = self.progress.emitted();
        if position <= previous && previous > 0 {
            return Err(PluginError::PositionNotIncreasing {
                source_id: self.id().to_string(),
                position,
                previous,
            });
        }
        let event = Event {
            source: Arc::clone(&self.progress.source),
            position,
            payload: payload.into(),
            bootstrap: false,
        };
        for output in &self.outputs {
            if output.send(event.clone()).await.is_err() {
                return Err(PluginError::Closed(self.id().to_string()));
            }
        }
        self.progress.set_emitted(position);
        self.stats.add_events(1);
        Ok(())
    }

    /// Resolves when the host asks the source to stop, or when another
    /// host instance has taken the source over (fenced).
    pub async fn stopped(&self) {
        let mut stop = self.stop.clone();
        tokio::select! {
            // An error means the host is gone: stop too.
            _ = stop.wait_for(|stopping| *stopping) => {}
            _ = self.owner.wait_fenced() => {}
        }
    }

    /// Whether the host has asked the source to stop, or another host
    /// instance has taken it over.
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow() || self.owner.fenced().is_some()
    }
}

/// A running reaction's handle on the host.
pub struct ReactionContext {
    pub(crate) store: ScopedStore,
    pub(crate) input: Arc<Mutex<mpsc::Receiver<Event>>>,
    pub(crate) snapshots: std::sync::Mutex<Vec<(Arc<str>, Snapshot)>>,
    /// The greatest position seen per source: committed at start, delivered since.
    pub(crate) seen: std::sync::Mutex<HashMap<Arc<str>, u64>>,
    pub(crate) progress: HashMap<Arc<str>, Arc<SourceProgress>>,
    pub(crate) stats: Arc<PluginStats>,
    pub(crate) owner: Arc<Ownership>,
}

impl ReactionContext {
    /// The reaction's id.
    pub fn id(&self) -> &str {
        self.store.store_id()
    }

    /// The reaction's own store (store_id = its id).
    pub fn store(&self) -> &ScopedStore {
        &self.store
    }

    /// The next batch of events not yet seen: first any bootstrap snapshot
    /// (all of it, in one batch), then up to `max` live events (at least
    /// one; it waits for the first). Events at or below a position already
    /// seen (re-emitted after a source restart) are skipped. Returns `None`
    /// when every subscribed source has stopped and all was delivered.
    pub async fn next_batch(&self, max: usize) -> Option<Vec<Event>> {
        if let Some(batch) = self.next_snapshot() {
            return Some(batch);
        }
        let mut input = self.input.lock().await;
        loop {
            let first = input.recv().await?;
            let mut batch = Vec::with_capacity(max.max(1));
            self.keep_if_new(first, &mut batch);
            while batch.len() < max.max(1) {
                match input.try_recv() {
                    Ok(event) => self.keep_if_new(event, &mut batch),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                return Some(batch);
            }
        }
    }

    fn next_snapshot(&self) -> Option<Vec<Event>> {
        let mut snapshots = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        let (source, snapshot) = snapshots.pop()?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert(Arc::clone(&source), snapshot.position);
        Some(
            snapshot
                .items
                .into_iter()
                .map(|item| Event {
                    source: Arc::clone(&source),
                    position: snapshot.position,
                    payload: item.into(),
                    bootstrap: true,
                })
                .collect(),
        )
    }

    fn keep_if_new(&self, event: Event, batch: &mut Vec<Event>) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let last = seen.entry(Arc::clone(&event.source)).or_insert(0);
        if event.position > *last {
            *last = event.position;
            batch.push(event);
        }
    }

    /// Commits `ops` (the reaction's output state) together with its
    /// checkpoint for every source in `batch`, in one atomic transaction:
    /// after a crash, either the batch's effects and its checkpoint are both
    /// stored or neither is, so no event is applied twice or lost.
    ///
    /// The transaction is conditional on this instance still owning the
    /// reaction's store: once another host instance has taken it over, the
    /// commit writes nothing and fails with [`PluginError::Fenced`]. A commit
    /// whose answer was lost (`OUTCOME_UNKNOWN`) is resolved by reading the
    /// checkpoints back: landed, it counts; not landed, the same conditional
    /// commit runs again, also conditional on the checkpoints it read.
    pub async fn commit(&self, batch: &[Event], mut ops: Vec<TxnOp>) -> PluginResult<u64> {
        self.store.check_transaction(&ops)?;
        let mut positions: HashMap<&Arc<str>, u64> = HashMap::new();
        for event in batch {
            let p = positions.entry(&event.source).or_insert(0);
            *p = (*p).max(event.position);
        }
        for (source, position) in &positions {
            ops.push(TxnOp::put(
                reaction_checkpoint_key(source),
                position.to_string().into_bytes(),
            ));
        }
        if ops.is_empty() {
            return Ok(0);
        }
        ops.push(self.owner.check());
        let version = self.commit_resolved(ops, &positions).await?;
        for (source, position) in positions {
            if let Some(progress) = self.progress.get(source) {
                progress.acknowledge(self.id(), position);
            }
            self.stats.set_checkpoint(position);
        }
        self.stats.add_events(batch.len() as u64);
        self.stats.add_commit();
        Ok(version)
    }

    /// Runs the conditional commit `ops` until its outcome is known.
    async fn commit_resolved(
        &self,
        ops: Vec<TxnOp>,
        positions: &HashMap<&Arc<str>, u64>,
    ) -> PluginResult<u64> {
        let mut attempt = ops.clone();
        let mut resolving = 0u32;
        let host_view = self.store.with_host_records();
        loop {
            let error = match host_view.transaction(attempt).await {
                Ok(version) => return Ok(version),
                Err(e) => e,
            };
            // A conflict on a re-run may be the lost commit itself, landed late.
            let unknown = error.kind() == ErrorKind::OUTCOME_UNKNOWN
                || (resolving > 0 && error.is_conflict());
            if !unknown || positions.is_empty() || resolving >= UNKNOWN_OUTCOME_ATTEMPTS {
                return Err(self.owner.explain(error).await);
            }
            resolving += 1;
            tracing::warn!(reaction = %self.id(), error = %error, attempt = resolving,
                "commit outcome unknown; reading the checkpoints back");
            match self.read_back(positions).await? {
                ReadBack::Landed(version) => return Ok(version),
                ReadBack::NotLanded(checks) => {
                    if !self.owner.still_owned().await? {
                        let fenced = self.owner.fence_now().await;
                        return Err(PluginError::Fenced(Box::new((*fenced).clone())));
                    }
                    attempt = ops.clone();
                    attempt.extend(checks);
                }
            }
        }
    }

    /// Whether the checkpoints of a commit are stored: all of them at their
    /// new positions (it landed), or the checks that pin them where they are.
    async fn read_back(&self, positions: &HashMap<&Arc<str>, u64>) -> PluginResult<ReadBack> {
        let mut landed = true;
        let mut version = 0;
        let mut checks = Vec::with_capacity(positions.len());
        for (source, position) in positions {
            let key = reaction_checkpoint_key(source);
            let entry = self.store.get_entry(&key).await?;
            match &entry {
                Some(e) if e.value == position.to_string().into_bytes() => {
                    version = version.max(e.version);
                }
                _ => landed = false,
            }
            let expected = entry.map_or(Expected::Absent, |e| Expected::Version(e.version));
            checks.push(TxnOp::check(key, expected));
        }
        // Positions only grow, and the checkpoints are written together: all
        // at the new positions means this commit (not an earlier one) landed.
        Ok(if landed {
            ReadBack::Landed(version)
        } else {
            ReadBack::NotLanded(checks)
        })
    }
}

/// What reading a commit's checkpoints back found.
enum ReadBack {
    /// The commit landed; the greatest version among its checkpoints.
    Landed(u64),
    /// It did not; checks pinning each checkpoint at the version read.
    NotLanded(Vec<TxnOp>),
}
