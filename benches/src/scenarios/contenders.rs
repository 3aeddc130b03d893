//! The contenders of the durable scenarios: stateplug (the redb `.so`
//! through the host API) and what users compare it with: redb itself,
//! SQLite, fjall, and the disk's own limit. Every contender is handed the
//! same keys and values, and returns from a write only once it is synced.
//!
//! The host API's write calls live here and nowhere else in the durable
//! scenarios ([`Contender::set`], [`Contender::set_many`], [`Contender::writers`]).

use std::{
    fs::{File, OpenOptions},
    io::Write,
    ops::Range,
    os::unix::fs::FileExt,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use redb::TableDefinition;
use stateplug::{
    layers::{Layered, MetricsLayer},
    StateStore,
};

use super::{key, value};
use crate::library;

/// The length of every value the durable scenarios write.
pub const VALUE_LEN: usize = 100;
/// The store_id (and SQLite `store` column, fjall keyspace) written to.
const STORE_ID: &str = "bench";
const RAW: TableDefinition<&str, &[u8]> = TableDefinition::new("raw");
const SQLITE_SETUP: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
    CREATE TABLE kv (store TEXT, key TEXT, value BLOB, PRIMARY KEY (store, key));";
const SQLITE_INSERT: &str = "INSERT OR REPLACE INTO kv (store, key, value) VALUES (?1, ?2, ?3)";
/// The preallocated probe file: room for a whole batch at offset 0.
const PROBE_BYTES: usize = 1 << 20;

/// Which contender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The redb `.so` through the host API, in the host's `MetricsLayer`.
    Host,
    /// The same, opened with `"journal": false`: a durable redb commit per
    /// group instead of a journal append (the journal's A/B).
    HostUnjournaled,
    /// redb itself, one transaction and one durable commit per write.
    RawRedb,
    /// fjall 3: the write, then `Database::persist(PersistMode::SyncData)`.
    Fjall,
    /// SQLite in WAL mode with `synchronous=FULL`, one transaction per write.
    Sqlite,
    /// The value written at offset 0 of a preallocated file, then `fdatasync`.
    DiskFixed,
    /// The value appended to a file, then `fdatasync`.
    DiskAppend,
}

impl Kind {
    /// The contender's name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Host => "redb .so via host",
            Kind::HostUnjournaled => "redb .so via host, \"journal\": false",
            Kind::RawRedb => "raw redb, a commit per write",
            Kind::Fjall => "fjall 3, write + persist(SyncData)",
            Kind::Sqlite => "SQLite WAL, synchronous=FULL",
            Kind::DiskFixed => "pwrite at a fixed offset + fdatasync (the limit)",
            Kind::DiskAppend => "append + fdatasync",
        }
    }

    /// How its writes per sync are known ("a call": one set or one batch).
    pub fn how_syncs_are_known(self) -> &'static str {
        match self {
            Kind::Host | Kind::HostUnjournaled => {
                "counted: acknowledged keys / the host's durable-commit counter"
            }
            Kind::RawRedb => {
                "by construction: one durable commit per call (one fsync: redb's default 1-phase commit)"
            }
            Kind::Fjall => {
                "by construction: one persist(SyncData), i.e. one fdatasync of the journal, per call"
            }
            Kind::Sqlite => {
                "by construction: one transaction per call; synchronous=FULL syncs the WAL at every commit (checkpoints, every 1,000 WAL pages, add a few syncs)"
            }
            Kind::DiskFixed | Kind::DiskAppend => "by construction: one fdatasync per call",
        }
    }

    /// Whether its writes per sync are counted rather than fixed by its build.
    pub fn syncs_are_counted(self) -> bool {
        matches!(self, Kind::Host | Kind::HostUnjournaled)
    }

    /// Opens the contender on fresh files in `dir`.
    pub fn open(self, dir: &Path) -> Contender {
        let engine = match self {
            Kind::Host => {
                let store = library("redb")
                    .open(&serde_json::json!({ "path": dir.join("provider.redb") }))
                    .expect("redb .so");
                return Contender::host(store);
            }
            Kind::HostUnjournaled => {
                let store = library("redb")
                    .open(&serde_json::json!({
                        "path": dir.join("unjournaled.redb"),
                        "journal": false,
                    }))
                    .expect("redb .so");
                return Contender::host(store);
            }
            Kind::RawRedb => Engine::RawRedb(Arc::new(
                redb::Database::create(dir.join("raw.redb")).expect("raw redb"),
            )),
            Kind::Fjall => {
                let db = fjall::Database::builder(dir.join("fjall"))
                    .open()
                    .expect("fjall");
                let keyspace = db
                    .keyspace(STORE_ID, fjall::KeyspaceCreateOptions::default)
                    .expect("fjall keyspace");
                Engine::Fjall { db, keyspace }
            }
            Kind::Sqlite => {
                let conn = rusqlite::Connection::open(dir.join("peer.sqlite")).expect("sqlite");
                conn.execute_batch(SQLITE_SETUP).expect("sqlite setup");
                Engine::Sqlite(Arc::new(Mutex::new(conn)))
            }
            Kind::DiskFixed => {
                let mut file = File::create(dir.join("fixed.probe")).expect("probe file");
                // Written, not just sized: a sized file is a hole, and the
                // first write into a hole allocates blocks.
                file.write_all(&vec![0u8; PROBE_BYTES])
                    .expect("preallocate");
                file.sync_all().expect("sync");
                Engine::DiskFixed(Arc::new(file))
            }
            Kind::DiskAppend => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("append.probe"))
                    .expect("probe file");
                file.sync_all().expect("sync");
                Engine::DiskAppend(Arc::new(file))
            }
        };
        Contender::Engine(engine)
    }
}

/// An opened contender.
pub enum Contender {
    /// The host API (async).
    Host(Arc<dyn StateStore>),
    /// An engine called directly (blocking).
    Engine(Engine),
}

/// An engine called directly. Shared by every writer thread.
#[derive(Clone)]
pub enum Engine {
    /// redb.
    RawRedb(Arc<redb::Database>),
    /// fjall 3.
    Fjall {
        /// The database (its journal).
        db: fjall::Database,
        /// The keyspace written to.
        keyspace: fjall::Keyspace,
    },
    /// SQLite: one connection behind a mutex, so concurrent writers queue
    /// on the mutex instead of sleeping in SQLite's busy handler.
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    /// The preallocated probe file.
    DiskFixed(Arc<File>),
    /// The appended probe file.
    DiskAppend(Arc<File>),
}

impl Engine {
    /// Writes one key durably.
    pub fn set(&self, key: &str, value: &[u8]) {
        match self {
            Engine::RawRedb(db) => {
                let txn = db.begin_write().expect("redb write");
                {
                    let mut table = txn.open_table(RAW).expect("redb table");
                    table.insert(key, value).expect("redb insert");
                }
                txn.commit().expect("redb commit");
            }
            Engine::Fjall { db, keyspace } => {
                keyspace.insert(key, value).expect("fjall insert");
                db.persist(fjall::PersistMode::SyncData)
                    .expect("fjall persist");
            }
            Engine::Sqlite(conn) => {
                let conn = conn.lock().expect("sqlite connection");
                conn.prepare_cached(SQLITE_INSERT)
                    .expect("sqlite prepare")
                    .execute(rusqlite::params![STORE_ID, key, value])
                    .expect("sqlite insert");
            }
            Engine::DiskFixed(file) => {
                file.write_all_at(value, 0).expect("probe write");
                file.sync_data().expect("fdatasync");
            }
            Engine::DiskAppend(file) => {
                let mut end: &File = file;
                end.write_all(value).expect("probe append");
                file.sync_data().expect("fdatasync");
            }
        }
    }

    /// Writes every entry in one atomic batch and one sync.
    pub fn set_many(&self, entries: &[(String, Vec<u8>)]) {
        match self {
            Engine::RawRedb(db) => {
                let txn = db.begin_write().expect("redb write");
                {
                    let mut table = txn.open_table(RAW).expect("redb table");
                    for (k, v) in entries {
                        table.insert(k.as_str(), v.as_slice()).expect("redb insert");
                    }
                }
                txn.commit().expect("redb commit");
            }
            Engine::Fjall { db, keyspace } => {
                let mut batch = db.batch();
                for (k, v) in entries {
                    batch.insert(keyspace, k.as_str(), v.as_slice());
                }
                batch.commit().expect("fjall batch");
                db.persist(fjall::PersistMode::SyncData)
                    .expect("fjall persist");
            }
            Engine::Sqlite(conn) => {
                let mut conn = conn.lock().expect("sqlite connection");
                let txn = conn.transaction().expect("sqlite begin");
                {
                    let mut insert = txn.prepare_cached(SQLITE_INSERT).expect("sqlite prepare");
                    for (k, v) in entries {
                        insert
                            .execute(rusqlite::params![STORE_ID, k, v])
                            .expect("sqlite insert");
                    }
                }
                txn.commit().expect("sqlite commit");
            }
            // The values one after another, as one write: what a journal
            // appends for a batch, without keys or framing.
            Engine::DiskFixed(_) | Engine::DiskAppend(_) => {
                let values: Vec<u8> = entries.iter().flat_map(|(_, v)| v).copied().collect();
                self.set("", &values);
            }
        }
    }
}

/// One durable set through the host API.
async fn host_set(store: &dyn StateStore, key: &str, value: Vec<u8>) {
    store.set(STORE_ID, key, value).await.expect("host set");
}

impl Contender {
    /// A stateplug contender: `store` in the host's `MetricsLayer`, whose
    /// durable-commit counter gives its writes per sync (see [`crate::commits`]).
    fn host(store: Arc<dyn StateStore>) -> Contender {
        Contender::Host(Arc::new(Layered::new(
            store,
            MetricsLayer::new("redb", true),
        )))
    }

    /// Writes one key durably.
    pub async fn set(&self, key: &str, value: Vec<u8>) {
        match self {
            Contender::Host(store) => host_set(store.as_ref(), key, value).await,
            Contender::Engine(engine) => engine.set(key, &value),
        }
    }

    /// Writes every entry in one atomic batch and one sync.
    pub async fn set_many(&self, entries: Vec<(String, Vec<u8>)>) {
        match self {
            Contender::Host(store) => {
                store
                    .set_many(STORE_ID, entries)
                    .await
                    .expect("host set_many");
            }
            Contender::Engine(engine) => engine.set_many(&entries),
        }
    }

    /// `writers` concurrent writers, writer `w` setting `w{w}-key-{i}` to
    /// `value(i)` for each `i` in `range`: host writers are tasks on `runtime`, engine
    /// writers threads of their own. Returns every set's latency and the
    /// wall time from the first start to the last acknowledgement.
    pub fn writers(
        &self,
        runtime: &tokio::runtime::Runtime,
        writers: usize,
        range: Range<usize>,
    ) -> (Vec<Duration>, Duration) {
        let start = Instant::now();
        let samples: Vec<Duration> = match self {
            Contender::Host(store) => runtime.block_on(async {
                let tasks: Vec<_> = (0..writers)
                    .map(|w| {
                        let store = Arc::clone(store);
                        let range = range.clone();
                        tokio::spawn(async move {
                            let mut samples = Vec::with_capacity(range.len());
                            for i in range {
                                let (k, v) = (format!("w{w}-{}", key(i)), value(i, VALUE_LEN));
                                let t = Instant::now();
                                host_set(store.as_ref(), &k, v).await;
                                samples.push(t.elapsed());
                            }
                            samples
                        })
                    })
                    .collect();
                let mut all = Vec::new();
                for task in tasks {
                    all.extend(task.await.expect("writer task"));
                }
                all
            }),
            Contender::Engine(engine) => {
                let threads: Vec<_> = (0..writers)
                    .map(|w| {
                        let engine = engine.clone();
                        let range = range.clone();
                        std::thread::spawn(move || {
                            let mut samples = Vec::with_capacity(range.len());
                            for i in range {
                                let (k, v) = (format!("w{w}-{}", key(i)), value(i, VALUE_LEN));
                                let t = Instant::now();
                                engine.set(&k, &v);
                                samples.push(t.elapsed());
                            }
                            samples
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .flat_map(|t| t.join().expect("writer thread"))
                    .collect()
            }
        };
        (samples, start.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use redb::ReadableDatabase;

    use super::*;
    use crate::scenarios::runtime;

    /// What `contender` holds under `key`, read back through its own engine.
    async fn read_back(contender: &Contender, key: &str) -> Option<Vec<u8>> {
        match contender {
            Contender::Host(store) => store.get(STORE_ID, key).await.expect("get"),
            Contender::Engine(Engine::RawRedb(db)) => {
                let txn = db.begin_read().expect("read");
                let table = txn.open_table(RAW).expect("table");
                let value = table.get(key).expect("get");
                value.map(|v| v.value().to_vec())
            }
            Contender::Engine(Engine::Fjall { keyspace, .. }) => {
                keyspace.get(key).expect("get").map(|v| v.to_vec())
            }
            Contender::Engine(Engine::Sqlite(conn)) => {
                let conn = conn.lock().expect("connection");
                conn.query_row(
                    "SELECT value FROM kv WHERE store = ?1 AND key = ?2",
                    rusqlite::params![STORE_ID, key],
                    |row| row.get(0),
                )
                .ok()
            }
            Contender::Engine(Engine::DiskFixed(_) | Engine::DiskAppend(_)) => None,
        }
    }

    fn file_bytes(dir: &Path, name: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        File::open(dir.join(name))
            .expect("probe file")
            .read_to_end(&mut bytes)
            .expect("read");
        bytes
    }

    #[test]
    fn every_engine_holds_each_key_and_value_it_acknowledged() {
        let one = value(1, VALUE_LEN);
        let batch = vec![(key(2), value(2, VALUE_LEN)), (key(3), value(3, VALUE_LEN))];
        for kind in [Kind::Host, Kind::RawRedb, Kind::Fjall, Kind::Sqlite] {
            let dir = tempfile::tempdir().expect("temp dir");
            let contender = kind.open(dir.path());
            runtime().block_on(async {
                contender.set(&key(1), one.clone()).await;
                contender.set_many(batch.clone()).await;
                assert_eq!(
                    read_back(&contender, &key(1)).await,
                    Some(one.clone()),
                    "{kind:?}"
                );
                for (k, v) in &batch {
                    assert_eq!(read_back(&contender, k).await.as_ref(), Some(v), "{kind:?}");
                }
                assert_eq!(read_back(&contender, &key(4)).await, None, "{kind:?}");
            });
        }
    }

    #[test]
    fn the_disk_probes_write_each_value_where_they_say() {
        let one = value(1, VALUE_LEN);
        let batch = vec![(key(2), value(2, VALUE_LEN)), (key(3), value(3, VALUE_LEN))];
        let batch_bytes: Vec<u8> = batch.iter().flat_map(|(_, v)| v.clone()).collect();
        let dir = tempfile::tempdir().expect("temp dir");
        for kind in [Kind::DiskFixed, Kind::DiskAppend] {
            let contender = kind.open(dir.path());
            runtime().block_on(async {
                contender.set(&key(1), one.clone()).await;
                contender.set_many(batch.clone()).await;
            });
        }
        // Fixed: every write lands at offset 0 of the preallocated file.
        let fixed = file_bytes(dir.path(), "fixed.probe");
        assert_eq!(fixed.len(), PROBE_BYTES);
        assert_eq!(&fixed[..batch_bytes.len()], batch_bytes.as_slice());
        // Append: the writes one after another.
        assert_eq!(
            file_bytes(dir.path(), "append.probe"),
            [one, batch_bytes].concat()
        );
    }

    #[test]
    fn concurrent_writers_each_write_their_own_keys() {
        for kind in [Kind::Host, Kind::Fjall] {
            let dir = tempfile::tempdir().expect("temp dir");
            let contender = kind.open(dir.path());
            let rt = crate::scenarios::multi_runtime();
            let (samples, _) = contender.writers(&rt, 3, 5..7);
            assert_eq!(samples.len(), 6, "{kind:?}");
            rt.block_on(async {
                for w in 0..3 {
                    for i in 5..7 {
                        let k = format!("w{w}-{}", key(i));
                        assert_eq!(
                            read_back(&contender, &k).await,
                            Some(value(i, VALUE_LEN)),
                            "{kind:?} {k}"
                        );
                    }
                }
            });
        }
    }
}
