//! Which stores an operation works on.

use std::sync::Arc;

use crate::store::{CapabilityFlags, StateStore};

use super::OpsError;

/// Whether `store_id` is reserved for the host's own records (it starts
/// with `$`, which plugin ids cannot).
pub fn is_reserved(store_id: &str) -> bool {
    store_id.starts_with('$')
}

/// The stores to work on: `requested` in the order given without
/// repeats, or, when it is empty, every store of `store` (which then needs
/// `LIST_STORES`) except reserved ones. Naming a reserved store is refused.
pub async fn select_stores(
    store: &Arc<dyn StateStore>,
    requested: &[String],
) -> Result<Vec<String>, OpsError> {
    if requested.is_empty() {
        if !store.capabilities().has(CapabilityFlags::LIST_STORES) {
            return Err(OpsError::Invalid(format!(
                "provider {} cannot list its stores; name them with --store <store_id>",
                store.info().name
            )));
        }
        let all = store.list_stores().await?;
        return Ok(all.into_iter().filter(|s| !is_reserved(s)).collect());
    }
    let mut out: Vec<String> = Vec::with_capacity(requested.len());
    for s in requested {
        if is_reserved(s) {
            return Err(OpsError::Invalid(format!(
                "store {s:?} is reserved for stateplug's own records (ids starting with '$'); \
                 use `stateplug state lock list` to see locks"
            )));
        }
        if s.is_empty() {
            return Err(OpsError::Invalid(
                "an empty store_id was given; name a store with --store <store_id>".to_string(),
            ));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}
