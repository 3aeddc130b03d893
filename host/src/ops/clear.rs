//! Clearing stores under their locks.

use std::sync::Arc;

use crate::store::StateStore;

use super::{locks::after_release, select_stores, LockRequest, LockSet, Monitor, OpsError};

/// Clears every store in `store_ids` while holding their locks; returns
/// how many keys each had. Reserved stores are refused. Each store is
/// cleared whole (one call); between stores, `monitor` may stop the rest.
pub async fn clear_stores(
    store: &Arc<dyn StateStore>,
    store_ids: &[String],
    lock: &LockRequest,
    monitor: &dyn Monitor,
) -> Result<Vec<(String, u64)>, OpsError> {
    if store_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = select_stores(store, store_ids).await?;
    let locks = LockSet::acquire(store, &ids, lock).await?;
    let outcome = clear_each(store, &ids, monitor).await;
    after_release(outcome, locks.release().await)
}

async fn clear_each(
    store: &Arc<dyn StateStore>,
    ids: &[String],
    monitor: &dyn Monitor,
) -> Result<Vec<(String, u64)>, OpsError> {
    monitor.begin(ids.len(), 0);
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if monitor.stop_requested() {
            let cleared: Vec<String> = out.iter().map(|(s, _)| format!("{s:?}")).collect();
            let left: Vec<String> = ids[out.len()..].iter().map(|s| format!("{s:?}")).collect();
            return Err(OpsError::Stopped {
                operation: "clear".to_string(),
                done: format!(
                    "cleared {}; {} unchanged; the locks are released. Run the same clear \
                     again to finish",
                    if cleared.is_empty() {
                        "nothing".to_string()
                    } else {
                        cleared.join(", ")
                    },
                    left.join(", ")
                ),
            });
        }
        monitor.store(id);
        let n = store.clear_store(id).await?;
        monitor.advance(n);
        out.push((id.clone(), n));
    }
    Ok(out)
}
