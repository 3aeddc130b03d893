//! The provider's database objects, the SQL that reads and writes them, and
//! the advisory-lock keys that order writers.
//!
//! Objects, for `schema` S and `table` T (all created on first use):
//!
//! | object | what |
//! |---|---|
//! | `S.T` | `(store_id bytea, key bytea) -> (value bytea, version bigint, expires_at bigint)`, primary key `(store_id, key)` |
//! | `S.T_expiry` | partial index on `expires_at` of the rows that have one |
//! | `S.T_versions` | sequence: one `nextval` per write call; every key the call writes gets it |
//! | `S.T_changes` | the change log: `seq bigint` (primary key), `store_id`, `key`, `kind smallint`, `version` |
//! | `S.T_changes_seq` | sequence the change log's positions are reserved from |
//! | `S.T_meta` | one row: the layout `format` and `pruned_through` (log positions at or below it may be gone) |
//!
//! Keys and store_ids are `bytea` holding their UTF-8 bytes: `text` cannot
//! hold the NUL character, which is a valid key, and `bytea` compares
//! bytewise, which is exactly the UTF-8 byte order every provider scans in
//! (no collation involved).
//!
//! `expires_at` is the unix-millisecond time a key expires (`NULL`: never);
//! a row with `expires_at <= now` is expired: every read and every write's
//! picture of the versions leave it out, and the sweeper (`sweeper.rs`)
//! deletes it under the store's lock as a write of its own, logging an
//! `expired` change.
//!
//! Invariants, kept by every write call (see `writer.rs` and `feed.rs`):
//! - a write call holds the transaction-scoped advisory lock of its store
//!   ([`LockKeys::store`]) from its first statement to its end, so the writes
//!   of one store commit one at a time, in the order of their versions;
//! - a write call that changed something appends one change-log row per
//!   change while holding the feed lock ([`LockKeys::feed`]) until it ends,
//!   so change-log positions are reserved and committed in the same order.

use std::fmt::Write as _;

/// The layout version written to the meta table; another value is refused.
pub(crate) const FORMAT: i32 = 1;

/// 64-bit FNV-1a of `bytes`: a stable hash, the same on every host and build.
pub(crate) fn fnv1a_bytes(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// FNV-1a of `parts`, each prefixed with its length so that no two lists of
/// parts hash the same input; for advisory-lock keys and the channel name.
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    parts.iter().fold(0xcbf2_9ce4_8422_2325, |h, part| {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        fnv1a_bytes(fnv1a_bytes(h, &len.to_le_bytes()), part)
    })
}

/// Advisory-lock keys, derived from the schema and table so that several
/// stateplug tables in one database do not order each other. A collision
/// with another application's advisory lock only makes one wait for the
/// other, never breaks anything.
#[derive(Debug, Clone)]
pub(crate) struct LockKeys {
    schema: String,
    table: String,
    /// Serialises creating the objects.
    pub(crate) ddl: i64,
    /// Held by a write call from its change-log append until it ends.
    pub(crate) feed: i64,
}

impl LockKeys {
    pub(crate) fn new(schema: &str, table: &str) -> Self {
        let key = |what: &str| {
            fnv1a(&[
                b"stateplug",
                what.as_bytes(),
                schema.as_bytes(),
                table.as_bytes(),
            ]) as i64
        };
        LockKeys {
            schema: schema.to_string(),
            table: table.to_string(),
            ddl: key("ddl"),
            feed: key("feed"),
        }
    }

    /// Held by every write call on `store_id` for its whole transaction.
    pub(crate) fn store(&self, store_id: &str) -> i64 {
        fnv1a(&[
            b"stateplug",
            b"store",
            self.schema.as_bytes(),
            self.table.as_bytes(),
            store_id.as_bytes(),
        ]) as i64
    }
}

/// Every SQL text the provider runs, with its object names filled in.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    /// `"schema"."table"`.
    pub(crate) entries: String,
    /// The version sequence, as a `regclass` literal body.
    pub(crate) versions_seq: String,
    /// The change log's notification channel.
    pub(crate) channel: String,
    changes: String,
    changes_seq: String,
    meta: String,
    schema: String,
    table: String,

    pub(crate) get_entry: String,
    pub(crate) get_many: String,
    pub(crate) expiries: String,
    pub(crate) list_keys: String,
    pub(crate) store_exists: String,
    pub(crate) key_count: String,
    pub(crate) list_stores: String,

    pub(crate) versions_of: String,
    pub(crate) upsert: String,
    pub(crate) delete_keys: String,
    pub(crate) clear: String,
    pub(crate) append_changes: String,
    pub(crate) expired_stores: String,
    pub(crate) expire: String,

    pub(crate) read_changes: String,
    pub(crate) change_head: String,
    pub(crate) prune: String,
    pub(crate) format: String,
    /// Fails (undefined column) unless the tables have the expected columns.
    pub(crate) layout: String,
    /// Whether the entries table has its `expires_at` column and index.
    pub(crate) has_expiry: String,
    /// Adds the `expires_at` column and its index to a table made before them.
    pub(crate) add_expiry: String,
}

/// The SQL condition that a row of alias `t` has not expired by parameter `$n`.
fn live(t: &str, n: u32) -> String {
    format!("({t}expires_at IS NULL OR {t}expires_at > ${n}::int8)")
}

impl Sql {
    pub(crate) fn new(schema: &str, table: &str) -> Self {
        // Names are validated to [a-z0-9_] (config.rs), so quoting cannot break.
        let q = |name: &str| format!("\"{schema}\".\"{name}\"");
        let entries = q(table);
        let changes = q(&format!("{table}_changes"));
        let changes_seq = q(&format!("{table}_changes_seq"));
        let versions_seq = q(&format!("{table}_versions"));
        let meta = q(&format!("{table}_meta"));
        let channel = format!(
            "stateplug_{:016x}",
            fnv1a(&[b"channel", schema.as_bytes(), table.as_bytes()])
        );
        let expiry_index = q(&format!("{table}_expiry"));
        Sql {
            get_entry: format!(
                "SELECT value, version FROM {entries} WHERE store_id = $1 AND key = $2 AND {}",
                live("", 3)
            ),
            get_many: format!(
                "SELECT k.ord, t.value, t.version \
                 FROM unnest($2::bytea[]) WITH ORDINALITY AS k(key, ord) \
                 JOIN {entries} t ON t.store_id = $1 AND t.key = k.key AND {}",
                live("t.", 3)
            ),
            expiries: format!(
                "SELECT k.ord, t.expires_at \
                 FROM unnest($2::bytea[]) WITH ORDINALITY AS k(key, ord) \
                 JOIN {entries} t ON t.store_id = $1 AND t.key = k.key \
                 WHERE t.expires_at IS NOT NULL"
            ),
            list_keys: format!(
                "SELECT key FROM {entries} WHERE store_id = $1 AND {} ORDER BY key",
                live("", 2)
            ),
            store_exists: format!(
                "SELECT EXISTS (SELECT 1 FROM {entries} WHERE store_id = $1 AND {})",
                live("", 2)
            ),
            key_count: format!(
                "SELECT count(*) FROM {entries} WHERE store_id = $1 AND {}",
                live("", 2)
            ),
            // A loose index scan: one index probe per store, not one row per key.
            list_stores: format!(
                "WITH RECURSIVE s AS ( \
                   (SELECT store_id FROM {entries} ORDER BY store_id LIMIT 1) \
                   UNION ALL \
                   SELECT (SELECT t.store_id FROM {entries} t WHERE t.store_id > s.store_id \
                           ORDER BY t.store_id LIMIT 1) \
                   FROM s WHERE s.store_id IS NOT NULL) \
                 SELECT store_id FROM s WHERE store_id IS NOT NULL AND EXISTS ( \
                   SELECT 1 FROM {entries} t WHERE t.store_id = s.store_id AND {}) \
                 ORDER BY store_id",
                live("t.", 1)
            ),
            versions_of: format!(
                "SELECT key, version FROM {entries} WHERE store_id = $1 AND key = ANY($2::bytea[]) \
                 AND {}",
                live("", 3)
            ),
            // Writes every pair at version $4, expiring at $5 (NULL: never);
            // returns the keys that existed before.
            upsert: format!(
                "WITH old AS MATERIALIZED ( \
                   SELECT key FROM {entries} WHERE store_id = $1 AND key = ANY($2::bytea[])), \
                 up AS ( \
                   INSERT INTO {entries} (store_id, key, value, version, expires_at) \
                   SELECT $1::bytea, u.k, u.v, $4::int8, u.e \
                   FROM unnest($2::bytea[], $3::bytea[], $5::int8[]) AS u(k, v, e) \
                   ON CONFLICT (store_id, key) DO UPDATE \
                   SET value = EXCLUDED.value, version = EXCLUDED.version, \
                       expires_at = EXCLUDED.expires_at) \
                 SELECT key FROM old"
            ),
            delete_keys: format!(
                "DELETE FROM {entries} WHERE store_id = $1 AND key = ANY($2::bytea[]) RETURNING key"
            ),
            // Every row goes; the keys not expired by $2 are reported.
            clear: format!(
                "WITH gone AS (DELETE FROM {entries} WHERE store_id = $1 \
                   RETURNING key, version, expires_at) \
                 SELECT key, version FROM gone WHERE {}",
                live("", 2)
            ),
            // The stores holding the $2 earliest keys expired by $1.
            expired_stores: format!(
                "SELECT DISTINCT store_id FROM ( \
                   SELECT store_id FROM {entries} WHERE expires_at <= $1::int8 \
                   ORDER BY expires_at LIMIT $2) d"
            ),
            // Deletes up to $3 keys of store $1 expired by $2.
            expire: format!(
                "DELETE FROM {entries} t USING ( \
                   SELECT key FROM {entries} WHERE store_id = $1 AND expires_at <= $2::int8 \
                   ORDER BY key LIMIT $3) d \
                 WHERE t.store_id = $1 AND t.key = d.key RETURNING t.key"
            ),
            // Under the feed lock: reserve one position per change from the
            // sequence (nextval, then setval past the block: nobody else
            // allocates while the lock is held), insert the rows in input
            // order, and notify listeners at commit.
            append_changes: format!(
                "WITH lk AS MATERIALIZED (SELECT pg_advisory_xact_lock($1::int8)), \
                 base AS MATERIALIZED (SELECT nextval('{changes_seq}') AS b FROM lk), \
                 reserve AS MATERIALIZED ( \
                   SELECT setval('{changes_seq}', b + cardinality($4::bytea[]) - 1) FROM base), \
                 ins AS ( \
                   INSERT INTO {changes} (seq, store_id, key, kind, version) \
                   SELECT base.b + c.ord - 1, $2::bytea, c.key, c.kind, $3::int8 \
                   FROM base, reserve, unnest($4::bytea[], $5::int2[]) WITH ORDINALITY AS c(key, kind, ord) \
                   RETURNING seq) \
                 SELECT pg_notify($6::text, ''), (SELECT max(seq) FROM ins)"
            ),
            // One snapshot: the retention floor and the page after $1.
            read_changes: format!(
                "SELECT m.pruned_through, c.seq, c.store_id, c.key, c.kind, c.version \
                 FROM {meta} m LEFT JOIN LATERAL ( \
                   SELECT * FROM {changes} WHERE seq > $1 ORDER BY seq LIMIT $2) c ON true \
                 WHERE m.id = 1 ORDER BY c.seq"
            ),
            change_head: format!(
                "SELECT greatest((SELECT max(seq) FROM {changes}), \
                                 (SELECT pruned_through FROM {meta} WHERE id = 1), 0)"
            ),
            prune: format!(
                "WITH cut AS MATERIALIZED (SELECT max(seq) - $1::int8 AS c FROM {changes}), \
                 gone AS (DELETE FROM {changes} WHERE seq <= (SELECT c FROM cut)) \
                 UPDATE {meta} SET pruned_through = (SELECT c FROM cut) \
                 WHERE id = 1 AND (SELECT c FROM cut) > pruned_through"
            ),
            format: format!("SELECT format FROM {meta} WHERE id = 1"),
            layout: format!(
                "SELECT (SELECT count(*) FROM (SELECT store_id, key, value, version, expires_at FROM {entries} LIMIT 0) e), \
                        (SELECT count(*) FROM (SELECT seq, store_id, key, kind, version FROM {changes} LIMIT 0) c)"
            ),
            has_expiry: format!(
                "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('{entries}') \
                   AND attname = 'expires_at' AND NOT attisdropped) \
                 AND to_regclass('{expiry_index}') IS NOT NULL"
            ),
            add_expiry: format!(
                "ALTER TABLE {entries} ADD COLUMN IF NOT EXISTS expires_at bigint; \
                 CREATE INDEX IF NOT EXISTS \"{table}_expiry\" ON {entries} (expires_at) \
                 WHERE expires_at IS NOT NULL"
            ),
            entries,
            changes,
            changes_seq,
            versions_seq,
            meta,
            channel,
            schema: schema.to_string(),
            table: table.to_string(),
        }
    }

    /// `BEGIN`, the store's advisory lock, then the call's version, as one
    /// simple query (one round trip). The version is taken after the lock,
    /// so versions of one store follow its commit order.
    pub(crate) fn begin_write(&self, store_lock: i64) -> String {
        format!(
            "BEGIN; SELECT nextval('{}') FROM (SELECT pg_advisory_xact_lock({store_lock}) OFFSET 0) AS l",
            self.versions_seq
        )
    }

    /// A scan page of the keys not expired: `lower` / `upper` say which
    /// bounds (`>=`/`>` and `<`/`<=`) are present; parameters are `$1`
    /// store_id, `$2` now, then the present bounds in order, then the row
    /// limit.
    pub(crate) fn scan(
        &self,
        lower: Option<&str>,
        upper: Option<&str>,
        descending: bool,
    ) -> String {
        let mut sql = format!(
            "SELECT key, value, version FROM {} WHERE store_id = $1 AND {}",
            self.entries,
            live("", 2)
        );
        let mut n = 2;
        for (op, present) in [(lower, lower.is_some()), (upper, upper.is_some())] {
            if let (Some(op), true) = (op, present) {
                n += 1;
                let _ = write!(sql, " AND key {op} ${n}");
            }
        }
        let _ = write!(
            sql,
            " ORDER BY key {} LIMIT ${}",
            if descending { "DESC" } else { "ASC" },
            n + 1
        );
        sql
    }

    /// The objects that are missing, each with the statement that creates it.
    pub(crate) fn existence_query(&self) -> String {
        format!(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{}'), \
             to_regclass('{}') IS NOT NULL, to_regclass('{}') IS NOT NULL, \
             to_regclass('{}') IS NOT NULL, to_regclass('{}') IS NOT NULL, \
             to_regclass('{}') IS NOT NULL",
            self.schema, self.entries, self.versions_seq, self.changes, self.changes_seq, self.meta
        )
    }

    /// The statements creating the schema and each object, in the order of
    /// [`Sql::existence_query`]'s columns.
    pub(crate) fn create_statements(&self) -> [String; 6] {
        let Sql {
            schema,
            entries,
            versions_seq,
            changes,
            changes_seq,
            meta,
            table,
            ..
        } = self;
        [
            format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""),
            format!(
                "CREATE TABLE IF NOT EXISTS {entries} ( \
                   store_id bytea NOT NULL, key bytea NOT NULL, value bytea NOT NULL, \
                   version bigint NOT NULL, expires_at bigint, \
                   CONSTRAINT \"{table}_pkey\" PRIMARY KEY (store_id, key))"
            ),
            // CACHE 1: every nextval goes to the shared sequence, so values
            // are handed out in time order across sessions and hosts.
            format!(
                "CREATE SEQUENCE IF NOT EXISTS {versions_seq} AS bigint MINVALUE 1 CACHE 1 NO CYCLE"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {changes} ( \
                   seq bigint PRIMARY KEY, store_id bytea NOT NULL, key bytea NOT NULL, \
                   kind smallint NOT NULL, version bigint NOT NULL)"
            ),
            format!(
                "CREATE SEQUENCE IF NOT EXISTS {changes_seq} AS bigint MINVALUE 1 CACHE 1 NO CYCLE"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {meta} ( \
                   id smallint PRIMARY KEY CHECK (id = 1), format integer NOT NULL, \
                   pruned_through bigint NOT NULL); \
                 INSERT INTO {meta} (id, format, pruned_through) VALUES (1, {FORMAT}, 0) \
                 ON CONFLICT (id) DO NOTHING"
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_separate_their_parts() {
        assert_eq!(
            fnv1a_bytes(0xcbf2_9ce4_8422_2325, b"a"),
            0xaf63_dc4c_8601_ec8c
        );
        assert_eq!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"ab", b"c"]));
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
        let keys = LockKeys::new("public", "stateplug");
        assert_ne!(keys.store("a"), keys.store("b"));
        assert_ne!(keys.ddl, keys.feed);
        assert_ne!(
            LockKeys::new("public", "x").store("s"),
            LockKeys::new("other", "x").store("s")
        );
    }

    #[test]
    fn scan_sql_numbers_parameters_by_the_bounds_present() {
        let sql = Sql::new("public", "t");
        let s = sql.scan(Some(">="), Some("<"), false);
        assert!(
            s.ends_with("key >= $3 AND key < $4 ORDER BY key ASC LIMIT $5"),
            "{s}"
        );
        let s = sql.scan(None, Some("<"), true);
        assert!(s.ends_with("key < $3 ORDER BY key DESC LIMIT $4"), "{s}");
        let s = sql.scan(None, None, false);
        assert!(
            s.ends_with("expires_at > $2::int8) ORDER BY key ASC LIMIT $3"),
            "{s}"
        );
    }

    #[test]
    fn channel_is_a_short_identifier() {
        let sql = Sql::new(&"s".repeat(48), &"t".repeat(48));
        assert_eq!(sql.channel.len(), "stateplug_".len() + 16);
    }
}
