//! The change feed: the change log, read in position order, woken by
//! LISTEN/NOTIFY, and pruned to the latest `change_log_keep` positions.
//!
//! # Why a reader never skips a change
//!
//! Positions come from a sequence, and a sequence hands out numbers when
//! they are asked for, not when the asking transaction commits: two writers
//! could take positions 10 and 11 and commit 11 first. A reader that then
//! returned 11 and moved its cursor past it would never see 10.
//!
//! So positions are reserved and committed in the same order: a write call
//! appends its change-log rows in one statement that first takes a
//! transaction-scoped advisory lock (the feed lock, one per table), then
//! reserves its positions, inserts the rows and queues a NOTIFY; the
//! transaction commits right after, and PostgreSQL releases the lock only
//! after the commit is visible to new snapshots (locks are released after
//! the transaction leaves the proc array). Hence at any moment at most one
//! transaction holds positions that are not yet visible, and they are above
//! every visible position. A reader's snapshot therefore shows a prefix of
//! the log: every position below a visible row is either visible too or was
//! rolled back and will never appear. Returning the visible rows in position
//! order and setting the cursor to the last one skips nothing.
//!
//! The cost is that the change-log append and the commit of concurrent
//! write calls (of any store, on any host) take turns. PostgreSQL already
//! serialises the commits of transactions that NOTIFY in the same way (it
//! holds a database-wide lock from queueing the notifications until the
//! commit is done), so the lock adds about one round trip to that; the rest
//! of a write call (its store lock, reads and row writes) runs concurrently.
//!
//! # Waiting
//!
//! `wait_changes` reads the log; if nothing is past the cursor it waits for
//! a notification on a dedicated LISTEN connection, up to the timeout, and
//! reads again. The listener LISTENs before the first read and its pending
//! notifications are drained before each read, so a commit after a read
//! always wakes the wait. If another thread holds the listener, or it
//! cannot connect, the call polls every 50 ms instead.
//!
//! # Retention
//!
//! After every `change_log_keep / 10` appended changes (at least 1, at
//! most 10,000), a provider instance deletes the rows more than
//! `change_log_keep` positions below the newest, and records the highest
//! deleted position in the meta table (in the same transaction). A cursor
//! below that is refused with `INVALID_ARGUMENT` ("no longer retained"): the
//! reader missed changes and must resynchronise from `change_head()`.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, TryLockError,
    },
    time::{Duration, Instant},
};

use postgres::{fallible_iterator::FallibleIterator, Client};
use stateplug_provider_api::{ChangeKind, ChangePage, ChangeRecord, ProviderError, ProviderResult};

use crate::errors::map_error;
use crate::pool::{CallError, Pool};
use crate::schema::Sql;
use crate::tls::Connector;
use crate::writer::{col, utf8, version_of};

/// How often a wait without the listener reads the log again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The change feed of one provider instance.
pub(crate) struct Feed {
    /// The LISTEN connection (`None` until first needed, or after it failed).
    listener: Mutex<Option<Client>>,
    connector: Connector,
    keep: u64,
    appended: AtomicU64,
}

impl Feed {
    pub(crate) fn new(connector: Connector, keep: u64) -> Self {
        Feed {
            listener: Mutex::new(None),
            connector,
            keep,
            appended: AtomicU64::new(0),
        }
    }

    /// The position of the newest visible change (0 for an empty log).
    pub(crate) fn head(&self, pool: &Pool, sql: &Sql) -> ProviderResult<u64> {
        pool.run(|conn| {
            let row = conn.query_one(&sql.change_head, &[])?;
            let head: i64 = col!(row, 0);
            version_of(head)
        })
    }

    /// Up to `limit` changes after `after`, in position order (no wait).
    fn read(&self, pool: &Pool, sql: &Sql, after: i64, limit: u32) -> ProviderResult<ChangePage> {
        let page = pool.run(|conn| {
            let rows = conn.query(&sql.read_changes, &[&after, &i64::from(limit)])?;
            let mut pruned_through = 0i64;
            let mut changes = Vec::with_capacity(rows.len());
            let mut cursor = after;
            for row in rows {
                pruned_through = col!(row, 0);
                let seq: Option<i64> = col!(row, 1);
                let Some(seq) = seq else { continue };
                let store_id: Vec<u8> = col!(row, 2);
                let key: Vec<u8> = col!(row, 3);
                let kind: i16 = col!(row, 4);
                let version: i64 = col!(row, 5);
                let kind = u8::try_from(kind)
                    .ok()
                    .and_then(ChangeKind::from_wire)
                    .ok_or_else(|| {
                        ProviderError::storage(format!(
                            "the change log holds an unknown change kind {kind} at position {seq}: \
                             it was written by something else"
                        ))
                    })?;
                changes.push(ChangeRecord {
                    store_id: utf8(store_id, "store_id")?,
                    key: utf8(key, "key")?,
                    kind,
                    version: version_of(version)?,
                });
                cursor = seq;
            }
            Ok((
                pruned_through,
                ChangePage {
                    changes,
                    cursor: version_of(cursor)?,
                },
            ))
        })?;
        let (pruned_through, page) = page;
        if after < pruned_through {
            return Err(ProviderError::invalid_argument(format!(
                "change feed position {after} is no longer retained on {}: the change log keeps the \
                 latest {} positions (`change_log_keep`) and was pruned through {pruned_through}; \
                 changes were missed, so re-read the state you follow and continue from change_head()",
                pool.target(),
                self.keep
            )));
        }
        Ok(page)
    }

    /// Changes after `after`, waiting up to `timeout_ms` for the first.
    pub(crate) fn wait(
        &self,
        pool: &Pool,
        sql: &Sql,
        after: u64,
        limit: u32,
        timeout_ms: u32,
    ) -> ProviderResult<ChangePage> {
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let deadline = Instant::now() + timeout;
        let Ok(after_pos) = i64::try_from(after) else {
            // No position is that large: nothing can come.
            std::thread::sleep(timeout);
            return Ok(ChangePage {
                changes: Vec::new(),
                cursor: after,
            });
        };
        let mut listener = match self.listener.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        loop {
            if let Some(slot) = listener.as_deref_mut() {
                self.listen(pool, sql, slot);
            }
            let page = self.read(pool, sql, after_pos, limit)?;
            let now = Instant::now();
            if !page.changes.is_empty() || now >= deadline {
                return Ok(page);
            }
            let left = deadline - now;
            match listener.as_deref_mut() {
                Some(slot @ Some(_)) => {
                    let woke = slot
                        .as_mut()
                        .map(|c| c.notifications().timeout_iter(left).next());
                    // `Ok(None)` before the deadline means the connection ended.
                    let failed = match woke {
                        Some(Err(e)) => Some(map_error(pool.target(), &e).to_string()),
                        Some(Ok(None)) if Instant::now() < deadline => {
                            Some("the connection closed".to_string())
                        }
                        _ => None,
                    };
                    if let Some(why) = failed {
                        tracing::warn!(
                            target: "stateplug_provider_postgres",
                            "change feed listener on {} failed, polling until it reconnects: {why}",
                            pool.target(),
                        );
                        *slot = None;
                    }
                }
                _ => std::thread::sleep(left.min(POLL_INTERVAL)),
            }
        }
    }

    /// Makes `slot` a live listener with no pending notifications, or
    /// leaves it `None` (the caller then polls).
    fn listen(&self, pool: &Pool, sql: &Sql, slot: &mut Option<Client>) {
        if let Some(client) = slot {
            let drained = {
                let mut notifications = client.notifications();
                let mut pending = notifications.iter();
                loop {
                    match pending.next() {
                        Ok(Some(_)) => {}
                        Ok(None) => break true,
                        Err(_) => break false,
                    }
                }
            };
            if drained && !client.is_closed() {
                return;
            }
            *slot = None;
        }
        let connected = self.connector.connect().and_then(|mut client| {
            client.batch_execute(&format!("LISTEN \"{}\"", sql.channel))?;
            Ok(client)
        });
        match connected {
            Ok(client) => *slot = Some(client),
            Err(e) => tracing::warn!(
                target: "stateplug_provider_postgres",
                "cannot open the change feed listener on {}, polling instead: {}",
                pool.target(),
                map_error(pool.target(), &e)
            ),
        }
    }

    /// Counts `n` appended changes and prunes the log when due. Pruning is
    /// housekeeping: a failure is logged and retried at the next turn.
    pub(crate) fn appended(&self, pool: &Pool, sql: &Sql, n: u64) {
        let every = (self.keep / 10).clamp(1, 10_000);
        let before = self.appended.fetch_add(n, Ordering::Relaxed);
        if before / every == (before + n) / every {
            return;
        }
        let keep = i64::try_from(self.keep).unwrap_or(i64::MAX);
        let pruned = pool.run(|conn| {
            conn.query(&sql.prune, &[&keep])
                .map(drop)
                .map_err(CallError::from)
        });
        if let Err(e) = pruned {
            tracing::warn!(target: "stateplug_provider_postgres", "pruning the change log failed: {e}");
        }
    }
}
