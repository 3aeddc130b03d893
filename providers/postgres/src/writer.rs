//! One write call on one store: a transaction holding the store's advisory
//! lock, the call's version, the changes it records, and their append to the
//! change log at the end.
//!
//! Invariants:
//! - `Write::begin` takes the store lock before the version (`nextval`), and
//!   every later statement of the call runs on a snapshot taken after the
//!   lock, so it sees every write to the store committed before it, and the
//!   versions of one store are given in commit order (each key's versions
//!   only grow, also across hosts);
//! - every key written by one call gets the call's version, and a deletion's
//!   change carries it too;
//! - `finish` commits only if the call recorded a change, appending one
//!   change-log row per change (see `feed.rs` for the ordering argument);
//!   otherwise it rolls back, so a call that changes nothing writes nothing;
//! - dropping an unfinished `Write` (an error, a conflict) rolls back.

use std::collections::{HashMap, HashSet};

use stateplug_provider_api::{ChangeKind, ProviderError};

use crate::pool::{CallError, Conn, Stage};
use crate::schema::{LockKeys, Sql};

/// A transaction on one connection that rolls back unless committed.
pub(crate) struct Txn<'c> {
    conn: &'c mut Conn,
    open: bool,
}

impl<'c> Txn<'c> {
    /// Sends `begin` (a simple query starting with `BEGIN`) and returns
    /// the transaction with the first value of its last row, if any.
    pub(crate) fn begin(
        conn: &'c mut Conn,
        begin: &str,
    ) -> Result<(Self, Option<String>), CallError> {
        let txn = Txn { conn, open: true };
        let value = txn.conn.simple_value(begin)?;
        Ok((txn, value))
    }

    /// The connection, for statements inside the transaction.
    pub(crate) fn conn(&mut self) -> &mut Conn {
        self.conn
    }

    /// Commits. A lost connection here is reported as [`Stage::Commit`].
    pub(crate) fn commit(mut self) -> Result<(), CallError> {
        self.open = false;
        self.conn
            .batch("COMMIT")
            .map_err(|e| CallError::Pg(e, Stage::Commit))
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if self.open && self.conn.batch("ROLLBACK").is_err() {
            // The session is in an unknown state: never reuse it.
            self.conn.discard();
        }
    }
}

/// Reads a column, turning a type mismatch into an error instead of a panic.
macro_rules! col {
    ($row:expr, $idx:expr) => {
        $row.try_get($idx).map_err(CallError::from)?
    };
}
pub(crate) use col;

/// A key read back from the table as UTF-8.
pub(crate) fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, CallError> {
    String::from_utf8(bytes).map_err(|e| {
        CallError::Provider(ProviderError::storage(format!(
            "a {what} in the table is not UTF-8, so the table was written by something other \
             than the stateplug postgres provider ({e})"
        )))
    })
}

/// A version read from the database (a positive `bigint`).
pub(crate) fn version_of(v: i64) -> Result<u64, CallError> {
    u64::try_from(v).map_err(|_| {
        CallError::Provider(ProviderError::storage(format!(
            "a version in the table is negative ({v}): the table was written by something else"
        )))
    })
}

/// One put of a write: key, value, and expiry in unix milliseconds
/// (`None`: never).
pub(crate) type Put<'a> = (&'a str, &'a [u8], Option<i64>);

/// One write call on one store.
pub(crate) struct Write<'c> {
    txn: Txn<'c>,
    sql: &'c Sql,
    store_id: &'c str,
    version: i64,
    changes: Vec<(String, ChangeKind)>,
}

impl<'c> Write<'c> {
    /// Begins the call: `BEGIN`, the store lock, the version (one round trip).
    pub(crate) fn begin(
        conn: &'c mut Conn,
        sql: &'c Sql,
        locks: &LockKeys,
        store_id: &'c str,
    ) -> Result<Self, CallError> {
        let (txn, value) = Txn::begin(conn, &sql.begin_write(locks.store(store_id)))?;
        let version = value.and_then(|v| v.parse::<i64>().ok()).ok_or_else(|| {
            ProviderError::internal(format!(
                "the version sequence {} returned no number",
                sql.versions_seq
            ))
        })?;
        Ok(Write {
            txn,
            sql,
            store_id,
            version,
            changes: Vec::new(),
        })
    }

    /// The version every key written by this call gets.
    pub(crate) fn version(&self) -> Result<u64, CallError> {
        version_of(self.version)
    }

    /// Records a change, in order.
    pub(crate) fn record(&mut self, key: &str, kind: ChangeKind) {
        self.changes.push((key.to_string(), kind));
    }

    /// The current versions of those `keys` that exist and have not
    /// expired by `now`.
    pub(crate) fn versions(
        &mut self,
        keys: &[&str],
        now: i64,
    ) -> Result<HashMap<String, u64>, CallError> {
        let bytes: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let rows = self.txn.conn().query(
            &self.sql.versions_of,
            &[&self.store_id.as_bytes(), &bytes, &now],
        )?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let key: Vec<u8> = col!(row, 0);
            let version: i64 = col!(row, 1);
            found.insert(utf8(key, "key")?, version_of(version)?);
        }
        Ok(found)
    }

    /// Writes `puts` (key, value, expiry) at this call's version (for a
    /// key given twice, the last value); returns the keys that existed before.
    pub(crate) fn upsert(&mut self, puts: &[Put<'_>]) -> Result<HashSet<String>, CallError> {
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(puts.len());
        for (i, (key, _, _)) in puts.iter().enumerate() {
            last.insert(key, i);
        }
        let mut keys = Vec::with_capacity(last.len());
        let mut values = Vec::with_capacity(last.len());
        let mut expiries: Vec<Option<i64>> = Vec::with_capacity(last.len());
        for (i, (key, value, expires_at)) in puts.iter().enumerate() {
            if last.get(key) == Some(&i) {
                keys.push(key.as_bytes());
                values.push(*value);
                expiries.push(*expires_at);
            }
        }
        let rows = self.txn.conn().query(
            &self.sql.upsert,
            &[
                &self.store_id.as_bytes(),
                &keys,
                &values,
                &self.version,
                &expiries,
            ],
        )?;
        let mut existed = HashSet::with_capacity(rows.len());
        for row in rows {
            existed.insert(utf8(col!(row, 0), "key")?);
        }
        Ok(existed)
    }

    /// Removes `keys`; returns those that existed.
    pub(crate) fn delete(&mut self, keys: &[&str]) -> Result<HashSet<String>, CallError> {
        let bytes: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let rows = self
            .txn
            .conn()
            .query(&self.sql.delete_keys, &[&self.store_id.as_bytes(), &bytes])?;
        let mut gone = HashSet::with_capacity(rows.len());
        for row in rows {
            gone.insert(utf8(col!(row, 0), "key")?);
        }
        Ok(gone)
    }

    /// Removes every key of the store; returns those not expired by `now`
    /// with their versions, in ascending order.
    pub(crate) fn clear(&mut self, now: i64) -> Result<Vec<(String, u64)>, CallError> {
        let rows = self
            .txn
            .conn()
            .query(&self.sql.clear, &[&self.store_id.as_bytes(), &now])?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let key = utf8(col!(row, 0), "key")?;
            let version: i64 = col!(row, 1);
            keys.push((key, version_of(version)?));
        }
        // String order is UTF-8 byte order, the order scans walk in.
        keys.sort_unstable();
        Ok(keys)
    }

    /// Removes up to `limit` keys of the store expired by `now`, recording
    /// each as an `expired` change; returns how many went.
    pub(crate) fn expire(&mut self, now: i64, limit: i64) -> Result<usize, CallError> {
        let rows = self
            .txn
            .conn()
            .query(&self.sql.expire, &[&self.store_id.as_bytes(), &now, &limit])?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            keys.push(utf8(col!(row, 0), "key")?);
        }
        keys.sort_unstable();
        for key in &keys {
            self.record(key, ChangeKind::Expired);
        }
        Ok(keys.len())
    }

    /// Ends the call. With recorded changes: appends them to the change
    /// log under the feed lock and commits, returning the version and how
    /// many changes were appended. Without: rolls back and returns `None`.
    pub(crate) fn finish(self, feed_lock: i64) -> Result<Option<(u64, u64)>, CallError> {
        let Write {
            mut txn,
            sql,
            store_id,
            version,
            changes,
        } = self;
        if changes.is_empty() {
            drop(txn);
            return Ok(None);
        }
        let keys: Vec<&[u8]> = changes.iter().map(|(k, _)| k.as_bytes()).collect();
        let kinds: Vec<i16> = changes
            .iter()
            .map(|(_, kind)| i16::from(kind.to_wire()))
            .collect();
        txn.conn().query(
            &sql.append_changes,
            &[
                &feed_lock,
                &store_id.as_bytes(),
                &version,
                &keys,
                &kinds,
                &sql.channel,
            ],
        )?;
        txn.commit()?;
        Ok(Some((version_of(version)?, changes.len() as u64)))
    }
}
