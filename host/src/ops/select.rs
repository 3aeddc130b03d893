//! Which stores an operation works on.

use std::sync::Arc;

use crate::store::{is_reserved_store_id, CapabilityFlags, StateStore, RESERVED_STORE_ID_REASON};

use super::OpsError;

/// Refuses a reserved store id (see [`is_reserved_store_id`]) with the reason.
pub(crate) fn refuse_reserved(store_id: &str) -> Result<(), OpsError> {
    if is_reserved_store_id(store_id) {
        return Err(OpsError::Invalid(format!(
            "store {store_id:?} is refused: {RESERVED_STORE_ID_REASON}"
        )));
    }
    Ok(())
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
        return Ok(all
            .into_iter()
            .filter(|s| !is_reserved_store_id(s))
            .collect());
    }
    let mut out: Vec<String> = Vec::with_capacity(requested.len());
    for s in requested {
        refuse_reserved(s)?;
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
