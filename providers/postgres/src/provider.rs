//! [`PostgresProvider`]: the [`Provider`] trait over one PostgreSQL table.

use std::{ops::Bound, sync::Arc};

use stateplug_provider_api::{
    apply, Capabilities, CapabilityFlags, ChangePage, ChangeSink, Clock, Entry, KeyChange,
    KeyEntry, Limits, OpenContext, Page, Provider, ProviderError, ProviderResult, ScanRef, WriteOp,
};

use crate::config::{PostgresConfig, Target};
use crate::feed::Feed;
use crate::plan::Plan;
use crate::pool::{CallError, Pool};
use crate::schema::{LockKeys, Sql, FORMAT};
use crate::sweeper::{Sweep, Sweeper};
use crate::writer::{col, utf8, version_of, Txn, Write};

/// Longest key accepted: a primary-key index entry (store_id + key) must
/// fit PostgreSQL's B-tree limit of 2,704 bytes even when it does not
/// compress: 512 + 2,048 bytes plus headers does.
pub const MAX_KEY_BYTES: u32 = 2048;

/// A durable state store provider on PostgreSQL, shared by every host that
/// points at the same tables.
///
/// Each write call is one transaction, committed before it returns
/// (`synchronous_commit = on` is set for every connection). Versions come
/// from one sequence, so they are unique across hosts, and the writes of
/// one store are serialised by an advisory lock, so a store's versions
/// follow its commit order on every host. Network calls block, so the
/// provider declares neither inline reads nor inline writes: the host runs
/// every call on its blocking thread pool.
pub struct PostgresProvider {
    pool: Arc<Pool>,
    sql: Sql,
    locks: LockKeys,
    feed: Feed,
    /// Where "now" comes from: a key expired by it is absent.
    clock: Clock,
    /// Removes expired keys in the background (`None` when read-only).
    _sweeper: Option<Sweeper>,
}

impl PostgresProvider {
    /// Connects with `config`, creating the schema, tables and sequences
    /// if they are missing (safe when several hosts start at once).
    pub fn open_config(config: &PostgresConfig) -> ProviderResult<Self> {
        Self::open_config_with(config, &OpenContext::READ_WRITE)
    }

    /// Connects with `config`; a read-only open creates nothing and refuses
    /// tables that do not exist.
    pub fn open_config_with(
        config: &PostgresConfig,
        context: &OpenContext,
    ) -> ProviderResult<Self> {
        config.validate()?;
        let (connector, target) = config.connector()?;
        let connect_timeout = std::time::Duration::from_millis(config.connect_timeout_ms);
        let pool = Pool::open(connector.clone(), target, config.pool_size, connect_timeout);
        let sql = Sql::new(&config.schema, &config.table);
        let locks = LockKeys::new(&config.schema, &config.table);
        pool.run(|conn| {
            // Concurrent CREATE ... IF NOT EXISTS can still collide in the
            // catalog, so hosts take turns; objects that exist are not
            // created again (which needs no CREATE privilege).
            let (mut txn, _) =
                Txn::begin(conn, &format!("BEGIN; SELECT pg_advisory_xact_lock({})", locks.ddl))?;
            let row = txn.conn().query_one(&sql.existence_query(), &[])?;
            for (i, statement) in sql.create_statements().iter().enumerate() {
                let exists: bool = col!(row, i);
                if !exists && context.read_only {
                    return Err(ProviderError::invalid_argument(format!(
                        "{}: there are no stateplug tables {} (schema {:?}, table {:?}); check \
                         `schema` and `table` (a command that only reads never creates them)",
                        pool.target(),
                        sql.entries,
                        config.schema,
                        config.table
                    ))
                    .into());
                }
                if !exists {
                    txn.conn().batch(statement)?;
                }
            }
            let row = txn.conn().query_one(&sql.has_expiry, &[])?;
            let has_expiry: bool = col!(row, 0);
            if !has_expiry && context.read_only {
                return Err(ProviderError::invalid_argument(format!(
                    "{}: the table {} predates keys with a time to live (no `expires_at` \
                     column); open it once for writing (any stateplug command that writes, or \
                     a host) to add the column",
                    pool.target(),
                    sql.entries
                ))
                .into());
            }
            if !has_expiry {
                txn.conn().batch(&sql.add_expiry)?;
            }
            txn.conn().query(&sql.layout, &[])?;
            let row = txn.conn().query_one(&sql.format, &[])?;
            let format: i32 = col!(row, 0);
            if format != FORMAT {
                return Err(ProviderError::storage(format!(
                    "{}: the tables {} were written by another version of the postgres provider \
                     (layout {format}, this one reads {FORMAT}); use other `schema` / `table` names \
                     or migrate the data",
                    pool.target(),
                    sql.entries
                ))
                .into());
            }
            txn.commit()
        })?;
        tracing::debug!(target: "stateplug_provider_postgres", "opened {} on {}", sql.entries, pool.target());
        let pool = Arc::new(pool);
        let sweeper = (!context.read_only).then(|| {
            Sweeper::start(Sweep {
                pool: Arc::clone(&pool),
                sql: sql.clone(),
                locks: locks.clone(),
                clock: context.clock.clone(),
            })
        });
        Ok(PostgresProvider {
            feed: Feed::new(connector, config.change_log_keep),
            pool,
            sql,
            locks,
            clock: context.clock.clone(),
            _sweeper: sweeper,
        })
    }

    /// The server, database and user this provider connects to.
    pub fn target(&self) -> &Target {
        self.pool.target()
    }

    /// Runs one write call on `store_id` (see `writer.rs`). Returns `op`'s
    /// result and the version committed, `None` if nothing changed.
    fn write_call<T>(
        &self,
        store_id: &str,
        mut op: impl FnMut(&mut Write<'_>) -> Result<T, CallError>,
    ) -> ProviderResult<(T, Option<u64>)> {
        let (out, committed) = self.pool.run(|conn| {
            let mut write = Write::begin(conn, &self.sql, &self.locks, store_id)?;
            let out = op(&mut write)?;
            let committed = write.finish(self.locks.feed)?;
            Ok((out, committed))
        })?;
        if let Some((_, changes)) = committed {
            self.feed.appended(&self.pool, &self.sql, changes);
        }
        Ok((out, committed.map(|(version, _)| version)))
    }

    /// Now, by the provider's clock, as a `bigint`.
    fn now(&self) -> i64 {
        i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX)
    }

    /// Runs one read.
    fn read<T>(
        &self,
        op: impl FnMut(&mut crate::pool::Conn) -> Result<T, CallError>,
    ) -> ProviderResult<T> {
        self.pool.run(op)
    }
}

/// The answer slot of the key at 1-based position `ord` of a batch read.
fn at_ordinal<'f, T>(found: &'f mut [T], ord: i64, what: &str) -> Result<&'f mut T, CallError> {
    usize::try_from(ord - 1)
        .ok()
        .and_then(|i| found.get_mut(i))
        .ok_or_else(|| {
            ProviderError::internal(format!("{what}: ordinal {ord} out of range")).into()
        })
}

/// `keys` without repeats, in order of first appearance.
fn distinct<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::HashSet::new();
    keys.into_iter().filter(|k| seen.insert(*k)).collect()
}

impl Provider for PostgresProvider {
    const NAME: &'static str = "postgres";
    /// Everything but inline calls (every call is a network round trip)
    /// and history; keys up to 2 KiB ([`MAX_KEY_BYTES`]).
    const CAPABILITIES: Capabilities = Capabilities {
        flags: CapabilityFlags::DURABLE
            .union(CapabilityFlags::ATOMIC_BATCHES)
            .union(CapabilityFlags::COMPARE_AND_SET)
            .union(CapabilityFlags::TRANSACTIONS)
            .union(CapabilityFlags::ORDERED_SCANS)
            .union(CapabilityFlags::LIST_STORES)
            .union(CapabilityFlags::CHANGE_FEED)
            .union(CapabilityFlags::TTL),
        limits: Limits {
            max_key_bytes: MAX_KEY_BYTES,
            ..Limits::DEFAULT
        },
    };

    fn open(config_json: &str) -> ProviderResult<Self> {
        Self::open_config(&PostgresConfig::parse(config_json)?)
    }

    fn open_with(config_json: &str, context: &OpenContext) -> ProviderResult<Self> {
        Self::open_config_with(&PostgresConfig::parse(config_json)?, context)
    }

    fn get_entry(&self, store_id: &str, key: &str) -> ProviderResult<Option<Entry>> {
        let now = self.now();
        self.read(|conn| {
            let rows = conn.query(
                &self.sql.get_entry,
                &[&store_id.as_bytes(), &key.as_bytes(), &now],
            )?;
            match rows.first() {
                None => Ok(None),
                Some(row) => {
                    let value: Vec<u8> = col!(row, 0);
                    let version: i64 = col!(row, 1);
                    Ok(Some(Entry {
                        value,
                        version: version_of(version)?,
                    }))
                }
            }
        })
    }

    /// One statement, so one snapshot.
    fn get_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<Entry>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let bytes: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let now = self.now();
        self.read(|conn| {
            let rows = conn.query(&self.sql.get_many, &[&store_id.as_bytes(), &bytes, &now])?;
            let mut found: Vec<Option<Entry>> = vec![None; keys.len()];
            for row in rows {
                let ord: i64 = col!(row, 0);
                let value: Vec<u8> = col!(row, 1);
                let version: i64 = col!(row, 2);
                *at_ordinal(&mut found, ord, "get_many")? = Some(Entry {
                    value,
                    version: version_of(version)?,
                });
            }
            Ok(found)
        })
    }

    /// One transaction under the store's lock, planned against the versions
    /// read at its start (see `plan.rs`): a few statements, whatever the
    /// number of operations.
    fn write(
        &self,
        store_id: &str,
        ops: &[WriteOp<'_>],
        changed: ChangeSink<'_>,
    ) -> ProviderResult<u64> {
        if ops.is_empty() {
            return Ok(0);
        }
        let names = distinct(ops.iter().filter_map(WriteOp::key));
        let now = self.now();
        // Collected per attempt (the pool may run the call again on a new
        // connection) and reported once the commit is in.
        let (changes, _) = self.write_call(store_id, |w| {
            let mut plan = Plan::new(w, &names, now)?;
            let mut changes = Vec::new();
            let outcome = apply(ops, &mut plan, &mut |c| {
                changes.push((c.key.to_string(), c.prior, c.version))
            });
            let revision = plan.finish(outcome)?;
            for (key, prior, version) in &changes {
                let change = KeyChange {
                    key,
                    prior: *prior,
                    version: *version,
                };
                w.record(key, change.kind());
            }
            Ok((changes, revision))
        })?;
        let (changes, revision) = changes;
        for (key, prior, version) in &changes {
            changed(KeyChange {
                key,
                prior: *prior,
                version: *version,
            });
        }
        Ok(revision)
    }

    fn expiries(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<u64>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let bytes: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        self.read(|conn| {
            let rows = conn.query(&self.sql.expiries, &[&store_id.as_bytes(), &bytes])?;
            let mut found: Vec<Option<u64>> = vec![None; keys.len()];
            for row in rows {
                let ord: i64 = col!(row, 0);
                let at: i64 = col!(row, 1);
                let at = u64::try_from(at).map_err(|_| {
                    ProviderError::storage(format!(
                        "an expiry in the table is negative ({at}): the table was written by \
                         something else"
                    ))
                })?;
                *at_ordinal(&mut found, ord, "expiries")? = Some(at);
            }
            Ok(found)
        })
    }

    fn list_keys(&self, store_id: &str) -> ProviderResult<Vec<String>> {
        let now = self.now();
        self.read(|conn| {
            let rows = conn.query(&self.sql.list_keys, &[&store_id.as_bytes(), &now])?;
            rows.into_iter()
                .map(|row| utf8(col!(row, 0), "key"))
                .collect()
        })
    }

    fn store_exists(&self, store_id: &str) -> ProviderResult<bool> {
        let now = self.now();
        self.read(|conn| {
            let row = conn.query_one(&self.sql.store_exists, &[&store_id.as_bytes(), &now])?;
            Ok(col!(row, 0))
        })
    }

    fn key_count(&self, store_id: &str) -> ProviderResult<u64> {
        let now = self.now();
        self.read(|conn| {
            let row = conn.query_one(&self.sql.key_count, &[&store_id.as_bytes(), &now])?;
            let count: i64 = col!(row, 0);
            version_of(count)
        })
    }

    /// Commits are durable when acknowledged (`synchronous_commit = on`).
    fn sync(&self) -> ProviderResult<()> {
        Ok(())
    }

    fn scan(&self, store_id: &str, scan: ScanRef<'_>) -> ProviderResult<Page> {
        let Some((lower, upper)) = scan.key_range() else {
            return Ok(Page::default());
        };
        let (lower_op, lower_key) = match &lower {
            Bound::Included(k) => (Some(">="), Some(k.as_bytes())),
            Bound::Excluded(k) => (Some(">"), Some(k.as_bytes())),
            Bound::Unbounded => (None, None),
        };
        let (upper_op, upper_key) = match &upper {
            Bound::Included(k) => (Some("<="), Some(k.as_bytes())),
            Bound::Excluded(k) => (Some("<"), Some(k.as_bytes())),
            Bound::Unbounded => (None, None),
        };
        let text = self.sql.scan(lower_op, upper_op, scan.descending);
        // One row past the page tells `Page::from_rows` whether more follow.
        let wanted = i64::from(scan.limit) + 1;
        let store = store_id.as_bytes();
        let now = self.now();
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&store, &now];
        if let Some(k) = &lower_key {
            params.push(k);
        }
        if let Some(k) = &upper_key {
            params.push(k);
        }
        params.push(&wanted);
        let rows = self.read(|conn| {
            let rows = conn.query(&text, &params)?;
            rows.into_iter()
                .map(|row| {
                    let key: Vec<u8> = col!(row, 0);
                    let value: Vec<u8> = col!(row, 1);
                    let version: i64 = col!(row, 2);
                    Ok(KeyEntry {
                        key: utf8(key, "key")?,
                        value,
                        version: version_of(version)?,
                    })
                })
                .collect::<Result<Vec<_>, CallError>>()
        })?;
        Ok(Page::from_rows(rows, scan.limit))
    }

    fn list_stores(&self) -> ProviderResult<Vec<String>> {
        let now = self.now();
        self.read(|conn| {
            let rows = conn.query(&self.sql.list_stores, &[&now])?;
            rows.into_iter()
                .map(|row| utf8(col!(row, 0), "store_id"))
                .collect()
        })
    }

    fn change_head(&self) -> ProviderResult<u64> {
        self.feed.head(&self.pool, &self.sql)
    }

    fn wait_changes(&self, after: u64, limit: u32, timeout_ms: u32) -> ProviderResult<ChangePage> {
        self.feed
            .wait(&self.pool, &self.sql, after, limit, timeout_ms)
    }
}
