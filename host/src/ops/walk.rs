//! `StoreWalk`: every entry of one store, in key order, a page at a time.

use std::sync::Arc;

use crate::store::{CapabilityFlags, KeyEntry, Scan, StateStore, StoreResult};

/// Entries per page unless the provider allows fewer.
const DEFAULT_PAGE: u32 = 500;

/// Walks one store (optionally one key prefix) in ascending key order, a
/// page at a time, so memory stays bounded by one page.
///
/// Uses `scan` when the provider declares `ORDERED_SCANS`; otherwise lists
/// the keys (`list_keys`, ascending by contract; only keys are held) and
/// reads their entries a page at a time, skipping keys deleted meanwhile.
/// The walk is not a snapshot: writes during the walk may or may not be seen.
pub struct StoreWalk {
    store: Arc<dyn StateStore>,
    store_id: String,
    prefix: String,
    page: u32,
    state: State,
    /// Where the scan of the last page began (`None`: at the start, or the
    /// walk does not scan).
    page_start: Option<Option<String>>,
}

enum State {
    Start,
    Scanning { after: Option<String> },
    Listed { keys: std::vec::IntoIter<String> },
    Done,
}

impl StoreWalk {
    /// A walk over every key of `store_id` starting with `prefix`.
    pub fn new(store: &Arc<dyn StateStore>, store_id: &str, prefix: &str) -> Self {
        let max = store.capabilities().limits().max_scan_limit.max(1);
        StoreWalk {
            store: Arc::clone(store),
            store_id: store_id.to_string(),
            prefix: prefix.to_string(),
            page: DEFAULT_PAGE.min(max),
            state: State::Start,
            page_start: None,
        }
    }

    /// The store walked.
    pub(crate) fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// The store_id walked.
    pub(crate) fn store_id(&self) -> &str {
        &self.store_id
    }

    /// The prefix walked.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// When the last page came from a scan: the cursor that scan began
    /// after (`Some(None)`: the store's first key).
    pub(crate) fn page_start(&self) -> Option<Option<&str>> {
        self.page_start.as_ref().map(Option::as_deref)
    }

    /// The same walk with at most `entries` per page (within the provider's limit).
    pub fn page_size(mut self, entries: u32) -> Self {
        let max = self.store.capabilities().limits().max_scan_limit.max(1);
        self.page = entries.clamp(1, max);
        self
    }

    /// The next page, never empty; `None` when the walk is done.
    pub async fn next_page(&mut self) -> StoreResult<Option<Vec<KeyEntry>>> {
        loop {
            match &mut self.state {
                State::Done => return Ok(None),
                State::Start => {
                    self.state = if self
                        .store
                        .capabilities()
                        .has(CapabilityFlags::ORDERED_SCANS)
                    {
                        State::Scanning { after: None }
                    } else {
                        let mut keys = self.store.list_keys(&self.store_id).await?;
                        keys.retain(|k| k.starts_with(&self.prefix));
                        State::Listed {
                            keys: keys.into_iter(),
                        }
                    };
                }
                State::Scanning { after } => {
                    let mut scan = Scan::prefix(self.prefix.clone()).limit(self.page);
                    scan.after = after.take();
                    self.page_start = Some(scan.after.clone());
                    let page = self.store.scan(&self.store_id, &scan).await?;
                    match page.next {
                        Some(next) => *after = Some(next),
                        None => self.state = State::Done,
                    }
                    if !page.entries.is_empty() {
                        return Ok(Some(page.entries));
                    }
                }
                State::Listed { keys } => {
                    let chunk: Vec<String> = keys.by_ref().take(self.page as usize).collect();
                    if chunk.is_empty() {
                        self.state = State::Done;
                        continue;
                    }
                    let mut entries = Vec::with_capacity(chunk.len());
                    for key in chunk {
                        if let Some(e) = self.store.get_entry(&self.store_id, &key).await? {
                            entries.push(KeyEntry {
                                key,
                                value: e.value,
                                version: e.version,
                            });
                        }
                    }
                    if !entries.is_empty() {
                        return Ok(Some(entries));
                    }
                }
            }
        }
    }
}
