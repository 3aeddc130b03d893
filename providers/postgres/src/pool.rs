//! Pooled connections, each with its own prepared-statement cache, and
//! the rule for retrying a call whose connection was lost.
//!
//! A call takes an idle connection; if there is none and fewer than
//! `pool_size` are open, it opens one itself, on its own thread, bounded by
//! the connect timeout; otherwise it waits up to `connect_timeout_ms` for
//! one to come back. A connection that cannot be opened is the caller's
//! error at once, classified (`errors.rs`): a permanent answer (an unknown
//! database or role, a refused password or certificate) is never tried
//! again by the pool, not reaching the server is a temporary "cannot
//! connect", and a pool whose connections all stay busy says so. A
//! connection idle for longer than [`IDLE_LIMIT`] is closed instead of
//! used (a firewall may have dropped it without a word).
//!
//! Retry rule: a call whose connection turns out to be gone (the server
//! restarted, an administrator terminated the backend, the network dropped
//! it while the connection sat idle in the pool) is run again on another
//! connection, unless the loss happened while committing. Before the commit
//! nothing of the call is visible or durable (the server rolls back an
//! unfinished transaction when its session ends), so running it again
//! applies it at most once. A lost commit is reported as a temporary
//! `OUTCOME_UNKNOWN` error: it may have been applied, and only reading back
//! tells. Broken connections
//! are discarded; calls open new ones as needed, so the provider
//! reconnects on its own.

use std::{
    collections::HashMap,
    sync::{Condvar, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use postgres::{types::ToSql, Client, Row, Statement};
use stateplug_provider_api::{ProviderError, ProviderResult};

use crate::config::Target;
use crate::errors::{classify, map_failure, Failure};
use crate::tls::Connector;

/// Longest a connection may sit idle in the pool and still be used.
pub(crate) const IDLE_LIMIT: Duration = Duration::from_secs(600);

/// One connection and the statements prepared on it.
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
    broken: bool,
}

impl Conn {
    /// The statement for `sql`, prepared once per connection.
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Runs `sql` (prepared and cached) and returns its rows.
    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params)
    }

    /// Runs `sql` (prepared and cached) and returns its only row.
    pub(crate) fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_one(&statement, params)
    }

    /// Runs `sql` with the simple query protocol (several statements, one
    /// round trip, no parameters) and returns the first value of the last
    /// row, as text.
    pub(crate) fn simple_value(&mut self, sql: &str) -> Result<Option<String>, postgres::Error> {
        let mut value = None;
        for message in self.client.simple_query(sql)? {
            if let postgres::SimpleQueryMessage::Row(row) = message {
                value = row.get(0).map(str::to_string);
            }
        }
        Ok(value)
    }

    /// Runs statements without results (simple query protocol).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.client.batch_execute(sql)
    }

    /// Marks the connection to be discarded instead of reused.
    pub(crate) fn discard(&mut self) {
        self.broken = true;
    }
}

/// Where a call failed, which decides whether it may run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Before the commit was sent (or a read): safe to run again.
    BeforeCommit,
    /// While committing: the outcome is unknown.
    Commit,
}

/// Why a call failed.
pub(crate) enum CallError {
    /// A client error, and where it happened.
    Pg(postgres::Error, Stage),
    /// A provider decision (a version conflict, bad stored data): final.
    Provider(ProviderError),
}

impl From<ProviderError> for CallError {
    fn from(e: ProviderError) -> Self {
        CallError::Provider(e)
    }
}

/// A client error before any commit.
impl From<postgres::Error> for CallError {
    fn from(e: postgres::Error) -> Self {
        CallError::Pg(e, Stage::BeforeCommit)
    }
}

/// The connections of one provider instance.
pub(crate) struct Pool {
    connector: Connector,
    target: Target,
    size: u32,
    wait: Duration,
    slots: Mutex<Slots>,
    returned: Condvar,
    attempts: u32,
}

/// The idle connections, newest last, and how many are open in all.
struct Slots {
    idle: Vec<(Conn, Instant)>,
    open: u32,
}

/// A connection lent to one call; it goes back to the pool when dropped,
/// or is closed if broken.
struct Lease<'p> {
    pool: &'p Pool,
    /// `Some` until the lease drops.
    conn: Option<Conn>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let keep = !conn.broken && !conn.client.is_closed();
        let mut slots = self.pool.slots();
        if keep {
            slots.idle.push((conn, Instant::now()));
        } else {
            slots.open -= 1;
        }
        drop(slots);
        // A waiter either takes the idle connection or opens a new one.
        self.pool.returned.notify_one();
    }
}

impl Pool {
    /// A pool of up to `size` connections, opened on demand; a call waits
    /// up to `wait` for one when all are busy.
    pub(crate) fn open(connector: Connector, target: Target, size: u32, wait: Duration) -> Self {
        Pool {
            connector,
            target,
            size,
            wait,
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
            // Every pooled connection may be stale after an outage; one
            // more attempt then runs on a fresh connection.
            attempts: size + 1,
        }
    }

    /// The server and database, for messages.
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// The slots; a panic elsewhere while holding them leaves them consistent
    /// (every update is one statement), so a poisoned lock is used as is.
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection, a new one, or one that comes back within the
    /// wait. A new connection that fails is this call's error (see the
    /// module doc).
    fn lease(&self) -> ProviderResult<Lease<'_>> {
        let deadline = Instant::now() + self.wait;
        let mut slots = self.slots();
        loop {
            while let Some((conn, since)) = slots.idle.pop() {
                if since.elapsed() < IDLE_LIMIT {
                    return Ok(Lease {
                        pool: self,
                        conn: Some(conn),
                    });
                }
                slots.open -= 1;
            }
            if slots.open < self.size {
                slots.open += 1;
                drop(slots);
                return match self.connector.connect() {
                    Ok(client) => Ok(Lease {
                        pool: self,
                        conn: Some(Conn {
                            client,
                            statements: HashMap::new(),
                            broken: false,
                        }),
                    }),
                    Err(e) => {
                        self.slots().open -= 1;
                        self.returned.notify_one();
                        Err(map_failure(&self.target, classify(&e)))
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(map_failure(
                    &self.target,
                    Failure::PoolBusy {
                        size: self.size,
                        waited_ms: u64::try_from(self.wait.as_millis()).unwrap_or(u64::MAX),
                    },
                ));
            }
            slots = self
                .returned
                .wait_timeout(slots, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Runs `call` on a pooled connection, again on another connection when
    /// the connection was lost before a commit (see the module doc).
    pub(crate) fn run<T>(
        &self,
        mut call: impl FnMut(&mut Conn) -> Result<T, CallError>,
    ) -> ProviderResult<T> {
        let mut attempt = 1;
        loop {
            let mut lease = self.lease()?;
            let Some(conn) = lease.conn.as_mut() else {
                // `lease` hands out leases holding their connection; only
                // their drop takes it.
                return Err(ProviderError::internal("a pooled connection went missing"));
            };
            let (err, stage) = match call(conn) {
                Ok(value) => return Ok(value),
                Err(CallError::Provider(e)) => return Err(e),
                Err(CallError::Pg(err, stage)) => (err, stage),
            };
            let failure = classify(&err);
            if !failure.is_connection_lost() {
                return Err(map_failure(&self.target, failure));
            }
            conn.discard();
            drop(lease);
            if stage == Stage::Commit {
                return Err(ProviderError::outcome_unknown(format!(
                    "lost the connection to {} while committing: the write may or may not have \
                     been applied; read the keys back before retrying ({err})",
                    self.target
                )));
            }
            if attempt >= self.attempts {
                return Err(map_failure(&self.target, failure));
            }
            tracing::debug!(
                target: "stateplug_provider_postgres",
                "connection to {} was lost ({err}); running the call again on another connection",
                self.target
            );
            attempt += 1;
        }
    }
}
