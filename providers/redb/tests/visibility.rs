//! A group is committed to redb (in memory) while its journal record is
//! still syncing; readers must see it only once the sync has returned, and
//! never when the sync fails. The journal here is a storage backend whose
//! `sync_data` the test holds until it lets it go, or makes fail.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use redb::backends::InMemoryBackend;
use stateplug_provider_api::Provider;
use stateplug_provider_redb::{open_with_backends, RedbConfig, RedbProvider};

/// A journal in memory whose syncs report to `entered` and wait for a
/// message on `release` (`true`: succeed, `false`: fail).
#[derive(Debug)]
struct HeldJournal {
    data: Mutex<Vec<u8>>,
    /// While false, syncs return at once (the journal's preallocation).
    hold: AtomicBool,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<bool>>,
}

impl redb::StorageBackend for HeldJournal {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.data.lock().unwrap().len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let data = self.data.lock().unwrap();
        let start = offset as usize;
        out.copy_from_slice(&data[start..start + out.len()]);
        Ok(())
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.data.lock().unwrap().resize(len as usize, 0);
        Ok(())
    }

    fn sync_data(&self) -> std::io::Result<()> {
        if !self.hold.load(Ordering::SeqCst) {
            return Ok(());
        }
        let _ = self.entered.lock().unwrap().send(());
        match self.release.lock().unwrap().recv() {
            Ok(true) => Ok(()),
            _ => Err(std::io::Error::other("simulated sync failure")),
        }
    }

    fn write(&self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let mut data = self.data.lock().unwrap();
        let end = offset as usize + bytes.len();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[offset as usize..end].copy_from_slice(bytes);
        Ok(())
    }
}

/// A provider on an in-memory file whose journal syncs are held, with the
/// channels that see and release them.
fn held() -> (Arc<RedbProvider>, mpsc::Receiver<()>, mpsc::Sender<bool>) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let journal = HeldJournal {
        data: Mutex::new(Vec::new()),
        hold: AtomicBool::new(false),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    };
    let journal = Arc::new(journal);
    // No checkpoint comes due: every write here is one journal append and one sync.
    let config =
        RedbConfig::parse(r#"{"path": "visibility.redb", "checkpoint_interval_ms": 3600000}"#)
            .unwrap();
    let p = open_with_backends(
        &config,
        InMemoryBackend::new(),
        SharedJournal(journal.clone()),
    )
    .unwrap();
    // The first write preallocates (and syncs) the journal; hold syncs after it.
    p.set("warm", "up", b"").unwrap();
    journal.hold.store(true, Ordering::SeqCst);
    (Arc::new(p), entered, release)
}

/// The test's handle and the provider share one journal.
#[derive(Debug)]
struct SharedJournal(Arc<HeldJournal>);

impl redb::StorageBackend for SharedJournal {
    fn len(&self) -> std::io::Result<u64> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.0.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
    fn write(&self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.0.write(offset, bytes)
    }
}

#[test]
fn a_read_never_sees_a_write_whose_record_is_still_syncing() {
    const WRITES: u64 = 200;
    let (p, entered, release) = held();
    // The highest write whose sync the test has let go (0: none).
    let released = Arc::new(AtomicU64::new(0));
    // Gets the reader has begun, and whether it is inside one.
    let started = Arc::new(AtomicU64::new(0));
    let in_get = Arc::new(AtomicBool::new(false));
    let writer = {
        let p = Arc::clone(&p);
        std::thread::spawn(move || {
            for i in 1..=WRITES {
                p.set("s", &format!("k{i}"), b"v").unwrap();
            }
        })
    };
    let reader = {
        let (p, released) = (Arc::clone(&p), Arc::clone(&released));
        let (started, in_get) = (Arc::clone(&started), Arc::clone(&in_get));
        std::thread::spawn(move || {
            for i in 1..=WRITES {
                loop {
                    in_get.store(true, Ordering::SeqCst);
                    started.fetch_add(1, Ordering::SeqCst);
                    let found = p.get("s", &format!("k{i}")).unwrap().is_some();
                    in_get.store(false, Ordering::SeqCst);
                    if found {
                        let synced = released.load(Ordering::SeqCst);
                        assert!(
                            synced >= i,
                            "write {i} was read while its sync was held (released up to {synced})"
                        );
                        break;
                    }
                    std::thread::yield_now();
                }
            }
        })
    };
    for i in 1..=WRITES {
        entered.recv().unwrap();
        // Let the reader begin a get while record i's sync is held (or be
        // inside one: it may be waiting for this sync).
        let seen = started.load(Ordering::SeqCst);
        while started.load(Ordering::SeqCst) == seen
            && !in_get.load(Ordering::SeqCst)
            && !reader.is_finished()
        {
            std::thread::yield_now();
        }
        released.store(i, Ordering::SeqCst);
        release.send(true).unwrap();
    }
    writer.join().unwrap();
    reader.join().unwrap();
}

#[test]
fn a_sync_that_fails_after_the_commit_fails_every_later_read() {
    let (p, entered, release) = held();
    let writer = {
        let p = Arc::clone(&p);
        std::thread::spawn(move || p.set("s", "k", b"v"))
    };
    entered.recv().unwrap();
    release.send(false).unwrap();
    let err = writer.join().unwrap().unwrap_err();
    assert!(
        err.message().contains("simulated sync failure"),
        "{}",
        err.message()
    );
    let read = p.get("s", "k");
    let err = read.expect_err("a read after the failed sync");
    assert!(
        err.message().contains("reopen the provider"),
        "{}",
        err.message()
    );
    let write = p
        .set("s", "other", b"v")
        .expect_err("a write after the failed sync");
    assert!(
        write.message().contains("simulated sync failure"),
        "{}",
        write.message()
    );
}
