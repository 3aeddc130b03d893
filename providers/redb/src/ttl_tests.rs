//! Keys with a time to live on real database files: expiry survives a
//! replay of the journal, group commits remove expired keys from every
//! table, and so does the background sweeper while no writes come.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc,
    },
    time::{Duration, Instant},
};

use redb::{ReadableDatabase, ReadableTableMetadata};
use stateplug_provider_api::{Clock, ErrorKind, OpenContext, Provider, WriteOp};

use crate::committer::SWEEP_PER_GROUP;
use crate::schema::{ENTRIES, EXPIRING, STORES};
use crate::{RedbConfig, RedbProvider};

/// A sweep interval no test waits for: only writes sweep.
const NEVER_MS: u64 = 3_600_000;

/// Opens `path` on a clock reading `now`, with history, never
/// checkpointing on its own while open, and a background sweeper that
/// never wakes while a test runs.
fn open_at(path: &Path, now: &Arc<AtomicU64>, journal: bool) -> RedbProvider {
    open_sweeping(path, now, journal, NEVER_MS, &OpenContext::READ_WRITE)
}

/// [`open_at`] with the background sweeper looking every `sweep_ms`,
/// opened as `context` says (its clock replaced by one reading `now`).
fn open_sweeping(
    path: &Path,
    now: &Arc<AtomicU64>,
    journal: bool,
    sweep_ms: u64,
    context: &OpenContext,
) -> RedbProvider {
    let json = format!(
        r#"{{"path": {:?}, "journal": {journal}, "history_versions": 4,
            "checkpoint_interval_ms": 3600000, "sweep_interval_ms": {sweep_ms}}}"#,
        path.display().to_string()
    );
    let config = RedbConfig::parse(&json).unwrap();
    let hand = now.clone();
    let clock = Clock::from_fn(move || hand.load(Ordering::SeqCst));
    RedbProvider::open_config_with(&config, &context.clone().with_clock(clock)).unwrap()
}

/// Waits up to a few seconds for `done`, looking every few milliseconds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn write(p: &RedbProvider, store_id: &str, ops: &[WriteOp<'_>]) -> u64 {
    p.write(store_id, ops, &mut |_| {}).unwrap()
}

/// How many rows `ENTRIES`, `EXPIRING` and `STORES[store_id]` hold.
fn rows(p: &RedbProvider, store_id: &str) -> (u64, u64, u64) {
    let txn = p.database().begin_read().unwrap();
    let entries = txn.open_table(ENTRIES).unwrap().len().unwrap();
    let expiring = txn.open_table(EXPIRING).unwrap().len().unwrap();
    let count = txn
        .open_table(STORES)
        .unwrap()
        .get(store_id)
        .unwrap()
        .map_or(0, |g| g.value());
    (entries, expiring, count)
}

#[test]
fn group_commits_remove_expired_keys_at_a_revision_of_their_own() {
    for journal in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicU64::new(1_000));
        let p = open_at(&dir.path().join("state.redb"), &now, journal);
        let put = write(
            &p,
            "s",
            &[
                WriteOp::put_expiring("a", b"1", 2_000),
                WriteOp::put("b", b"1"),
            ],
        );
        write(&p, "t", &[WriteOp::put_expiring("x", b"1", 2_000)]);
        assert_eq!(rows(&p, "s"), (3, 2, 2));
        now.store(2_000, Ordering::SeqCst);
        assert_eq!(p.key_count("s").unwrap(), 1, "journal {journal}");
        assert_eq!(p.list_stores().unwrap(), ["s"]);
        assert_eq!(rows(&p, "s"), (3, 2, 2), "reads remove nothing");
        let next = write(&p, "u", &[WriteOp::put("k", b"")]);
        assert_eq!(rows(&p, "s"), (2, 0, 1), "the commit swept both stores");
        assert_eq!(rows(&p, "t").2, 0);
        let history = p.history("s", "a", 10).unwrap();
        assert_eq!(history.len(), 2, "the put and its removal");
        assert!(history[0].value.is_none() && history[0].version > next);
        assert_eq!(history[1].version, put);
    }
}

#[test]
fn an_expiring_put_replayed_from_the_journal_keeps_its_expiry() {
    let live = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let (file, journal) = ("state.redb", "state.redb.journal");
    let now = Arc::new(AtomicU64::new(1_000));
    drop(open_at(&live.path().join(file), &now, true));
    // The file as checkpointed, then the journal of later writes: an open
    // of the two replays those writes.
    std::fs::copy(live.path().join(file), copy.path().join(file)).unwrap();
    let p = open_at(&live.path().join(file), &now, true);
    write(&p, "s", &[WriteOp::put_expiring("a", b"1", 2_000)]);
    write(&p, "s", &[WriteOp::put_expiring("b", b"1", 2_000)]);
    write(&p, "s", &[WriteOp::put("b", b"2")]);
    assert!(p.journal_appends() >= 3);
    std::fs::copy(live.path().join(journal), copy.path().join(journal)).unwrap();
    drop(p);
    let replayed = open_at(&copy.path().join(file), &now, true);
    assert_eq!(replayed.list_keys("s").unwrap(), ["a", "b"]);
    assert_eq!(rows(&replayed, "s"), (2, 1, 2), "only a expires");
    now.store(2_000, Ordering::SeqCst);
    assert_eq!(replayed.list_keys("s").unwrap(), ["b"]);
}

/// Puts `s/a` and `s/b` expiring at 2,000, `s/c` expiring at 10,000, `s/d`
/// without expiry and 150 keys of `bulk` expiring at 1,500; returns the
/// last revision.
fn put_expiring_keys(p: &RedbProvider) -> u64 {
    write(
        p,
        "s",
        &[
            WriteOp::put_expiring("a", b"1", 2_000),
            WriteOp::put_expiring("b", b"1", 2_000),
            WriteOp::put_expiring("c", b"1", 10_000),
            WriteOp::put("d", b"1"),
        ],
    );
    let keys: Vec<String> = (0..150).map(|i| format!("k{i:03}")).collect();
    let ops: Vec<WriteOp<'_>> = keys
        .iter()
        .map(|k| WriteOp::put_expiring(k, b"1", 1_500))
        .collect();
    write(p, "bulk", &ops)
}

#[test]
fn the_background_sweeper_removes_expired_keys_while_no_writes_come() {
    for journal in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let now = Arc::new(AtomicU64::new(1_000));
        let p = open_sweeping(&path, &now, journal, 5, &OpenContext::READ_WRITE);
        let put = put_expiring_keys(&p);
        assert_eq!(rows(&p, "s"), (154, 153, 4));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(rows(&p, "s"), (154, 153, 4), "nothing is due yet");
        let commits = p.commits();
        now.store(2_000, Ordering::SeqCst);
        eventually("the sweeper removed every expired key", || {
            rows(&p, "s") == (2, 1, 2)
        });
        assert_eq!(rows(&p, "bulk").2, 0, "journal {journal}");
        assert!(
            p.commits() >= commits + 150_u64.div_ceil(SWEEP_PER_GROUP as u64),
            "groups of at most {SWEEP_PER_GROUP} keys"
        );
        assert_eq!(p.list_keys("s").unwrap(), ["c", "d"]);
        let removed = p.history("s", "a", 10).unwrap();
        assert!(removed[0].value.is_none() && removed[0].version > put);
        // The removals were committed: a reopen shows them, and numbering
        // goes on past them.
        drop(p);
        let p = open_at(&path, &now, journal);
        assert_eq!(rows(&p, "s"), (2, 1, 2), "journal {journal}");
        assert_eq!(rows(&p, "bulk").2, 0);
        let next = write(&p, "s", &[WriteOp::put("e", b"1")]);
        assert!(
            next > removed[0].version,
            "{next} after {}",
            removed[0].version
        );
    }
}

#[test]
fn background_removals_are_journaled_and_replayed() {
    let live = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let (file, journal) = ("state.redb", "state.redb.journal");
    let now = Arc::new(AtomicU64::new(1_000));
    drop(open_at(&live.path().join(file), &now, true));
    // The file as checkpointed, then the journal of the later puts and of
    // the sweeper's removals: an open of the two replays both.
    std::fs::copy(live.path().join(file), copy.path().join(file)).unwrap();
    let p = open_sweeping(
        &live.path().join(file),
        &now,
        true,
        5,
        &OpenContext::READ_WRITE,
    );
    put_expiring_keys(&p);
    let appends = p.journal_appends();
    now.store(2_000, Ordering::SeqCst);
    eventually("the sweeper removed every expired key", || {
        rows(&p, "s") == (2, 1, 2)
    });
    assert!(p.journal_appends() > appends, "the removals were journaled");
    std::fs::copy(live.path().join(journal), copy.path().join(journal)).unwrap();
    drop(p);
    let replayed = open_at(&copy.path().join(file), &now, true);
    assert_eq!(rows(&replayed, "s"), (2, 1, 2));
    assert_eq!(replayed.history("s", "a", 10).unwrap().len(), 2);
}

#[test]
fn dropping_the_provider_ends_the_sweeper_and_releases_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let now = Arc::new(AtomicU64::new(1_000));
    // An interval far longer than the test: the drop must not wait for it.
    let p = open_at(&path, &now, true);
    write(&p, "s", &[WriteOp::put_expiring("a", b"1", 2_000)]);
    let alive = p
        .sweeper()
        .alive()
        .expect("an expiring put starts the sweeper");
    assert!(alive.upgrade().is_some(), "the sweeper runs");
    let (dropped, done) = mpsc::channel();
    std::thread::spawn(move || {
        drop(p);
        let _ = dropped.send(());
    });
    done.recv_timeout(Duration::from_secs(10))
        .expect("dropping the provider waits for no sweep interval");
    assert!(alive.upgrade().is_none(), "the sweeper thread ended");
    // The file is released at once: it opens again, and its sweeper (the
    // file holds an expiring key) removes the key once due.
    let p = open_sweeping(&path, &now, true, 5, &OpenContext::READ_WRITE);
    assert!(p.sweeper().running(), "started at open: EXPIRING has a row");
    now.store(2_000, Ordering::SeqCst);
    eventually("the reopened sweeper removed a", || {
        rows(&p, "s") == (0, 0, 0)
    });
}

#[test]
fn only_read_write_providers_holding_expiring_keys_run_a_sweeper() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let now = Arc::new(AtomicU64::new(1_000));
    let p = open_sweeping(&path, &now, true, 5, &OpenContext::READ_WRITE);
    write(&p, "s", &[WriteOp::put("a", b"1")]);
    assert!(p.sweeper().alive().is_none(), "no expiry, no thread");
    write(&p, "s", &[WriteOp::put_expiring("b", b"1", 2_000)]);
    assert!(p.sweeper().running());
    drop(p);
    let p = open_sweeping(&path, &now, true, 5, &OpenContext::READ_ONLY);
    assert!(
        p.sweeper().alive().is_none(),
        "a read-only open sweeps nothing"
    );
    now.store(2_000, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(rows(&p, "s"), (2, 1, 2), "the expired key stays");
    assert_eq!(p.list_keys("s").unwrap(), ["a"]);
}

#[test]
fn a_sweep_group_is_bounded_and_an_empty_one_commits_nothing() {
    for journal in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicU64::new(1_000));
        let p = open_at(&dir.path().join("state.redb"), &now, journal);
        let last = put_expiring_keys(&p);
        let sweep = || {
            let shared = p.shared();
            shared.committer.sweep(&shared.db, &shared.path).unwrap()
        };
        let (commits, appends) = (p.commits(), p.journal_appends());
        assert_eq!(sweep(), Some(0), "nothing is due");
        assert_eq!(p.commits(), commits, "an empty group commits nothing");
        assert_eq!(p.journal_appends(), appends, "and journals nothing");
        let next = write(&p, "t", &[WriteOp::put("x", b"1")]);
        assert_eq!(
            next,
            last + 1,
            "and consumes no revision (journal {journal})"
        );
        now.store(2_000, Ordering::SeqCst);
        let commits = p.commits();
        let removed: Vec<_> = std::iter::repeat_with(sweep).take(4).collect();
        assert_eq!(removed, [Some(64), Some(64), Some(24), Some(0)]);
        assert_eq!(
            p.commits(),
            commits + 3,
            "one commit per group that removed keys"
        );
        if journal {
            assert_eq!(p.journal_appends(), appends + 4);
        }
        assert_eq!(rows(&p, "s"), (3, 1, 2), "c and d of s, x of t");
        // The groups took revisions of their own, after every write's.
        let swept = p.history("s", "a", 10).unwrap()[0].version;
        assert!(swept > next);
        assert!(write(&p, "t", &[WriteOp::put("y", b"1")]) > swept);
    }
}

#[test]
fn a_zero_sweep_interval_is_refused_naming_the_setting() {
    let err = RedbConfig::parse(r#"{"path": "x.redb", "sweep_interval_ms": 0}"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT);
    assert!(err.message().contains("`sweep_interval_ms`"), "{err}");
    let err = RedbProvider::open(r#"{"path": "x.redb", "sweep_interval_ms": 0}"#)
        .err()
        .expect("refused");
    assert!(err.message().contains("`sweep_interval_ms`"), "{err}");
}

#[test]
fn writers_and_the_sweeper_interleave_with_distinct_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(1_000));
    let p = open_sweeping(
        &dir.path().join("state.redb"),
        &now,
        true,
        1,
        &OpenContext::READ_WRITE,
    );
    let keys: Vec<String> = (0..500).map(|i| format!("k{i:03}")).collect();
    let ops: Vec<WriteOp<'_>> = keys
        .iter()
        .map(|k| WriteOp::put_expiring(k, b"1", 1_500))
        .collect();
    write(&p, "bulk", &ops);
    now.store(2_000, Ordering::SeqCst);
    let revisions: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let p = &p;
                scope.spawn(move || {
                    let store = format!("w{t}");
                    (0..50)
                        .map(|i| write(p, &store, &[WriteOp::put(&format!("{i}"), b"1")]))
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut all: Vec<u64> = revisions.concat();
    for mine in &revisions {
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 200, "every write got a revision of its own");
    eventually("every expired key is removed", || rows(&p, "bulk").2 == 0);
    for t in 0..4 {
        assert_eq!(p.key_count(&format!("w{t}")).unwrap(), 50);
    }
    let (entries, expiring, _) = rows(&p, "bulk");
    assert_eq!((entries, expiring), (200, 0));
}

#[test]
fn a_put_with_a_time_to_live_that_waits_in_a_group_keeps_its_value_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(1_000));
    let p = open_at(&dir.path().join("state.redb"), &now, true);
    let answers: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..8)
            .map(|t| {
                let p = &p;
                scope.spawn(move || {
                    (0..40)
                        .map(|i| {
                            let key = format!("t{t}-{i}");
                            write(p, "ttl", &[WriteOp::put_expiring(&key, b"v", 60_000)])
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(
        p.commits() < 8 * 40,
        "the writers never shared a group, so no write waited in one"
    );
    assert!(
        answers.concat().iter().all(|&revision| revision > 0),
        "every put was acknowledged with a revision"
    );
    for t in 0..8 {
        for i in 0..40 {
            let key = format!("t{t}-{i}");
            assert_eq!(p.get("ttl", &key).unwrap(), Some(b"v".to_vec()), "{key}");
            assert_eq!(p.expiries("ttl", &[&key]).unwrap(), [Some(60_000)], "{key}");
        }
    }
    now.store(60_000, Ordering::SeqCst);
    assert_eq!(p.key_count("ttl").unwrap(), 0, "every key expired on time");
}
