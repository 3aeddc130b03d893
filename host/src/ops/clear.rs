//! Clearing stores under their locks.

use std::sync::Arc;

use crate::store::StateStore;

use super::{select_stores, LockRequest, LockSet, OpsError};

/// Clears every store in `store_ids` while holding their locks; returns
/// how many keys each had. Reserved stores are refused.
pub async fn clear_stores(
    store: &Arc<dyn StateStore>,
    store_ids: &[String],
    lock: &LockRequest,
) -> Result<Vec<(String, u64)>, OpsError> {
    if store_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = select_stores(store, store_ids).await?;
    let locks = LockSet::acquire(store, &ids, lock).await?;
    let mut out = Vec::with_capacity(ids.len());
    let mut failure = None;
    for id in &ids {
        match store.clear_store(id).await {
            Ok(n) => out.push((id.clone(), n)),
            Err(e) => {
                failure = Some(OpsError::from(e));
                break;
            }
        }
    }
    let released = locks.release().await;
    match failure {
        Some(e) => Err(e),
        None => released.map(|()| out),
    }
}
