//! [`PostgresProvider`]: the [`Provider`] trait over one PostgreSQL table.

use std::collections::HashMap;
use std::ops::Bound;

use stateplug_provider_api::{
    conflict, Capabilities, CapabilityFlags, ChangeKind, ChangePage, Entry, Expected, KeyEntry,
    Limits, Page, Provider, ProviderError, ProviderResult, ScanRef, TxnOpRef,
};

use crate::config::{PostgresConfig, Target};
use crate::feed::Feed;
use crate::pool::{CallError, Pool};
use crate::schema::{LockKeys, Sql, FORMAT};
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
    pool: Pool,
    sql: Sql,
    locks: LockKeys,
    feed: Feed,
}

impl PostgresProvider {
    /// Connects with `config`, creating the schema, tables and sequences
    /// if they are missing (safe when several hosts start at once).
    pub fn open_config(config: &PostgresConfig) -> ProviderResult<Self> {
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
                if !exists {
                    txn.conn().batch(statement)?;
                }
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
        Ok(PostgresProvider {
            feed: Feed::new(connector, config.change_log_keep),
            pool,
            sql,
            locks,
        })
    }

    /// The server, database and user this provider connects to.
    pub fn target(&self) -> &Target {
        self.pool.target()
    }

    /// Runs one write call on `store_id` (see `writer.rs`). Returns `op`'s
    /// result and the version committed, `None` if nothing changed.
    fn write<T>(
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

    /// Runs one read.
    fn read<T>(
        &self,
        op: impl FnMut(&mut crate::pool::Conn) -> Result<T, CallError>,
    ) -> ProviderResult<T> {
        self.pool.run(op)
    }
}

/// The first check of a transaction that fails, as its conflict error.
fn failed_check(ops: &[TxnOpRef<'_>], current: &HashMap<String, u64>) -> Option<ProviderError> {
    ops.iter().find_map(|op| match *op {
        TxnOpRef::Check { key, expected } => {
            let now = current.get(key).copied();
            (!expected.matches(now)).then(|| conflict(key, expected, now))
        }
        _ => None,
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
            .union(CapabilityFlags::CHANGE_FEED),
        limits: Limits {
            max_key_bytes: MAX_KEY_BYTES,
            ..Limits::DEFAULT
        },
    };

    fn open(config_json: &str) -> ProviderResult<Self> {
        Self::open_config(&PostgresConfig::parse(config_json)?)
    }

    fn get_entry(&self, store_id: &str, key: &str) -> ProviderResult<Option<Entry>> {
        self.read(|conn| {
            let rows = conn.query(
                &self.sql.get_entry,
                &[&store_id.as_bytes(), &key.as_bytes()],
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
        self.read(|conn| {
            let rows = conn.query(&self.sql.get_many, &[&store_id.as_bytes(), &bytes])?;
            let mut found: Vec<Option<Entry>> = vec![None; keys.len()];
            for row in rows {
                let ord: i64 = col!(row, 0);
                let value: Vec<u8> = col!(row, 1);
                let version: i64 = col!(row, 2);
                let slot = usize::try_from(ord - 1)
                    .ok()
                    .and_then(|i| found.get_mut(i))
                    .ok_or_else(|| {
                        ProviderError::internal(format!("get_many: ordinal {ord} out of range"))
                    })?;
                *slot = Some(Entry {
                    value,
                    version: version_of(version)?,
                });
            }
            Ok(found)
        })
    }

    fn set(&self, store_id: &str, key: &str, value: &[u8]) -> ProviderResult<u64> {
        let (version, _) = self.write(store_id, |w| {
            w.put_all(&[(key, value)])?;
            w.version()
        })?;
        Ok(version)
    }

    fn delete(&self, store_id: &str, key: &str) -> ProviderResult<bool> {
        let (existed, _) = self.write(store_id, |w| {
            let existed = !w.delete(&[key])?.is_empty();
            if existed {
                w.record(key, ChangeKind::Deleted);
            }
            Ok(existed)
        })?;
        Ok(existed)
    }

    /// One statement in one transaction: all-or-nothing.
    fn set_many(&self, store_id: &str, entries: &[(&str, &[u8])]) -> ProviderResult<u64> {
        if entries.is_empty() {
            return Ok(0);
        }
        let (version, _) = self.write(store_id, |w| {
            w.put_all(entries)?;
            w.version()
        })?;
        Ok(version)
    }

    fn delete_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let unique = distinct(keys.iter().copied());
        let (count, _) = self.write(store_id, |w| {
            let gone = w.delete(&unique)?;
            for key in &unique {
                if gone.contains(*key) {
                    w.record(key, ChangeKind::Deleted);
                }
            }
            Ok(gone.len() as u64)
        })?;
        Ok(count)
    }

    fn clear_store(&self, store_id: &str) -> ProviderResult<u64> {
        let (count, _) = self.write(store_id, |w| {
            let keys = w.clear()?;
            for key in &keys {
                w.record(key, ChangeKind::Deleted);
            }
            Ok(keys.len() as u64)
        })?;
        Ok(count)
    }

    fn list_keys(&self, store_id: &str) -> ProviderResult<Vec<String>> {
        self.read(|conn| {
            let rows = conn.query(&self.sql.list_keys, &[&store_id.as_bytes()])?;
            rows.into_iter()
                .map(|row| utf8(col!(row, 0), "key"))
                .collect()
        })
    }

    fn store_exists(&self, store_id: &str) -> ProviderResult<bool> {
        self.read(|conn| {
            let row = conn.query_one(&self.sql.store_exists, &[&store_id.as_bytes()])?;
            Ok(col!(row, 0))
        })
    }

    fn key_count(&self, store_id: &str) -> ProviderResult<u64> {
        self.read(|conn| {
            let row = conn.query_one(&self.sql.key_count, &[&store_id.as_bytes()])?;
            let count: i64 = col!(row, 0);
            version_of(count)
        })
    }

    /// Commits are durable when acknowledged (`synchronous_commit = on`).
    fn sync(&self) -> ProviderResult<()> {
        Ok(())
    }

    /// The store lock makes read-compare-write one atomic step across hosts.
    fn compare_and_set(
        &self,
        store_id: &str,
        key: &str,
        expected: Expected,
        value: &[u8],
    ) -> ProviderResult<u64> {
        let (version, _) = self.write(store_id, |w| {
            let current = w.versions(&[key])?.get(key).copied();
            if !expected.matches(current) {
                return Err(conflict(key, expected, current).into());
            }
            w.put_all(&[(key, value)])?;
            w.version()
        })?;
        Ok(version)
    }

    fn compare_and_delete(&self, store_id: &str, key: &str, version: u64) -> ProviderResult<()> {
        self.write(store_id, |w| {
            let current = w.versions(&[key])?.get(key).copied();
            let expected = Expected::Version(version);
            if !expected.matches(current) {
                return Err(conflict(key, expected, current).into());
            }
            w.delete(&[key])?;
            w.record(key, ChangeKind::Deleted);
            Ok(())
        })?;
        Ok(())
    }

    /// Reads every key the transaction names, checks in order, replays the
    /// puts and deletes to find each key's final state and the changes,
    /// then writes the final states: one transaction, all-or-nothing.
    /// Returns the version committed, or 0 when nothing changed.
    fn transaction(&self, store_id: &str, ops: &[TxnOpRef<'_>]) -> ProviderResult<u64> {
        if ops.is_empty() {
            return Ok(0);
        }
        let keys = distinct(ops.iter().map(|op| op.key()));
        let (_, version) = self.write(store_id, |w| {
            let current = w.versions(&keys)?;
            if let Some(err) = failed_check(ops, &current) {
                return Err(err.into());
            }
            let mut exists: HashMap<&str, bool> = keys
                .iter()
                .map(|k| (*k, current.contains_key(*k)))
                .collect();
            // The final state of each written key: Some(value) or deleted.
            let mut last: Vec<(&str, Option<&[u8]>)> = Vec::new();
            let mut slot: HashMap<&str, usize> = HashMap::new();
            for op in ops {
                let (key, value) = match *op {
                    TxnOpRef::Put { key, value } => (key, Some(value)),
                    TxnOpRef::Delete { key } => (key, None),
                    TxnOpRef::Check { .. } => continue,
                };
                let present = exists.get(key).copied().unwrap_or(false);
                match value {
                    Some(_) => w.record(
                        key,
                        if present {
                            ChangeKind::Updated
                        } else {
                            ChangeKind::Created
                        },
                    ),
                    None if present => w.record(key, ChangeKind::Deleted),
                    None => {}
                }
                exists.insert(key, value.is_some());
                match slot.get(key) {
                    Some(&i) => last[i].1 = value,
                    None => {
                        slot.insert(key, last.len());
                        last.push((key, value));
                    }
                }
            }
            let puts: Vec<(&str, &[u8])> = last
                .iter()
                .filter_map(|(k, v)| v.map(|v| (*k, v)))
                .collect();
            let deletes: Vec<&str> = last
                .iter()
                .filter(|(k, v)| v.is_none() && current.contains_key(*k))
                .map(|(k, _)| *k)
                .collect();
            if !puts.is_empty() {
                w.upsert(&puts)?;
            }
            if !deletes.is_empty() {
                w.delete(&deletes)?;
            }
            Ok(())
        })?;
        Ok(version.unwrap_or(0))
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
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&store];
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
        self.read(|conn| {
            let rows = conn.query(&self.sql.list_stores, &[])?;
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
