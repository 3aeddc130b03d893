//! Entries with their expiries, as dumps and migrations copy them: a key
//! copied without the expiry it had would never expire, so an expiry is
//! either carried or the copy is refused.

use std::{collections::HashMap, sync::Arc};

use crate::store::{CapabilityFlags, KeyEntry, Operation, Scan, StateStore, WriteOp};

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
        let present = self.still_present(&unexpiring, keys.len()).await?;
        let mut present = present.into_iter();
        Ok(Some(
            page.into_iter()
                .zip(expiries)
                .filter(|(_, at)| at.is_some() || present.next().unwrap_or(false))
                .collect(),
        ))
    }

    /// Whether each of `keys` (ascending, from the last page, which held
    /// `page_len` keys) is still there. A walk that scans reads the page's
    /// range again, rows lent, not copied; one that does not reads the
    /// keys' entries.
    async fn still_present(&self, keys: &[&str], page_len: usize) -> Result<Vec<bool>, OpsError> {
        let (Some(last), Some(start)) = (keys.last(), self.page_start()) else {
            let found = if keys.is_empty() {
                HashMap::new()
            } else {
                self.store().get_many(self.store_id(), keys).await?
            };
            return Ok(keys.iter().map(|k| found.contains_key(*k)).collect());
        };
        let mut present = vec![false; keys.len()];
        let mut at = 0;
        let mut scan =
            Scan::prefix(self.prefix()).limit(u32::try_from(page_len.max(1)).unwrap_or(u32::MAX));
        scan.after = start.map(str::to_string);
        loop {
            let rows = self.store().scan_rows(self.store_id(), &scan).await?;
            for row in rows.iter() {
                while at < keys.len() && keys[at] < row.key {
                    at += 1;
                }
                if at < keys.len() && keys[at] == row.key {
                    present[at] = true;
                    at += 1;
                }
            }
            match rows.next() {
                Some(next) if at < keys.len() && next < *last => scan = scan.after(next),
                _ => return Ok(present),
            }
        }
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
