//! [`Plan`]: one write carried out against the versions read at its start.
//!
//! Every statement is a round trip, so a write does not run its
//! operations one by one: the versions of every key it names are read in
//! one statement, [`apply`](stateplug_provider_api::apply) runs the checks
//! and operations against that picture (the store lock keeps it true until
//! the commit), the puts and deletes wait in `pending`, and
//! [`Plan::finish`] writes each key's final state in at most two statements.
//! A clear writes what waits first, since it removes it too.

use std::collections::HashMap;

use stateplug_provider_api::{ProviderError, ProviderResult, StoreWriter, WriteFailure};

use crate::pool::CallError;
use crate::writer::{Put, Write};

/// What a write leaves under a key: a value and its expiry in unix
/// milliseconds (`None`: never), or `None` (deleted).
type KeyState<V> = Option<(V, Option<i64>)>;

/// One write planned against the versions read at its start.
pub(crate) struct Plan<'p, 'c> {
    write: &'p mut Write<'c>,
    known: HashMap<String, Option<u64>>,
    /// Each key's states in order.
    pending: Vec<(String, KeyState<Vec<u8>>)>,
    /// The time the write runs at: keys expired by then are absent.
    now: i64,
    /// A client error met inside `apply`, returned as itself afterwards so
    /// the pool can tell a lost connection from a refusal.
    failed: Option<CallError>,
}

impl<'p, 'c> Plan<'p, 'c> {
    /// A plan for a write at time `now` that names `names`, whose
    /// versions (of the keys not expired by `now`) it reads now.
    pub(crate) fn new(
        write: &'p mut Write<'c>,
        names: &[&str],
        now: i64,
    ) -> Result<Self, CallError> {
        let found = if names.is_empty() {
            HashMap::new()
        } else {
            write.versions(names, now)?
        };
        let known = names
            .iter()
            .map(|k| (k.to_string(), found.get(*k).copied()))
            .collect();
        Ok(Plan {
            write,
            known,
            pending: Vec::new(),
            now,
            failed: None,
        })
    }

    fn kept<T>(&mut self, result: Result<T, CallError>) -> ProviderResult<T> {
        result.map_err(|e| {
            let shown = ProviderError::internal("a statement of the write failed");
            self.failed = Some(e);
            shown
        })
    }

    /// Writes what waits: the last state of each key.
    fn flush(&mut self) -> Result<(), CallError> {
        let mut last: Vec<(&str, KeyState<&[u8]>)> = Vec::new();
        let mut slot: HashMap<&str, usize> = HashMap::new();
        for (key, state) in &self.pending {
            let state = state.as_ref().map(|(v, at)| (v.as_slice(), *at));
            match slot.get(key.as_str()) {
                Some(&i) => last[i].1 = state,
                None => {
                    slot.insert(key, last.len());
                    last.push((key, state));
                }
            }
        }
        let puts: Vec<Put<'_>> = last
            .iter()
            .filter_map(|(k, state)| state.map(|(v, at)| (*k, v, at)))
            .collect();
        let deletes: Vec<&str> = last
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| *k)
            .collect();
        if !puts.is_empty() {
            self.write.upsert(&puts)?;
        }
        if !deletes.is_empty() {
            self.write.delete(&deletes)?;
        }
        self.pending.clear();
        Ok(())
    }

    /// Ends the plan with `apply`'s outcome: writes what waits and returns
    /// the revision, or the error (the client's own, if one was met).
    pub(crate) fn finish(mut self, outcome: Result<u64, WriteFailure>) -> Result<u64, CallError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let revision = outcome.map_err(ProviderError::from)?;
        self.flush()?;
        Ok(revision)
    }
}

impl StoreWriter for Plan<'_, '_> {
    fn version(&mut self, key: &str) -> ProviderResult<Option<u64>> {
        Ok(self.known.get(key).copied().flatten())
    }

    fn put(&mut self, key: &str, value: &[u8], version: u64) -> ProviderResult<Option<u64>> {
        self.put_expiring(key, value, version, None)
    }

    fn put_expiring(
        &mut self,
        key: &str,
        value: &[u8],
        version: u64,
        expires_at_ms: Option<u64>,
    ) -> ProviderResult<Option<u64>> {
        let at = match expires_at_ms.map(i64::try_from) {
            None => None,
            Some(Ok(at)) => Some(at),
            Some(Err(_)) => {
                return Err(ProviderError::invalid_argument(format!(
                    "the expiry of key {key:?} is past the year 292 million, beyond what \
                     PostgreSQL's bigint holds; give a shorter time to live"
                )))
            }
        };
        self.pending
            .push((key.to_string(), Some((value.to_vec(), at))));
        Ok(self.known.insert(key.to_string(), Some(version)).flatten())
    }

    fn delete(&mut self, key: &str) -> ProviderResult<Option<u64>> {
        let prior = self.known.get(key).copied().flatten();
        if prior.is_some() {
            self.pending.push((key.to_string(), None));
            self.known.insert(key.to_string(), None);
        }
        Ok(prior)
    }

    fn clear(&mut self, removed: &mut dyn FnMut(&str, u64)) -> ProviderResult<()> {
        let flushed = self.flush();
        self.kept(flushed)?;
        let cleared = self.write.clear(self.now);
        for (key, version) in self.kept(cleared)? {
            removed(&key, version);
        }
        for state in self.known.values_mut() {
            *state = None;
        }
        Ok(())
    }

    fn revision(&mut self) -> ProviderResult<u64> {
        let version = self.write.version();
        self.kept(version)
    }
}
