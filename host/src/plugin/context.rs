//! What a running plugin is handed: its scoped store, its inputs or outputs,
//! and the host's stop signal.

use std::{collections::HashMap, sync::Arc};

use tokio::sync::{mpsc, watch, Mutex};

use crate::{
    plugin::{Event, PluginError, PluginResult, Snapshot},
    runtime::progress::{reaction_checkpoint_key, PluginStats, SourceProgress},
    store::{ScopedStore, TxnOp},
};

/// A running source's handle on the host.
pub struct SourceContext {
    pub(crate) store: ScopedStore,
    pub(crate) outputs: Vec<mpsc::Sender<Event>>,
    pub(crate) progress: Arc<SourceProgress>,
    pub(crate) stats: Arc<PluginStats>,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) resume: u64,
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
    pub async fn emit(&self, position: u64, payload: impl Into<Arc<[u8]>>) -> PluginResult<()> {
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

    /// Resolves when the host asks the source to stop.
    pub async fn stopped(&self) {
        let mut stop = self.stop.clone();
        // An error means the host is gone: stop too.
        let _ = stop.wait_for(|stopping| *stopping).await;
    }

    /// Whether the host has asked the source to stop.
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
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
    pub async fn commit(&self, batch: &[Event], mut ops: Vec<TxnOp>) -> PluginResult<u64> {
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
        let version = self.store.transaction(ops).await?;
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
}
