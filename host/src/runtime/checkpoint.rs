//! Source checkpoints: reading a plugin's persisted position, and the
//! task that persists every source's watermark, each write conditional
//! on this instance still owning the source.

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::task::JoinHandle;

use super::{
    owner::Ownership,
    progress::{PluginStats, SourceProgress, SOURCE_CHECKPOINT_KEY},
    report::{HostError, PluginKind},
    routes::Routes,
};
use crate::{
    plugin::PluginError,
    store::{ErrorKind, Operation, ScopedStore, StoreError, TxnOp},
};

/// How many times a source checkpoint whose answer was lost is written again.
const UNKNOWN_OUTCOME_ATTEMPTS: u32 = 8;

/// The position stored under `key` in a plugin's store, if any; a value
/// that is not a number is refused as a damaged checkpoint.
pub(super) async fn read_position(
    store: &ScopedStore,
    key: &str,
) -> Result<Option<u64>, HostError> {
    let Some(bytes) = store.get(key).await? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    text.trim()
        .parse::<u64>()
        .map(Some)
        .map_err(|_| HostError::BadCheckpoint {
            plugin: store.store_id().to_string(),
            key: key.to_string(),
            value: text.into_owned(),
        })
}

/// Persists every source's watermark as its checkpoint (in the source's
/// own store, in its provider), when it moved, each conditional on this
/// instance still owning the source; a fenced source is marked so (its
/// `emit` then fails) and left out.
pub(super) async fn persist_watermarks(
    routes: &Routes,
    progress: &[Arc<SourceProgress>],
    owners: &HashMap<String, Arc<Ownership>>,
    persisted: &mut HashMap<Arc<str>, u64>,
    stats: &[(String, PluginKind, Arc<PluginStats>)],
) -> Result<(), StoreError> {
    for p in progress {
        let mark = p.watermark();
        let last = persisted.entry(Arc::clone(&p.source)).or_insert(0);
        let Some(owner) = owners.get(&*p.source) else {
            continue;
        };
        if mark > *last && owner.fenced().is_none() {
            let ops = vec![
                owner.check(),
                TxnOp::put(SOURCE_CHECKPOINT_KEY, mark.to_string().into_bytes()),
            ];
            let store = &routes.route(&p.source).store;
            let mut result = store.transaction(&p.source, ops.clone()).await;
            // The write is a put under the ownership check: running it again
            // after a lost answer stores the same checkpoint, or is fenced.
            for _ in 0..UNKNOWN_OUTCOME_ATTEMPTS {
                match &result {
                    Err(e) if e.kind() == ErrorKind::OUTCOME_UNKNOWN => {
                        result = store.transaction(&p.source, ops.clone()).await;
                    }
                    _ => break,
                }
            }
            if let Err(e) = result {
                match owner.explain(e).await {
                    PluginError::Fenced(_) => continue,
                    PluginError::Store(e) => return Err(e),
                    other => {
                        return Err(StoreError::host(
                            Operation::Transaction,
                            "host",
                            &p.source,
                            ErrorKind::INTERNAL,
                            other.to_string(),
                        ))
                    }
                }
            }
            *last = mark;
            if let Some((_, _, s)) = stats.iter().find(|(id, _, _)| **id == *p.source) {
                s.set_checkpoint(mark);
                s.add_commit();
            }
        }
    }
    Ok(())
}

/// Persists the sources' watermarks every `interval`, until the task is
/// aborted (the stop persists them once more itself).
pub(super) fn spawn_checkpointer(
    routes: Routes,
    progress: Vec<Arc<SourceProgress>>,
    owners: HashMap<String, Arc<Ownership>>,
    interval: Duration,
    stats: Vec<(String, PluginKind, Arc<PluginStats>)>,
) -> JoinHandle<HashMap<Arc<str>, u64>> {
    tokio::spawn(async move {
        let mut persisted: HashMap<Arc<str>, u64> = progress
            .iter()
            .map(|p| (Arc::clone(&p.source), p.watermark()))
            .collect();
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) =
                persist_watermarks(&routes, &progress, &owners, &mut persisted, &stats).await
            {
                tracing::warn!(error = %e, "could not persist source checkpoints; will retry");
            }
        }
    })
}
