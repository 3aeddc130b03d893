//! The write-ahead journal beside the database file: an acknowledged group
//! of writes is one append of one checksummed, length-prefixed record and
//! one `fdatasync`; the redb file catches up through non-durable commits
//! that a periodic durable commit (the checkpoint) makes permanent, after
//! which the journal is written again from its start.
//!
//! Record framing, integers little-endian:
//! `payload_len:u32 crc:u32 seq:u64 journal_id:u64 payload`, where `crc`
//! is the CRC-32C of everything after it (seq, id, payload) and of
//! `payload_len`. Invariants:
//! - `seq` grows by one per record over the life of the database and is
//!   never reused; the checkpoint stores the last `seq` it covers in the
//!   redb file (`META[JOURNAL_SEQ]`), in the same durable commit;
//! - the valid prefix of the journal is the run of records from offset 0
//!   whose length fits the file, whose checksum and `journal_id` match, and
//!   whose `seq` each follow the one before by one; a torn, corrupt or stale
//!   record ends it, since every stale record left from before a checkpoint
//!   has a `seq` at most the checkpoint's;
//! - replay applies the records of the valid prefix with `seq` greater than
//!   `META[JOURNAL_SEQ]`, so replaying twice (a crash during replay) changes
//!   nothing more than replaying once;
//! - the file is preallocated (written with zeros) in steps of
//!   [`PREALLOCATE_STEP`] up to its capacity, so an append overwrites
//!   allocated blocks and its `fdatasync` flushes data alone.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stateplug_provider_api::{ProviderError, ProviderResult};

use crate::crc::crc32c;
use crate::polled_sync::PolledSync;

/// Bytes before a record's payload.
pub(crate) const HEADER: u64 = 24;

/// How much of the file is preallocated at a time.
pub(crate) const PREALLOCATE_STEP: u64 = 1 << 20;

/// The size of each write of zeros that preallocates: one page.
const ZERO_WRITE: u64 = 4096;

/// When the journal is checkpointed and how big it may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JournalLimits {
    /// The journal file's size; a record never crosses it.
    pub(crate) capacity: u64,
    /// Checkpoint once this many bytes are journaled since the last one.
    pub(crate) checkpoint_bytes: u64,
    /// Checkpoint at the first write this long after the last one.
    pub(crate) checkpoint_interval: Duration,
}

/// The journal file's own storage: a plain file, or a simulated disk in tests.
pub(crate) type Storage = Box<dyn redb::StorageBackend>;

/// The journal of one open database. Only the group-commit leader uses it.
pub(crate) struct Journal {
    storage: Storage,
    /// The file, for messages.
    path: PathBuf,
    limits: JournalLimits,
    /// Ties records to their database: a journal left beside another
    /// database file replays nothing into this one.
    id: u64,
    /// Bytes of the file written at least once (preallocated).
    allocated: u64,
    /// Where the next record goes; 0 right after a checkpoint.
    offset: u64,
    /// The `seq` of the last record appended, or the last checkpoint's.
    last_seq: u64,
    /// When the last checkpoint ended.
    checkpointed_at: Instant,
    /// The frame of the record being appended, reused between appends.
    frame: Vec<u8>,
    /// Records appended since the file was opened (for tests and figures).
    appends: u64,
}

/// A record of the valid prefix, still to be applied.
pub(crate) struct Pending {
    pub(crate) seq: u64,
    pub(crate) payload: Vec<u8>,
}

impl Journal {
    /// The journal on `storage`, for the database whose journal id is `id`
    /// and whose last checkpoint covers `checkpointed` records.
    pub(crate) fn new(
        storage: Storage,
        path: PathBuf,
        limits: JournalLimits,
        id: u64,
        checkpointed: u64,
    ) -> ProviderResult<Self> {
        let allocated = storage.len().map_err(|e| io_error(&path, "size", &e))?;
        Ok(Journal {
            storage,
            path,
            limits,
            id,
            allocated,
            offset: 0,
            last_seq: checkpointed,
            checkpointed_at: Instant::now(),
            frame: Vec::new(),
            appends: 0,
        })
    }

    /// The records of the valid prefix with `seq` above the last checkpoint,
    /// in order. Reads the whole file: at most its capacity is held.
    pub(crate) fn pending(&self) -> ProviderResult<Vec<Pending>> {
        let len = usize::try_from(self.allocated).unwrap_or(usize::MAX);
        let mut data = vec![0u8; len];
        self.storage
            .read(0, &mut data)
            .map_err(|e| io_error(&self.path, "read", &e))?;
        Ok(valid_prefix(&data, self.id)
            .into_iter()
            .filter(|(seq, _)| *seq > self.last_seq)
            .map(|(seq, payload)| Pending {
                seq,
                payload: payload.to_vec(),
            })
            .collect())
    }

    /// The `seq` the next checkpoint records: the last record appended.
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Whether the next group, whose payload is `payload_len` bytes, must be
    /// a checkpoint (a durable redb commit) rather than a journal append:
    /// the journal is full, or holds `checkpoint_bytes`, or the interval
    /// has passed since the last checkpoint with something journaled.
    pub(crate) fn checkpoint_due(&self, payload_len: usize) -> bool {
        let end = self.offset + HEADER + payload_len as u64;
        end > self.limits.capacity
            || self.offset >= self.limits.checkpoint_bytes
            || (self.offset > 0
                && self.checkpointed_at.elapsed() >= self.limits.checkpoint_interval)
    }

    /// Whether anything is journaled since the last checkpoint.
    pub(crate) fn dirty(&self) -> bool {
        self.offset > 0
    }

    /// Makes room for a record of `payload_len` bytes, preallocating the
    /// file further if needed. A failure (a full disk) writes nothing that
    /// replay could read: the caller fails the group and may retry.
    pub(crate) fn reserve(&mut self, payload_len: usize) -> ProviderResult<()> {
        let end = self.offset + HEADER + payload_len as u64;
        if end > self.allocated {
            self.preallocate(end)?;
        }
        Ok(())
    }

    /// Appends one record holding `payload` and syncs it; the records it
    /// holds are durable when this returns `Ok`. The caller has checked
    /// [`Journal::checkpoint_due`] (so the record fits) and called
    /// [`Journal::reserve`]. After an error the record may or may not be
    /// on disk.
    pub(crate) fn append(&mut self, payload: &[u8]) -> ProviderResult<()> {
        let seq = self.last_seq + 1;
        frame(&mut self.frame, seq, self.id, payload);
        let end = self.offset + self.frame.len() as u64;
        if end > self.allocated {
            self.preallocate(end)?;
        }
        self.storage
            .write(self.offset, &self.frame)
            .and_then(|()| self.storage.sync_data())
            .map_err(|e| io_error(&self.path, "append to", &e))?;
        self.offset = end;
        self.last_seq = seq;
        self.appends += 1;
        Ok(())
    }

    /// Called once a durable redb commit records `META[JOURNAL_SEQ]` =
    /// [`Journal::last_seq`]: the journal is written again from its start.
    pub(crate) fn checkpointed(&mut self) {
        self.offset = 0;
        self.checkpointed_at = Instant::now();
    }

    /// Called once replay has durably applied every record up to `seq`.
    pub(crate) fn replayed(&mut self, seq: u64) {
        self.last_seq = seq;
        self.checkpointed();
    }

    /// Records appended since the file was opened.
    pub(crate) fn appends(&self) -> u64 {
        self.appends
    }

    /// Writes zeros up to at least `end` (a step at a time, never past the
    /// capacity unless one record needs it) and syncs them, so later
    /// appends there change no file metadata.
    ///
    /// The zeros go in writes of [`ZERO_WRITE`] bytes, not one write of the
    /// whole step: the kernel sizes a file's page-cache folios by the write
    /// that creates them, so one 1 MiB write leaves large folios, and each
    /// later small record then dirties, and its `fdatasync` writes back, a
    /// whole large folio. Measured on this project's ext4 test disk, a
    /// 163-byte record + `fdatasync`, taking turns write by write: 139 µs
    /// after one 1 MiB zero write, 120 µs after 4 KiB ones (appending to a
    /// growing file, which also syncs its size: 167 µs).
    fn preallocate(&mut self, end: u64) -> ProviderResult<()> {
        let target = (self.allocated + PREALLOCATE_STEP)
            .min(self.limits.capacity)
            .max(end);
        let zeros = [0u8; ZERO_WRITE as usize];
        let mut at = self.allocated;
        while at < target {
            let n = (target - at).min(ZERO_WRITE) as usize;
            self.storage
                .write(at, &zeros[..n])
                .map_err(|e| io_error(&self.path, "preallocate", &e))?;
            at += n as u64;
        }
        self.storage
            .sync_data()
            .map_err(|e| io_error(&self.path, "preallocate", &e))?;
        self.allocated = target;
        Ok(())
    }
}

/// Frames `payload` as record `seq` of journal `id` into `out`.
pub(crate) fn frame(out: &mut Vec<u8>, seq: u64, id: u64, payload: &[u8]) {
    // A group's payload is bounded by the provider's batch limits, far below 4 GiB.
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32c(&[&len, &seq.to_le_bytes(), &id.to_le_bytes(), payload]);
    out.clear();
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The valid prefix of journal `data` for journal `id`: `(seq, payload)`
/// of each record, in order (see the module invariants).
pub(crate) fn valid_prefix(data: &[u8], id: u64) -> Vec<(u64, &[u8])> {
    let mut records = Vec::new();
    let mut rest = data;
    let mut previous: Option<u64> = None;
    while let Some((header, tail)) = rest.split_first_chunk::<24>() {
        let field = |at: usize| u64::from_le_bytes(header_u64(header, at));
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let (seq, record_id) = (field(8), field(16));
        let Some(payload) = tail.get(..len as usize) else {
            break;
        };
        let expected = crc32c(&[&header[..4], &header[8..], payload]);
        if crc != expected
            || record_id != id
            || previous.is_some_and(|p| p.checked_add(1) != Some(seq))
        {
            break;
        }
        records.push((seq, payload));
        previous = Some(seq);
        rest = &tail[len as usize..];
    }
    records
}

fn header_u64(header: &[u8; 24], at: usize) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&header[at..at + 8]);
    out
}

fn io_error(path: &Path, what: &str, err: &io::Error) -> ProviderError {
    let full = err.raw_os_error() == Some(28) || err.kind() == io::ErrorKind::StorageFull;
    if full {
        return ProviderError::storage(format!(
            "redb database file journal {}: no space left on device (ENOSPC) to {what} it; free \
             disk space, then retry ({err})",
            path.display()
        ));
    }
    ProviderError::storage(format!(
        "redb database file journal {}: cannot {what} it: {err}; acknowledged writes stay safe \
         in it: fix the disk and reopen the provider",
        path.display()
    ))
}

/// The journal file beside the database file `db`: `<db>.journal`.
pub(crate) fn journal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// The journal file as a storage backend: positioned reads and writes on
/// one open file, synced with `fdatasync` after polling for the write (see
/// [`crate::polled_sync`]).
#[derive(Debug)]
pub(crate) struct JournalFile {
    file: File,
    sync: PolledSync,
}

impl JournalFile {
    /// Opens `path`, creating it (and syncing its folder, so the new name
    /// survives a power cut) if missing.
    pub(crate) fn open(path: &Path) -> ProviderResult<Self> {
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io_error(path, "open", &e))?;
        if created {
            let folder = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            File::open(folder)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_error(path, "create", &e))?;
        }
        Ok(JournalFile {
            file,
            sync: PolledSync::default(),
        })
    }
}

impl redb::StorageBackend for JournalFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(out, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync.sync(&self.file)
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, offset)?;
        self.sync.wrote(offset, data.len() as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal_of(records: &[(u64, &[u8])], id: u64) -> Vec<u8> {
        let mut data = Vec::new();
        let mut f = Vec::new();
        for (seq, payload) in records {
            frame(&mut f, *seq, id, payload);
            data.extend_from_slice(&f);
        }
        data
    }

    #[test]
    fn the_valid_prefix_is_every_whole_record_in_sequence() {
        let data = journal_of(&[(5, b"a"), (6, b"bb"), (7, b"")], 9);
        let got = valid_prefix(&data, 9);
        assert_eq!(got, [(5, &b"a"[..]), (6, b"bb"), (7, b"")]);
        let mut padded = data.clone();
        padded.extend_from_slice(&[0; 100]);
        assert_eq!(valid_prefix(&padded, 9).len(), 3, "zeros end the prefix");
        assert!(
            valid_prefix(&data, 8).is_empty(),
            "another database's journal"
        );
    }

    #[test]
    fn a_torn_tail_is_dropped_at_every_cut() {
        let data = journal_of(&[(1, b"first"), (2, b"second record")], 1);
        let first_len = (HEADER + 5) as usize;
        for cut in 0..data.len() {
            let want = usize::from(cut >= first_len);
            assert_eq!(valid_prefix(&data[..cut], 1).len(), want, "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_in_the_last_record_drops_only_it() {
        let data = journal_of(&[(1, b"first"), (2, b"second record")], 1);
        let first_len = (HEADER + 5) as usize;
        for at in first_len..data.len() {
            for bit in 0..8 {
                let mut bad = data.clone();
                bad[at] ^= 1 << bit;
                let got = valid_prefix(&bad, 1);
                assert_eq!(got, [(1, &b"first"[..])], "byte {at} bit {bit}");
            }
        }
    }

    #[test]
    fn stale_records_after_a_checkpoint_end_the_prefix() {
        // Records 1..=3, checkpoint, then record 4 written over the start.
        let old = journal_of(&[(1, b"one"), (2, b"two"), (3, b"three")], 1);
        let new = journal_of(&[(4, b"for")], 1);
        let mut data = old.clone();
        data[..new.len()].copy_from_slice(&new);
        assert_eq!(valid_prefix(&data, 1), [(4, &b"for"[..])]);
    }
}
