//! [`Sweeper`]: the background thread that deletes expired keys.
//!
//! Invariants: each removal is a write call of its own on its store (the
//! store's advisory lock, a version from the shared sequence, an `expired`
//! change per key in the change log, one commit), so removals order with
//! every other write of the store by version, on every host; a pass removes
//! at most [`SWEEP_KEYS`] keys per store and looks at most at that many
//! expired keys in all, so a sweep never holds a store's lock for long.
//! Several hosts sweeping one table is harmless: a key already gone is
//! simply not deleted again.

use std::{
    sync::{Arc, Condvar, Mutex, PoisonError},
    thread::JoinHandle,
    time::Duration,
};

use stateplug_provider_api::{Clock, ProviderResult};

use crate::pool::{CallError, Pool};
use crate::schema::{LockKeys, Sql};
use crate::writer::{col, utf8, Write};

/// How often the sweeper looks for expired keys.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// The most keys one pass removes from one store (and looks at in all).
pub(crate) const SWEEP_KEYS: i64 = 256;

/// What a sweep needs of the provider.
pub(crate) struct Sweep {
    pub(crate) pool: Arc<Pool>,
    pub(crate) sql: Sql,
    pub(crate) locks: LockKeys,
    pub(crate) clock: Clock,
}

impl Sweep {
    /// One pass: removes the earliest keys expired by now; returns how many.
    pub(crate) fn once(&self) -> ProviderResult<u64> {
        let now = i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX);
        let stores = self.pool.run(|conn| {
            let rows = conn.query(&self.sql.expired_stores, &[&now, &SWEEP_KEYS])?;
            rows.into_iter()
                .map(|row| utf8(col!(row, 0), "store_id"))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let mut removed = 0;
        for store_id in &stores {
            removed += self.pool.run(|conn| {
                let mut write = Write::begin(conn, &self.sql, &self.locks, store_id)?;
                let n = write.expire(now, SWEEP_KEYS)?;
                write.finish(self.locks.feed)?;
                Ok(n as u64)
            })?;
        }
        Ok(removed)
    }
}

/// The sweeping thread; dropping it stops the thread and waits for it.
pub(crate) struct Sweeper {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Sweeper {
    /// Starts sweeping every [`SWEEP_EVERY`]. A failed pass is logged and
    /// the next one tries again.
    pub(crate) fn start(sweep: Sweep) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("stateplug-postgres-ttl".into())
            .spawn(move || loop {
                let (lock, wake) = &*signal;
                let stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
                let (stopped, _) = wake
                    .wait_timeout_while(stopped, SWEEP_EVERY, |stopped| !*stopped)
                    .unwrap_or_else(PoisonError::into_inner);
                if *stopped {
                    return;
                }
                drop(stopped);
                if let Err(e) = sweep.once() {
                    tracing::warn!(target: "stateplug_provider_postgres", "removing expired keys failed (retried in {SWEEP_EVERY:?}): {e}");
                }
            });
        match thread {
            Ok(thread) => Sweeper {
                stop,
                thread: Some(thread),
            },
            Err(e) => {
                tracing::warn!(target: "stateplug_provider_postgres", "cannot start the thread that removes expired keys ({e}); expired keys stay hidden but are not removed");
                Sweeper { stop, thread: None }
            }
        }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
