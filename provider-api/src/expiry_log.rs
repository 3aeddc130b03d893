//! [`ExpiryLog`]: the change feed of a provider that declares
//! [`CapabilityFlags::EXPIRY_FEED`](crate::CapabilityFlags::EXPIRY_FEED).

use std::{
    collections::VecDeque,
    sync::{Condvar, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use crate::{ChangeKind, ChangePage, ChangeRecord, ProviderError, ProviderResult};

/// How many removals an [`ExpiryLog`] retains for a reader that lags.
const EXPIRY_LOG_CAPACITY: usize = 65_536;
/// How many bytes of store_ids and keys it retains at most (keys may be
/// 4 KiB each).
const EXPIRY_LOG_BYTES: usize = 16 << 20;

/// How long after its last read a log counts as followed: while nobody
/// reads it, removals advance its position but are not kept.
const FOLLOWED_FOR: Duration = Duration::from_secs(30);

/// A bounded, in-memory log of a provider's removals of expired keys,
/// answering [`Provider::change_head`](crate::Provider::change_head) and
/// [`Provider::wait_changes`](crate::Provider::wait_changes).
///
/// Invariants:
/// - every removal recorded takes the next position (`head() + 1`), so
///   positions only grow, one per record;
/// - `records` holds the removals at positions `head - len + 1 ..= head`,
///   oldest first; a reader whose position lies before them missed
///   removals and gets `INVALID_ARGUMENT` ("no longer retained"), never a
///   page with a silent gap;
/// - it keeps at most `capacity` records holding at most 16 MiB of
///   store_ids and keys, and keeps none while nobody
///   called [`ExpiryLog::head`] or waited in [`ExpiryLog::wait`] within the
///   last 30 seconds (then positions still advance), so a provider nobody
///   watches spends no memory on it.
///
/// Record each removal before any later write to its key returns (under
/// the same lock that orders the writes), so that a reader that reads the
/// log after a write returns has every removal that write came after.
#[derive(Debug)]
pub struct ExpiryLog {
    state: Mutex<State>,
    grew: Condvar,
    capacity: usize,
}

#[derive(Debug)]
struct State {
    head: u64,
    records: VecDeque<ChangeRecord>,
    /// The store_id and key bytes of `records`.
    bytes: usize,
    last_read: Option<Instant>,
}

impl Default for ExpiryLog {
    /// An empty log retaining at most 65,536 removals (and 16 MiB of
    /// their store_ids and keys).
    fn default() -> Self {
        Self::with_capacity(EXPIRY_LOG_CAPACITY)
    }
}

impl ExpiryLog {
    /// An empty log retaining at most `capacity` (at least 1) removals.
    fn with_capacity(capacity: usize) -> Self {
        ExpiryLog {
            state: Mutex::new(State {
                head: 0,
                records: VecDeque::new(),
                bytes: 0,
                last_read: None,
            }),
            grew: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `key` of `store_id` expired and was removed at
    /// `revision` (a revision of the removal's own).
    pub fn record(&self, store_id: &str, key: &str, revision: u64) {
        let mut state = self.lock();
        state.head += 1;
        let followed = state
            .last_read
            .is_some_and(|at| at.elapsed() < FOLLOWED_FOR);
        if !followed {
            state.records.clear();
            state.bytes = 0;
            return;
        }
        state.bytes += store_id.len() + key.len();
        while state.records.len() >= self.capacity || state.bytes > EXPIRY_LOG_BYTES {
            let Some(old) = state.records.pop_front() else {
                break;
            };
            state.bytes -= old.store_id.len() + old.key.len();
        }
        state.records.push_back(ChangeRecord {
            store_id: store_id.to_string(),
            key: key.to_string(),
            kind: ChangeKind::Expired,
            version: revision,
        });
        drop(state);
        self.grew.notify_all();
    }

    /// The position of the last removal recorded (0: none yet).
    pub fn head(&self) -> u64 {
        let mut state = self.lock();
        state.last_read = Some(Instant::now());
        state.head
    }

    /// The removals after position `after`, oldest first, at most `limit`;
    /// waits up to `timeout_ms` for the first one. A position past the head
    /// answers an empty page; one whose successors are no longer retained
    /// fails with `INVALID_ARGUMENT`.
    pub fn wait(&self, after: u64, limit: u32, timeout_ms: u32) -> ProviderResult<ChangePage> {
        let mut state = self.lock();
        if state.head <= after && timeout_ms == 0 {
            // The common case of a reader polling: no clock read. A poll
            // does not count as following; the reader's waits do.
            return Ok(ChangePage {
                changes: Vec::new(),
                cursor: after,
            });
        }
        let now = Instant::now();
        state.last_read = Some(now);
        let deadline = now + Duration::from_millis(u64::from(timeout_ms));
        while state.head <= after {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(ChangePage {
                    changes: Vec::new(),
                    cursor: after,
                });
            }
            state = self
                .grew
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let first = state.head - state.records.len() as u64 + 1;
        if after + 1 < first {
            return Err(ProviderError::invalid_argument(format!(
                "expiry feed position {after} is no longer retained: the log keeps the latest \
                 {} removals while it is read, and holds positions {first}..={} now; removals \
                 were missed, so re-read the keys you follow and continue from change_head()",
                self.capacity, state.head
            )));
        }
        let skip = (after + 1 - first) as usize;
        let changes: Vec<ChangeRecord> = state
            .records
            .iter()
            .skip(skip)
            .take(limit as usize)
            .cloned()
            .collect();
        let cursor = after + changes.len() as u64;
        Ok(ChangePage { changes, cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(page: &ChangePage) -> Vec<(&str, u64)> {
        page.changes
            .iter()
            .map(|c| (c.key.as_str(), c.version))
            .collect()
    }

    #[test]
    fn a_reader_gets_each_removal_once_in_order() {
        let log = ExpiryLog::default();
        let head = log.head();
        log.record("s", "a", 5);
        log.record("s", "b", 6);
        let page = log.wait(head, 10, 0).unwrap();
        assert_eq!(keys(&page), [("a", 5), ("b", 6)]);
        assert!(page.changes.iter().all(|c| c.kind == ChangeKind::Expired));
        let rest = log.wait(page.cursor, 10, 0).unwrap();
        assert!(rest.changes.is_empty());
        assert_eq!(rest.cursor, page.cursor);
        let limited = log.wait(head, 1, 0).unwrap();
        assert_eq!((keys(&limited), limited.cursor), (vec![("a", 5)], head + 1));
    }

    #[test]
    fn a_reader_that_fell_behind_the_capacity_is_told() {
        let log = ExpiryLog::with_capacity(2);
        let head = log.head();
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            log.record("s", key, i as u64 + 1);
        }
        let err = log.wait(head, 10, 0).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::INVALID_ARGUMENT);
        assert!(err.message().contains("no longer retained"), "{err}");
        assert_eq!(
            keys(&log.wait(head + 1, 10, 0).unwrap()),
            [("b", 2), ("c", 3)]
        );
    }

    #[test]
    fn long_keys_are_retained_up_to_the_byte_bound() {
        let log = ExpiryLog::default();
        let head = log.head();
        let key = "k".repeat(4096);
        for i in 0..5_000 {
            log.record("s", &key, i + 1);
        }
        assert!(log.wait(head, 10, 0).is_err(), "the oldest were dropped");
        let state = log.lock();
        assert!(
            state.bytes <= EXPIRY_LOG_BYTES,
            "{} bytes kept",
            state.bytes
        );
        assert_eq!(state.bytes, state.records.len() * (4096 + 1));
        assert!(state.records.len() > 4_000, "{} kept", state.records.len());
    }

    #[test]
    fn an_unread_log_keeps_nothing_but_counts_positions() {
        let log = ExpiryLog::default();
        log.record("s", "a", 1);
        log.record("s", "b", 2);
        assert_eq!(log.head(), 2, "positions advance");
        assert!(
            log.wait(0, 10, 0).is_err(),
            "what was recorded unread is gone"
        );
        log.record("s", "c", 3);
        assert_eq!(keys(&log.wait(2, 10, 0).unwrap()), [("c", 3)]);
    }

    #[test]
    fn a_waiting_reader_wakes_on_a_removal_and_a_position_past_the_head_is_empty() {
        let log = std::sync::Arc::new(ExpiryLog::default());
        let head = log.head();
        let writer = std::sync::Arc::clone(&log);
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            writer.record("s", "a", 9);
        });
        let page = log.wait(head, 10, 10_000).unwrap();
        thread.join().unwrap();
        assert_eq!(keys(&page), [("a", 9)]);
        assert!(log.wait(u64::MAX - 1, 10, 0).unwrap().changes.is_empty());
    }
}
