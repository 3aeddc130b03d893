//! Pooled connections (r2d2), each with its own prepared-statement cache,
//! and the rule for retrying a call whose connection was lost.
//!
//! Retry rule: a call whose connection turns out to be gone (the server
//! restarted, an administrator terminated the backend, the network dropped
//! it while the connection sat idle in the pool) is run again on another
//! connection, unless the loss happened while committing. Before the commit
//! nothing of the call is visible or durable (the server rolls back an
//! unfinished transaction when its session ends), so running it again
//! applies it at most once. A lost commit is reported as a temporary
//! `UNAVAILABLE` error saying the outcome is unknown. Broken connections
//! are discarded; the pool opens new ones as needed, so the provider
//! reconnects on its own.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use postgres::{types::ToSql, Client, NoTls, Row, Statement};
use r2d2::{ManageConnection, PooledConnection};
use scheduled_thread_pool::ScheduledThreadPool;
use stateplug_provider_api::{ProviderError, ProviderResult};

use crate::config::Target;
use crate::errors::{classify, describe, map_failure, Failure};

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

/// Opens connections for r2d2.
#[derive(Debug)]
pub(crate) struct Manager {
    config: postgres::Config,
    /// Why the last connection attempt failed (r2d2 reports only a timeout).
    last_error: Arc<Mutex<Option<String>>>,
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        let client = self.config.connect(NoTls).inspect_err(|e| {
            let mut last = self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *last = Some(describe(e));
        })?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        conn.client.batch_execute("")
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || conn.client.is_closed()
    }
}

/// Sends r2d2's background connection errors to `tracing` (r2d2 would use `log`).
#[derive(Debug)]
struct LogErrors {
    target: Target,
}

impl r2d2::HandleError<postgres::Error> for LogErrors {
    fn handle_error(&self, error: postgres::Error) {
        tracing::warn!(
            target: "stateplug_provider_postgres",
            "connection to {} failed: {}",
            self.target,
            describe(&error)
        );
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

/// The connection pool of one provider instance.
pub(crate) struct Pool {
    pool: r2d2::Pool<Manager>,
    target: Target,
    attempts: u32,
    last_error: Arc<Mutex<Option<String>>>,
}

impl Pool {
    /// A pool of up to `size` connections, opened on demand; a caller
    /// waits up to `connect_timeout` for one.
    pub(crate) fn open(
        config: postgres::Config,
        target: Target,
        size: u32,
        connect_timeout: Duration,
    ) -> Self {
        let last_error = Arc::new(Mutex::new(None));
        // `build_unchecked` panics only if max_size is 0 or below min_idle;
        // `size` is validated to 1..=256 (config.rs) and min_idle is 0.
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(connect_timeout)
            .thread_pool(Arc::new(
                ScheduledThreadPool::builder()
                    .num_threads(1)
                    .thread_name_pattern("stateplug-postgres-pool-{}")
                    .build(),
            ))
            .error_handler(Box::new(LogErrors {
                target: target.clone(),
            }))
            .build_unchecked(Manager {
                config,
                last_error: Arc::clone(&last_error),
            });
        Pool {
            pool,
            target,
            // Every pooled connection may be stale after an outage; one
            // more attempt then runs on a fresh connection.
            attempts: size + 1,
            last_error,
        }
    }

    /// The server and database, for messages.
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// A connection, or `UNAVAILABLE` naming the server when none can be had.
    pub(crate) fn get(&self) -> ProviderResult<PooledConnection<Manager>> {
        self.pool.get().map_err(|e| {
            let mut text = e.to_string();
            let last = self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(why) = last.as_deref().filter(|why| !text.contains(*why)) {
                text = format!("{text}; last attempt: {why}");
            }
            let failure = if text.contains("error connecting") || text.contains("timeout") {
                Failure::Connect(text)
            } else {
                Failure::PoolTimeout(text)
            };
            map_failure(&self.target, failure)
        })
    }

    /// Runs `call` on a pooled connection, again on another connection when
    /// the connection was lost before a commit (see the module doc).
    pub(crate) fn run<T>(
        &self,
        mut call: impl FnMut(&mut Conn) -> Result<T, CallError>,
    ) -> ProviderResult<T> {
        let mut attempt = 1;
        loop {
            let mut conn = self.get()?;
            let (err, stage) = match call(&mut conn) {
                Ok(value) => return Ok(value),
                Err(CallError::Provider(e)) => return Err(e),
                Err(CallError::Pg(err, stage)) => (err, stage),
            };
            let failure = classify(&err);
            if !failure.is_connection_lost() {
                return Err(map_failure(&self.target, failure));
            }
            conn.discard();
            if stage == Stage::Commit {
                return Err(ProviderError::unavailable(format!(
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
