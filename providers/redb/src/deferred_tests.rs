//! Deferred groups: acknowledged once journaled, read before the applier
//! applies them to redb, and applied or replayed with the versions they
//! were acknowledged with.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTableMetadata};
use stateplug_provider_api::{ErrorKind, Expected, Provider, ScanRef, WriteOp};

use crate::schema::ENTRIES;
use crate::RedbProvider;

fn open(path: &Path) -> RedbProvider {
    let json = format!(
        r#"{{"path": {:?}, "checkpoint_interval_ms": 3600000}}"#,
        path.display().to_string()
    );
    RedbProvider::open(&json).unwrap()
}

/// Rows in redb's `ENTRIES` table, without waiting for the applier.
fn applied_rows(p: &RedbProvider) -> u64 {
    let txn = p.shared().db.begin_read().unwrap();
    txn.open_table(ENTRIES).unwrap().len().unwrap()
}

fn write(p: &RedbProvider, ops: &[WriteOp<'_>]) -> ProviderResult {
    p.write("s", ops, &mut |_| {})
}

type ProviderResult = stateplug_provider_api::ProviderResult<u64>;

#[test]
fn acknowledged_writes_are_read_before_the_applier_applies_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(&dir.path().join("state.redb"));
    let unapplied = &p.shared().committer.unapplied;
    unapplied.hold(true);
    let a = p.set("s", "a", b"1").unwrap();
    let b = p.set_many("s", &[("b", b"2"), ("c", b"3")]).unwrap();
    assert!(b > a);
    assert!(p.delete("s", "a").unwrap(), "a deferred key is deleted");
    assert!(!p.delete("s", "a").unwrap(), "and is gone");
    let err = write(
        &p,
        &[
            WriteOp::check("b", Expected::Version(a)),
            WriteOp::put("b", b"x"),
        ],
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VERSION_CONFLICT, "{err}");
    let cas = write(
        &p,
        &[
            WriteOp::check("b", Expected::Version(b)),
            WriteOp::put("b", b"22"),
        ],
    )
    .unwrap();
    let err = write(
        &p,
        &[
            WriteOp::check("c", Expected::Absent),
            WriteOp::put("c", b"x"),
        ],
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ALREADY_EXISTS, "{err}");
    write(&p, &[WriteOp::put_expiring("t", b"4", u64::MAX - 1)]).unwrap();
    assert_eq!(applied_rows(&p), 0, "nothing is applied yet");
    assert_eq!(
        p.list_keys("s").unwrap(),
        ["b", "c", "t"],
        "a walk sees them"
    );

    let read = |p: &RedbProvider| {
        let got = p.get_many("s", &["a", "b", "c", "t"]).unwrap();
        let got: Vec<_> = got
            .into_iter()
            .map(|e| e.map(|e| (e.value, e.version)))
            .collect();
        assert_eq!(p.get("s", "b").unwrap(), Some(b"22".to_vec()));
        assert_eq!(
            p.expiries("s", &["t", "b", "a"]).unwrap(),
            [Some(u64::MAX - 1), None, None]
        );
        got
    };
    let before = read(&p);
    assert_eq!(
        before,
        [
            None,
            Some((b"22".to_vec(), cas)),
            Some((b"3".to_vec(), b)),
            Some((b"4".to_vec(), cas + 1)),
        ]
    );
    // A copy of the file and its journal taken now lacks the writes in the
    // file: an open of the copy replays them with the same versions.
    let copy = tempfile::tempdir().unwrap();
    for name in ["state.redb", "state.redb.journal"] {
        std::fs::copy(dir.path().join(name), copy.path().join(name)).unwrap();
    }
    unapplied.hold(false);
    assert_eq!(
        p.key_count("s").unwrap(),
        3,
        "a count waits for the applier"
    );
    assert_eq!(applied_rows(&p), 3);
    assert_eq!(read(&p), before, "applying changes no answer");
    assert_eq!(p.list_keys("s").unwrap(), ["b", "c", "t"]);
    drop(p);
    let replayed = open(&copy.path().join("state.redb"));
    assert_eq!(read(&replayed), before, "replay gives the same answers");
    assert!(
        replayed.set("s", "d", b"5").unwrap() > cas + 1,
        "versions go on growing"
    );
}

/// Polls `done` every millisecond for up to ten seconds.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn the_applier_keeps_up_with_a_steady_writer_and_sleeps_once_writes_stop() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(&dir.path().join("state.redb"));
    let unapplied = &p.shared().committer.unapplied;
    // Writes spaced a few milliseconds apart, as a pipeline's checkpoints
    // are: the applier gathers batch after batch, and nobody settles.
    for i in 0..30 {
        p.set("s", &format!("k{i}"), b"v").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    eventually("every write is applied", || applied_rows(&p) == 30);
    eventually("an idle applier sleeps", || unapplied.asleep());
    // A write to a sleeping applier wakes it.
    p.set("s", "late", b"v").unwrap();
    eventually("the late write is applied", || applied_rows(&p) == 31);
    assert_eq!(p.get("s", "late").unwrap(), Some(b"v".to_vec()));
    assert_eq!(p.key_count("s").unwrap(), 31);
}

#[test]
fn a_clear_after_deferred_writes_removes_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(&dir.path().join("state.redb"));
    for i in 0..50 {
        p.set("s", &format!("k{i}"), b"v").unwrap();
    }
    let entries: Vec<(String, Vec<u8>)> = (50..100).map(|i| (format!("k{i}"), vec![1])).collect();
    let entries: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    p.set_many("s", &entries).unwrap();
    assert_eq!(
        p.clear_store("s").unwrap(),
        100,
        "the clear saw every write"
    );
    assert_eq!(p.get("s", "k7").unwrap(), None);
    assert_eq!(p.get("s", "k77").unwrap(), None);
    assert!(p.list_keys("s").unwrap().is_empty());
}

/// Every page of a scan of store `s` (keys and values), `limit` rows each.
fn pages(p: &RedbProvider, limit: u32, descending: bool) -> Vec<Vec<(String, Vec<u8>)>> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let scan = ScanRef {
            after: after.as_deref(),
            limit,
            descending,
            ..Default::default()
        };
        let page = p.scan("s", scan).unwrap();
        pages.push(page.entries.into_iter().map(|e| (e.key, e.value)).collect());
        match page.next {
            Some(next) => after = Some(next),
            None => return pages,
        }
    }
}

#[test]
fn scans_merge_the_writes_not_yet_applied_over_the_applied_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = open(&dir.path().join("state.redb"));
    p.set_many("s", &[("a", b"1"), ("b", b"1"), ("c", b"1"), ("d", b"1")])
        .unwrap();
    p.set("r", "b1", b"another store").unwrap();
    assert_eq!(p.key_count("s").unwrap(), 4, "applied");
    let unapplied = &p.shared().committer.unapplied;
    unapplied.hold(true);
    assert!(p.delete("s", "a").unwrap());
    p.set("s", "b2", b"2").unwrap();
    p.set("s", "c", b"2").unwrap();
    p.set("s", "e", b"2").unwrap();
    p.set("t", "a", b"another store").unwrap();
    assert_eq!(applied_rows(&p), 5, "the later writes wait for the applier");
    let v = |s: &str| (s.to_string(), b"1".to_vec());
    let w = |s: &str| (s.to_string(), b"2".to_vec());
    let check = |p: &RedbProvider| {
        assert_eq!(p.list_keys("s").unwrap(), ["b", "b2", "c", "d", "e"]);
        assert_eq!(
            pages(p, 2, false),
            [vec![v("b"), w("b2")], vec![w("c"), v("d")], vec![w("e")]]
        );
        assert_eq!(
            pages(p, 2, true),
            [vec![w("e"), v("d")], vec![w("c"), w("b2")], vec![v("b")]]
        );
        assert_eq!(
            pages(p, 10, false),
            [vec![v("b"), w("b2"), w("c"), v("d"), w("e")]]
        );
    };
    check(&p);
    unapplied.hold(false);
    assert_eq!(p.key_count("s").unwrap(), 5);
    assert_eq!(applied_rows(&p), 7);
    check(&p);
}

#[test]
fn an_apply_that_fails_refuses_later_writes_until_a_reopen_replays_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let p = open(&path);
    let a = p.set("s", "a", b"1").unwrap();
    assert_eq!(p.key_count("s").unwrap(), 1);
    let unapplied = &p.shared().committer.unapplied;
    unapplied.hold(true);
    let b = p.set("s", "b", b"2").unwrap();
    unapplied.fail_next(stateplug_provider_api::ProviderError::storage(
        "disk on fire",
    ));
    unapplied.hold(false);
    let err = p.key_count("s").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::STORAGE, "{err}");
    assert!(err.message().contains("disk on fire"), "{err}");
    assert!(err.message().contains("reopen the provider"), "{err}");
    let err = p.set("s", "c", b"3").unwrap_err();
    assert!(err.message().contains("reopen the provider"), "{err}");
    assert_eq!(
        p.get_entry("s", "b").unwrap().map(|e| e.version),
        Some(b),
        "reads go on seeing the acknowledged write"
    );
    assert_eq!(p.list_keys("s").unwrap(), ["a", "b"]);
    drop(p);
    let p = open(&path);
    let got: Vec<_> = p
        .get_many("s", &["a", "b", "c"])
        .unwrap()
        .into_iter()
        .map(|e| e.map(|e| e.version))
        .collect();
    assert_eq!(got, [Some(a), Some(b), None], "the reopen replayed b");
    assert!(p.set("s", "c", b"3").unwrap() > b, "writes go on");
}

/// Writer `t`'s part of round `round` of the test below: writes, reads,
/// scans, settling reads and clears of keys of its own. Returns what it
/// last acknowledged for each of its keys of store `s`.
fn mixed_round(p: &RedbProvider, round: u32, t: u32) -> std::collections::HashMap<String, Vec<u8>> {
    let mut acknowledged = std::collections::HashMap::new();
    for i in 0..200u32 {
        let key = format!("r{round}-t{t}-{}", i % 20);
        let value = i.to_be_bytes().to_vec();
        match (i + t) % 6 {
            0 | 1 => {
                p.set("s", &key, &value).unwrap();
                acknowledged.insert(key, value);
            }
            2 => assert_eq!(p.get("s", &key).unwrap(), acknowledged.get(&key).cloned()),
            3 => {
                let scan = ScanRef {
                    limit: 10,
                    ..Default::default()
                };
                p.scan("s", scan).unwrap();
            }
            4 => {
                let other = format!("r{round}-t{t}-{}", (i + 1) % 20);
                p.set_many("s", &[(&key, &value), (&other, &value)])
                    .unwrap();
                acknowledged.insert(key, value.clone());
                acknowledged.insert(other, value);
            }
            // Settles (waits for the applier), then a transaction that settles too.
            _ => {
                p.key_count("s").unwrap();
                let store = format!("c{t}");
                p.set(&store, "k", b"v").unwrap();
                assert_eq!(p.clear_store(&store).unwrap(), 1);
            }
        }
    }
    acknowledged
}

#[test]
fn concurrent_writes_reads_settles_and_checkpoints_finish_and_survive_a_reopen() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        // A small journal: groups checkpoint on the write path, often.
        let json = format!(
            r#"{{"path": {:?}, "journal_bytes": 65536, "checkpoint_bytes": 8192}}"#,
            path.display().to_string()
        );
        for round in 0..10 {
            let p = RedbProvider::open(&json).unwrap();
            let acknowledged: Vec<_> = std::thread::scope(|scope| {
                let writers: Vec<_> = (0..4)
                    .map(|t| {
                        let p = &p;
                        scope.spawn(move || mixed_round(p, round, t))
                    })
                    .collect();
                writers.into_iter().map(|w| w.join().unwrap()).collect()
            });
            drop(p);
            let p = RedbProvider::open(&json).unwrap();
            for (key, value) in acknowledged.iter().flatten() {
                assert_eq!(p.get("s", key).unwrap().as_ref(), Some(value), "{key}");
            }
        }
        let _ = done.send(());
    });
    // A deadlock shows as a failure here instead of a test run that never ends.
    finished
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the rounds finish within 120 s: no caller waits forever");
}
