//! Behaviour against a real server (`STATEPLUG_TEST_POSTGRES_URL`), each
//! test in its own schema, dropped at the end; and connection errors.

use std::{
    collections::{BTreeMap, HashSet},
    io::Write as _,
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

use postgres::NoTls;
use stateplug_provider_api::{
    ChangeKind, ErrorKind, Expected, Provider, ProviderResult, ScanRef, TxnOpRef,
};

use crate::PostgresProvider;

const URL_VAR: &str = "STATEPLUG_TEST_POSTGRES_URL";

/// The test server's URL, or `None` after printing the skip line (past the
/// test harness's capture, so it shows).
fn url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let _ = writeln!(std::io::stderr(), "skipped: {URL_VAR} is not set");
            None
        }
    }
}

/// A fresh schema, dropped (with everything in it) when the guard drops.
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new(url: &str) -> Self {
        Schema {
            url: url.to_string(),
            name: format!("sp_test_{:016x}", rand::random::<u64>()),
        }
    }

    /// The configuration for this schema, 4 pooled connections unless
    /// `extra` sets `pool_size`.
    fn config(&self, extra: &str) -> String {
        let pool = if extra.contains("pool_size") {
            ""
        } else {
            r#", "pool_size": 4"#
        };
        format!(
            r#"{{"url": {:?}, "schema": "{}" {pool} {extra}}}"#,
            self.url, self.name
        )
    }

    fn open(&self, extra: &str) -> PostgresProvider {
        PostgresProvider::open(&self.config(extra)).expect("open postgres provider")
    }

    fn admin(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, NoTls).expect("admin connection")
    }

    /// Terminates every backend of this schema's provider connections.
    fn terminate_backends(&self) -> i64 {
        let row = self
            .admin()
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = $1",
                &[&format!("stateplug:{}.stateplug", self.name)],
            )
            .expect("terminate backends");
        row.get(0)
    }
}

impl Drop for Schema {
    /// Ends the sessions still using the schema (a running read could
    /// deadlock with the drop), then drops it, retrying a few times.
    fn drop(&mut self) {
        let Ok(mut admin) = postgres::Client::connect(&self.url, NoTls) else {
            return;
        };
        for _ in 0..5 {
            let _ = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                &[&format!("stateplug:{}.stateplug", self.name)],
            );
            let dropped =
                admin.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
            if dropped.is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

fn scan_all(p: &PostgresProvider, store: &str, base: ScanRef<'_>) -> Vec<String> {
    let mut keys = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let scan = ScanRef {
            after: after.as_deref(),
            ..base
        };
        let page = p.scan(store, scan).unwrap();
        keys.extend(page.entries.iter().map(|e| e.key.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => return keys,
        }
    }
}

#[test]
fn unreachable_server_names_host_and_database_but_never_the_password() {
    let err = PostgresProvider::open(
        r#"{"url": "postgres://app:hunter2@127.0.0.1:1/pipes", "connect_timeout_ms": 2000}"#,
    )
    .err()
    .expect("nothing listens on port 1");
    assert_eq!(err.kind(), ErrorKind::UNAVAILABLE, "{err}");
    assert!(err.is_temporary());
    assert!(
        err.message()
            .starts_with("cannot connect to 127.0.0.1:1: Connection refused"),
        "{err}"
    );
    assert!(err.message().contains("\"pipes\""), "{err}");
    assert!(!err.message().contains("hunter2"), "{err}");
}

/// With every pooled connection held by a call waiting for a lock, the
/// next call waits `connect_timeout_ms` and says the pool is busy; it does
/// not blame the server, which is reachable.
#[test]
fn a_busy_pool_says_so_and_does_not_say_the_server_is_unreachable() {
    let Some(url) = url() else { return };
    let db = Schema::new(&url);
    let p = Arc::new(db.open(r#", "pool_size": 1, "connect_timeout_ms": 300"#));
    p.set("s", "k", b"v").unwrap();
    let store_lock = crate::schema::LockKeys::new(&db.name, "stateplug").store("s");
    let mut holder = db.admin();
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({store_lock})"
        ))
        .unwrap();
    let writer = {
        let p = Arc::clone(&p);
        thread::spawn(move || p.set("s", "k", b"w"))
    };
    // The writer holds the only connection once its backend waits for the lock.
    let application = format!("stateplug:{}.stateplug", db.name);
    let mut admin = db.admin();
    let deadline = Instant::now() + Duration::from_secs(20);
    while admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND wait_event_type = 'Lock'",
            &[&application],
        )
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "the writer never waited for the lock"
        );
        thread::sleep(Duration::from_millis(10));
    }
    let err = p.get("s", "k").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UNAVAILABLE, "{err}");
    assert!(err.is_temporary(), "{err}");
    assert!(
        err.message().starts_with("all 1 pooled connections"),
        "{err}"
    );
    assert!(err.message().contains("`pool_size`"), "{err}");
    assert!(!err.message().contains("cannot connect"), "{err}");
    holder.batch_execute("COMMIT").unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(p.get("s", "k").unwrap(), Some(b"w".to_vec()));
}

#[test]
fn writes_reads_batches_and_scans_round_trip() {
    let Some(url) = url() else { return };
    let db = Schema::new(&url);
    let p = db.open("");
    assert_eq!(p.get("s", "k").unwrap(), None);
    let v1 = p.set("s", "k", b"one").unwrap();
    let v2 = p.set("s", "k", b"").unwrap();
    assert!(v2 > v1 && v1 >= 1);
    assert_eq!(p.get_entry("s", "k").unwrap().unwrap().version, v2);
    assert_eq!(p.get("s", "k").unwrap(), Some(vec![]));
    let v = p
        .set_many(
            "s",
            &[("a", b"1"), ("b", b"2"), ("a", b"3"), ("\u{0}nul", b"4")],
        )
        .unwrap();
    let got = p.get_many("s", &["a", "x", "a", "\u{0}nul"]).unwrap();
    assert_eq!(
        got[0].as_ref().map(|e| (e.value.as_slice(), e.version)),
        Some((&b"3"[..], v))
    );
    assert!(got[1].is_none());
    assert_eq!(got[2], got[0]);
    assert_eq!(p.key_count("s").unwrap(), 4);
    assert_eq!(p.list_keys("s").unwrap(), ["\u{0}nul", "a", "b", "k"]);
    p.set("s2", "k", b"x").unwrap();
    assert_eq!(p.list_stores().unwrap(), ["s", "s2"]);
    let all = ScanRef {
        limit: 1,
        ..Default::default()
    };
    assert_eq!(scan_all(&p, "s", all), ["\u{0}nul", "a", "b", "k"]);
    let desc = ScanRef {
        limit: 2,
        descending: true,
        ..Default::default()
    };
    assert_eq!(scan_all(&p, "s", desc), ["k", "b", "a", "\u{0}nul"]);
    let range = ScanRef {
        start: Some("a"),
        end: Some("k"),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(scan_all(&p, "s", range), ["a", "b"]);
    assert_eq!(p.delete_many("s", &["a", "a", "zz"]).unwrap(), 1);
    assert!(p.delete("s", "b").unwrap());
    assert!(!p.delete("s", "b").unwrap());
    assert_eq!(p.clear_store("s").unwrap(), 2);
    assert!(!p.store_exists("s").unwrap());
    assert_eq!(p.list_stores().unwrap(), ["s2"]);
}

#[test]
fn versions_are_shared_and_cas_holds_across_instances() {
    let Some(url) = url() else { return };
    let db = Schema::new(&url);
    let (a, b) = (db.open(""), db.open(""));
    let va = a.set("s", "k", b"a").unwrap();
    let vb = b.set("s", "other", b"b").unwrap();
    assert!(vb > va, "one sequence gives versions to every instance");
    let v = b
        .compare_and_set("s", "k", Expected::Version(va), b"b")
        .unwrap();
    let err = a
        .compare_and_set("s", "k", Expected::Version(va), b"lost")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VERSION_CONFLICT);
    assert!(err.message().contains(&va.to_string()) && err.message().contains(&v.to_string()));
    let err = a
        .compare_and_set("s", "k", Expected::Absent, b"x")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ALREADY_EXISTS);

    // A counter incremented from both instances, 4 threads each: exact.
    a.set("s", "n", &0u64.to_le_bytes()).unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let p = if i % 2 == 0 {
                Arc::clone(&a)
            } else {
                Arc::clone(&b)
            };
            thread::spawn(move || {
                for _ in 0..25 {
                    loop {
                        let e = p.get_entry("s", "n").unwrap().unwrap();
                        let n = u64::from_le_bytes(e.value.as_slice().try_into().unwrap());
                        match p.compare_and_set(
                            "s",
                            "n",
                            Expected::Version(e.version),
                            &(n + 1).to_le_bytes(),
                        ) {
                            Ok(_) => break,
                            Err(e) if e.kind() == ErrorKind::VERSION_CONFLICT => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n = a.get("s", "n").unwrap().unwrap();
    assert_eq!(u64::from_le_bytes(n.as_slice().try_into().unwrap()), 200);
}

#[test]
fn transactions_replay_operations_in_order() {
    let Some(url) = url() else { return };
    let db = Schema::new(&url);
    let p = db.open("");
    let v0 = p.set("s", "old", b"x").unwrap();
    let head = p.change_head().unwrap();
    let v = p
        .transaction(
            "s",
            &[
                TxnOpRef::Check {
                    key: "old",
                    expected: Expected::Version(v0),
                },
                TxnOpRef::Put {
                    key: "new",
                    value: b"1",
                },
                TxnOpRef::Delete { key: "old" },
                TxnOpRef::Put {
                    key: "new",
                    value: b"2",
                },
                TxnOpRef::Put {
                    key: "tmp",
                    value: b"t",
                },
                TxnOpRef::Delete { key: "tmp" },
            ],
        )
        .unwrap();
    assert!(v > v0);
    assert_eq!(p.list_keys("s").unwrap(), ["new"]);
    assert_eq!(
        p.get_entry("s", "new")
            .unwrap()
            .map(|e| (e.value, e.version)),
        Some((b"2".to_vec(), v))
    );
    let page = p.wait_changes(head, 100, 0).unwrap();
    let got: Vec<(&str, ChangeKind, u64)> = page
        .changes
        .iter()
        .map(|c| (c.key.as_str(), c.kind, c.version))
        .collect();
    use ChangeKind::*;
    assert_eq!(
        got,
        [
            ("new", Created, v),
            ("old", Deleted, v),
            ("new", Updated, v),
            ("tmp", Created, v),
            ("tmp", Deleted, v)
        ]
    );
    // Only checks, or deletes of missing keys: nothing written, version 0.
    assert_eq!(
        p.transaction("s", &[TxnOpRef::Delete { key: "missing" }])
            .unwrap(),
        0
    );
    assert_eq!(
        p.change_head().unwrap(),
        page.cursor,
        "a call that changes nothing logs nothing"
    );
}

/// Writers on several stores and two instances, a reader following the
/// feed: the reader sees every acknowledged change exactly once, and each
/// store's changes in version order.
#[test]
fn feed_never_skips_a_change_under_concurrent_writers() {
    let Some(url) = url() else { return };
    let db = Schema::new(&url);
    let writers = [Arc::new(db.open("")), Arc::new(db.open(""))];
    let reader = db.open("");
    let head = reader.change_head().unwrap();
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let p = Arc::clone(&writers[t % 2]);
            let start = Arc::clone(&start);
            thread::spawn(move || -> ProviderResult<Vec<(String, String, u64)>> {
                start.wait();
                let store = format!("store-{}", t % 4);
                let mut written = Vec::new();
                for i in 0..30 {
                    let key = format!("t{t}-{i}");
                    if i % 3 == 0 {
                        let v = p.set_many(&store, &[(&key, b"a"), (&format!("{key}-b"), b"b")])?;
                        written.push((store.clone(), key.clone(), v));
                        written.push((store.clone(), format!("{key}-b"), v));
                    } else {
                        let v = p.set(&store, &key, b"v")?;
                        written.push((store.clone(), key, v));
                    }
                }
                Ok(written)
            })
        })
        .collect();
    let mut expected: HashSet<(String, String, u64)> = HashSet::new();
    for t in threads {
        expected.extend(t.join().unwrap().unwrap());
    }
    let mut seen = Vec::new();
    let mut cursor = head;
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.len() < expected.len() && Instant::now() < deadline {
        let page = reader.wait_changes(cursor, 37, 200).unwrap();
        assert!(page.cursor >= cursor);
        cursor = page.cursor;
        seen.extend(page.changes);
    }
    let got: HashSet<(String, String, u64)> = seen
        .iter()
        .map(|c| (c.store_id.clone(), c.key.clone(), c.version))
        .collect();
    assert_eq!(seen.len(), expected.len(), "each change exactly once");
    assert_eq!(got, expected);
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &seen {
        let prev = last.insert(&c.store_id, c.version).unwrap_or(0);
        assert!(
            c.version >= prev,
            "a store's changes arrive in version order"
        );
    }
}

#[test]
fn wait_changes_wakes_on_a_commit_from_another_instance() {
    let Some(url) = url() else { return };
    let db = Schema::new(&url);
    let reader = db.open("");
    let writer = db.open("");
    let head = reader.change_head().unwrap();
    let idle = reader.wait_changes(head, 10, 50).unwrap();
    assert!(idle.changes.is_empty());
    assert_eq!(idle.cursor, head);
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        writer.set("s", "k", b"v").unwrap()
    });
    let started = Instant::now();
    let page = reader.wait_changes(head, 10, 10_000).unwrap();
    let v = t.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken by the notification"
    );
    assert_eq!(page.changes.len(), 1);
    assert_eq!(
        (page.changes[0].kind, page.changes[0].version),
        (ChangeKind::Created, v)
    );
    let far = reader.wait_changes(u64::MAX - 1, 10, 10).unwrap();
    assert!(far.changes.is_empty());
}

#[test]
fn pruned_positions_are_refused_and_the_head_moves_on() {
    let Some(url) = url() else { return };
    let db = Schema::new(&url);
    let p = db.open(r#", "change_log_keep": 5"#);
    for i in 0..30 {
        p.set("s", &format!("k{i}"), b"v").unwrap();
    }
    let err = p.wait_changes(0, 10, 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT, "{err}");
    assert!(err.message().contains("no longer retained"), "{err}");
    assert!(err.message().contains("change_log_keep"), "{err}");
    let head = p.change_head().unwrap();
    assert!(head >= 30);
    let back = p.wait_changes(head - 3, 10, 0).unwrap();
    assert_eq!(back.changes.len(), 3);
    let rows: i64 = db
        .admin()
        .query_one(
            &format!("SELECT count(*) FROM \"{}\".stateplug_changes", db.name),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        rows <= 6,
        "the log keeps about change_log_keep rows, has {rows}"
    );
}

#[test]
fn hosts_starting_at_once_create_the_tables_once() {
    let Some(url) = url() else { return };
    let db = Arc::new(Schema::new(&url));
    let start = Arc::new(Barrier::new(6));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (db, start) = (Arc::clone(&db), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                PostgresProvider::open(&db.config("")).map(drop)
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let p = db.open("");
    p.set("s", "k", b"v").unwrap();
}

#[test]
fn tables_of_another_layout_are_refused_at_open() {
    let Some(url) = url() else { return };
    let db = Schema::new(&url);
    db.admin()
        .batch_execute(&format!(
            "CREATE SCHEMA \"{0}\"; CREATE TABLE \"{0}\".stateplug (id int)",
            db.name
        ))
        .unwrap();
    let err = PostgresProvider::open(&db.config("")).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::STORAGE, "{err}");
    assert!(err.message().contains("another layout"), "{err}");
}

/// Terminating every backend (as an administrator or a server restart
/// does): the next calls reconnect, nothing acknowledged is lost, and the
/// feed keeps reporting.
#[test]
fn terminated_connections_are_replaced_and_nothing_acknowledged_is_lost() {
    let Some(url) = url() else { return };
    let db = Schema::new(&url);
    let p = db.open("");
    let head = p.change_head().unwrap();
    let mut acknowledged = Vec::new();
    for round in 0..5 {
        for i in 0..20 {
            let key = format!("r{round}-{i}");
            match p.set("s", &key, key.as_bytes()) {
                Ok(v) => acknowledged.push((key, v)),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::UNAVAILABLE, "{e}");
                    assert!(e.is_temporary(), "{e}");
                }
            }
        }
        let _ = p.wait_changes(head, 10, 0).unwrap();
        assert!(
            db.terminate_backends() >= 1,
            "the provider's connections were found"
        );
    }
    assert_eq!(
        acknowledged.len(),
        100,
        "idle connections lost before a call are replaced"
    );
    for (key, v) in &acknowledged {
        let e = p
            .get_entry("s", key)
            .unwrap()
            .expect("acknowledged write survives");
        assert_eq!((e.value.as_slice(), e.version), (key.as_bytes(), *v));
    }
    let mut cursor = head;
    let mut seen = 0;
    while seen < 100 {
        let page = p.wait_changes(cursor, 100, 1000).unwrap();
        assert!(
            !page.changes.is_empty(),
            "the feed still reports after reconnecting"
        );
        seen += page.changes.len();
        cursor = page.cursor;
    }
    assert_eq!(seen, 100);
}

/// A table made before keys could expire gains its `expires_at` column at
/// the first open for writing (a read-only open says so and changes
/// nothing); then an expiring key vanishes from reads once the clock
/// passes it, and the sweeper deletes it, logging an `expired` change.
#[test]
fn an_older_table_gains_expiry_and_the_sweeper_removes_expired_keys() {
    use std::sync::atomic::{AtomicU64, Ordering};

    use stateplug_provider_api::{Clock, OpenContext, WriteOp};

    let Some(url) = url() else { return };
    let schema = Schema::new(&url);
    schema.open("").set("s", "old", b"1").unwrap();
    let table = format!("\"{}\".\"stateplug\"", schema.name);
    schema
        .admin()
        .batch_execute(&format!("ALTER TABLE {table} DROP COLUMN expires_at"))
        .unwrap();
    let err = PostgresProvider::open_with(&schema.config(""), &OpenContext::READ_ONLY)
        .err()
        .expect("a read-only open of an older table is refused");
    assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT);
    assert!(err.message().contains("open it once for writing"), "{err}");

    let now = Arc::new(AtomicU64::new(1_000));
    let hand = now.clone();
    let clock = Clock::from_fn(move || hand.load(Ordering::SeqCst));
    let context = OpenContext::READ_WRITE.with_clock(clock);
    let p = PostgresProvider::open_with(&schema.config(""), &context).unwrap();
    assert_eq!(p.get("s", "old").unwrap(), Some(b"1".to_vec()));
    let put = p
        .write("s", &[WriteOp::put_expiring("k", b"2", 2_000)], &mut |_| {})
        .unwrap();
    let head = p.change_head().unwrap();
    assert_eq!(p.get("s", "k").unwrap(), Some(b"2".to_vec()));
    now.store(2_000, Ordering::SeqCst);
    assert_eq!(p.get("s", "k").unwrap(), None, "expired from its expiry on");
    assert_eq!(p.key_count("s").unwrap(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let expired = loop {
        let page = p.wait_changes(head, 10, 200).unwrap();
        if let Some(c) = page.changes.iter().find(|c| c.key == "k") {
            break c.clone();
        }
        assert!(Instant::now() < deadline, "no expiry within 10 s");
    };
    assert_eq!(expired.kind, ChangeKind::Expired);
    assert!(
        expired.version > put,
        "the removal has a version of its own"
    );
    let rows: i64 = schema
        .admin()
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "the sweeper deleted the row");
}
