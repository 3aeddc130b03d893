//! A thread that writes and syncs journal records, so the group-commit
//! leader can commit the group's redb transaction (in memory, without
//! durability) while the record's `fdatasync` runs, instead of after it.
//!
//! Invariants:
//! - at most one record is in flight: [`SyncThread::start`] is called only
//!   by the leader, and always followed by [`SyncThread::finish`] before
//!   the next `start`;
//! - `finish` returns only once the thread has returned from the record's
//!   write and sync, with their result, and hands the frame back for reuse;
//! - the thread does nothing else (no allocation, no locks but its slot's),
//!   and exits when the `SyncThread` is dropped.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// What the storage a journal lives on must offer the thread.
pub(crate) type SharedStorage = Arc<dyn redb::StorageBackend>;

enum Slot {
    Idle,
    /// A record to write at the offset, then sync.
    Job(SharedStorage, u64, Vec<u8>),
    /// The thread is writing and syncing the record.
    Busy,
    /// The write and sync returned; the frame comes back.
    Done(io::Result<()>, Vec<u8>),
    Exit,
}

struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // The thread and the leader never panic while holding the slot.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The journal's syncing thread.
pub(crate) struct SyncThread {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl SyncThread {
    /// Starts the thread; `None` if the system cannot start one (the
    /// journal then writes and syncs on the leader's thread).
    pub(crate) fn spawn() -> Option<Self> {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::Idle),
            wake: Condvar::new(),
        });
        let theirs = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("redb-journal-sync".into())
            .spawn(move || run(&theirs))
            .ok()?;
        Some(SyncThread {
            shared,
            handle: Some(handle),
        })
    }

    /// Hands `frame` to the thread, to be written at `offset` of `storage` and synced.
    pub(crate) fn start(&self, storage: SharedStorage, offset: u64, frame: Vec<u8>) {
        *self.shared.lock() = Slot::Job(storage, offset, frame);
        self.shared.wake.notify_all();
    }

    /// Waits for the record handed to [`SyncThread::start`]: the result of
    /// its write and sync, and the frame.
    pub(crate) fn finish(&self) -> (io::Result<()>, Vec<u8>) {
        let mut slot = self.shared.lock();
        loop {
            match std::mem::replace(&mut *slot, Slot::Idle) {
                Slot::Done(result, frame) => return (result, frame),
                Slot::Idle => {
                    return (
                        Err(io::Error::other("the journal sync thread lost a record")),
                        Vec::new(),
                    )
                }
                waiting => {
                    *slot = waiting;
                    slot = self
                        .shared
                        .wake
                        .wait(slot)
                        .unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }
}

impl Drop for SyncThread {
    fn drop(&mut self) {
        *self.shared.lock() = Slot::Exit;
        self.shared.wake.notify_all();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn run(shared: &Shared) {
    let mut slot = shared.lock();
    loop {
        match std::mem::replace(&mut *slot, Slot::Busy) {
            Slot::Exit => return,
            Slot::Job(storage, offset, frame) => {
                drop(slot);
                let result = storage
                    .write(offset, &frame)
                    .and_then(|()| storage.sync_data());
                drop(storage);
                slot = shared.lock();
                if matches!(*slot, Slot::Exit) {
                    return;
                }
                *slot = Slot::Done(result, frame);
                shared.wake.notify_all();
            }
            other => {
                *slot = other;
                slot = shared.wake.wait(slot).unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}
