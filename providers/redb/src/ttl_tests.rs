//! Keys with a time to live on real database files: expiry survives a
//! replay of the journal, and group commits remove expired keys from every
//! table.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use redb::{ReadableDatabase, ReadableTableMetadata};
use stateplug_provider_api::{Clock, OpenContext, Provider, WriteOp};

use crate::schema::{ENTRIES, EXPIRING, STORES};
use crate::{RedbConfig, RedbProvider};

/// Opens `path` on a clock reading `now`, with history, never
/// checkpointing on its own while open.
fn open_at(path: &Path, now: &Arc<AtomicU64>, journal: bool) -> RedbProvider {
    let json = format!(
        r#"{{"path": {:?}, "journal": {journal}, "history_versions": 4,
            "checkpoint_interval_ms": 3600000}}"#,
        path.display().to_string()
    );
    let config = RedbConfig::parse(&json).unwrap();
    let hand = now.clone();
    let clock = Clock::from_fn(move || hand.load(Ordering::SeqCst));
    RedbProvider::open_config_with(&config, &OpenContext::READ_WRITE.with_clock(clock)).unwrap()
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
