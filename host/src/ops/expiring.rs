//! Entries with their expiries, as dumps and migrations copy them: a key
//! copied without the expiry it had would never expire, so an expiry is
//! either carried or the copy is refused.

use std::{collections::HashMap, sync::Arc};

use crate::store::{CapabilityFlags, KeyEntry, Operation, StateStore, WriteOp};

use super::{OpsError, StoreWalk};

/// An entry and its expiry in unix milliseconds (`None`: never).
pub(crate) type Expiring = (KeyEntry, Option<u64>);

/// A key, value and expiry to write (`None`: never).
pub(crate) type ExpiringPut = (String, Vec<u8>, Option<u64>);

impl StoreWalk {
    /// The next page as [`StoreWalk::next_page`] gives it, each entry with
    /// its expiry (read with `expiries`, one call per page, when the store
    /// declares `TTL`; none otherwise), less the keys removed meanwhile.
    pub(crate) async fn next_page_expiring(&mut self) -> Result<Option<Vec<Expiring>>, OpsError> {
        let Some(page) = self.next_page().await? else {
            return Ok(None);
        };
        let store = self.store();
        if !store.capabilities().has(CapabilityFlags::TTL) {
            return Ok(Some(page.into_iter().map(|e| (e, None)).collect()));
        }
        let keys: Vec<&str> = page.iter().map(|e| e.key.as_str()).collect();
        let expiries = store.expiries(self.store_id(), &keys).await?;
        // `None` also answers a key removed since the page was read, as a
        // sweep removes one that expires in between: such a key is left
        // out, never copied as one that does not expire.
        let unexpiring: Vec<&str> = keys
            .iter()
            .zip(&expiries)
            .filter(|(_, at)| at.is_none())
            .map(|(key, _)| *key)
            .collect();
        let present = if unexpiring.is_empty() {
            HashMap::new()
        } else {
            store.get_many(self.store_id(), &unexpiring).await?
        };
        Ok(Some(
            page.into_iter()
                .zip(expiries)
                .filter(|(entry, at)| at.is_some() || present.contains_key(&entry.key))
                .collect(),
        ))
    }
}

/// Writes `puts` to `store_id` as one batch, each with its expiry; refused
/// before writing when a put has an expiry and the store does not declare
/// `TTL`.
pub(crate) async fn put_expiring(
    store: &Arc<dyn StateStore>,
    store_id: &str,
    puts: &[ExpiringPut],
) -> Result<(), OpsError> {
    let expiring = puts.iter().filter(|(_, _, at)| at.is_some()).count();
    if expiring > 0 && !store.capabilities().has(CapabilityFlags::TTL) {
        return Err(OpsError::Invalid(format!(
            "{expiring} key(s) of store {store_id:?} have an expiry, and provider {} does not \
             declare TTL, so it would keep them forever; copy to a provider that declares TTL \
             (memory, redb, postgres)",
            store.info().name
        )));
    }
    let ops: Vec<WriteOp<'_>> = puts
        .iter()
        .map(|(key, value, at)| match at {
            Some(at) => WriteOp::put_expiring(key, value, *at),
            None => WriteOp::put(key, value),
        })
        .collect();
    store.write(Operation::SetMany, store_id, &ops).await?;
    Ok(())
}
