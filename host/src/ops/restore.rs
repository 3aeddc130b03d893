//! Checking a dump and restoring it.
//!
//! [`restore_file`] reads the file twice: the first pass checks everything
//! (header, every line, order, sizes against the target's limits, counts
//! and the trailer's checksum) and writes nothing; only a file that passes
//! is read again and written, in `set_many` batches. Memory holds one line
//! and one batch, so dumps larger than memory restore. Keys are written
//! with the expiry the dump gives them (the target must declare `TTL` if
//! any has one; a restore that would drop an expiry is refused). Read a dump from a
//! stream by [spooling](spool) it to a temporary file first.

use std::{
    fs::File,
    io::{BufRead, BufReader, Read},
    path::Path,
    sync::Arc,
};

use base64::Engine;
use sha2::{Digest, Sha256};
use stateplug_provider_api::Limits;

use crate::store::{is_reserved_store_id, StateStore, RESERVED_STORE_ID_REASON};

use super::{
    dump::{base64, DumpEntry, DumpHeader, DumpTrailer},
    expiring::{put_expiring, ExpiringPut},
    hash::hex,
    locks::after_release,
    LockRequest, LockSet, Monitor, OpsError, DUMP_FORMAT, DUMP_VERSIONS_READ,
};
use crate::store::CapabilityFlags;

/// The longest line read (a 16 MiB value is about 22 MiB of base64).
const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;
/// Most value bytes in one `set_many`.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// A dump that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDump {
    /// Its header.
    pub header: DumpHeader,
    /// Each store with its entry count, in file order.
    pub stores: Vec<(String, u64)>,
    /// Entry lines.
    pub entries: u64,
    /// The checksum, as the trailer states and the content confirms.
    pub sha256: String,
    /// Entries with an expiry.
    pub expiring: u64,
}

/// Reads a dump line by line, checking each against everything before it.
struct DumpReader<R> {
    reader: R,
    limits: Option<Limits>,
    line: u64,
    buf: Vec<u8>,
    hasher: Sha256,
    header: Option<DumpHeader>,
    /// Index in the header's stores of the store being read.
    current: usize,
    last_key: Option<String>,
    counts: Vec<u64>,
    entries: u64,
    expiring: u64,
}

/// What the reader found next.
enum Item {
    Entry {
        /// Index of the store in the header.
        store: usize,
        key: String,
        value: Vec<u8>,
        expires_at_ms: Option<u64>,
    },
    End(VerifiedDump),
}

impl<R: BufRead> DumpReader<R> {
    fn new(reader: R, limits: Option<Limits>) -> Self {
        DumpReader {
            reader,
            limits,
            line: 0,
            buf: Vec::new(),
            hasher: Sha256::new(),
            header: None,
            current: 0,
            last_key: None,
            counts: Vec::new(),
            entries: 0,
            expiring: 0,
        }
    }

    fn damaged(&self, problem: impl Into<String>) -> OpsError {
        OpsError::Damaged {
            line: self.line.max(1),
            problem: problem.into(),
        }
    }

    /// Reads the next line into `buf`; `false` at the end of the file.
    fn read_line(&mut self) -> Result<bool, OpsError> {
        self.buf.clear();
        let read = (&mut self.reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| OpsError::io("cannot read the dump", e))?;
        if read == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buf.len() as u64 > MAX_LINE_BYTES {
            return Err(self.damaged(format!(
                "the line is longer than {MAX_LINE_BYTES} bytes; this is not a stateplug dump"
            )));
        }
        Ok(true)
    }

    /// Reads and checks the header.
    fn header(&mut self) -> Result<&DumpHeader, OpsError> {
        if !self.read_line()? {
            return Err(self.damaged("the file is empty; a dump starts with its header line"));
        }
        let header: DumpHeader = serde_json::from_slice(&self.buf).map_err(|e| {
            self.damaged(format!(
                "not a stateplug dump header ({e}); expected {{\"format\":\"{DUMP_FORMAT}\",…}}"
            ))
        })?;
        if header.format != DUMP_FORMAT {
            return Err(self.damaged(format!(
                "format is {:?}, not {DUMP_FORMAT:?}; this is not a stateplug dump",
                header.format
            )));
        }
        if !DUMP_VERSIONS_READ.contains(&header.version) {
            return Err(self.damaged(format!(
                "dump format version {} is not supported; this stateplug reads versions \
                 {DUMP_VERSIONS_READ:?}; restore it with the stateplug that wrote it",
                header.version
            )));
        }
        if !self.buf.ends_with(b"\n") {
            return Err(self.damaged("the file ends inside the header: it is truncated"));
        }
        for (i, s) in header.stores.iter().enumerate() {
            if is_reserved_store_id(s) {
                return Err(self.damaged(format!(
                    "the header lists store {s:?}: {RESERVED_STORE_ID_REASON}"
                )));
            }
            if s.is_empty() || header.stores[..i].contains(s) {
                return Err(self.damaged(format!(
                    "the header lists store {s:?}, which is empty or repeated"
                )));
            }
            if let Some(limits) = &self.limits {
                limits.check_store_id(s).map_err(|e| {
                    self.damaged(format!(
                        "store {s:?} does not fit the target: {}",
                        e.message()
                    ))
                })?;
            }
        }
        self.hasher.update(&self.buf);
        self.counts = vec![0; header.stores.len()];
        Ok(self.header.insert(header))
    }

    /// The next entry, or the end of a dump whose every check passed.
    fn next(&mut self) -> Result<Item, OpsError> {
        if !self.read_line()? {
            return Err(self.damaged(format!(
                "the file ends after line {} without its trailer line: it is truncated",
                self.line
            )));
        }
        let complete = self.buf.ends_with(b"\n");
        match serde_json::from_slice::<DumpEntry>(&self.buf) {
            Ok(entry) if complete => self.entry(entry),
            Ok(_) => Err(self.damaged("the last line is cut short: the file is truncated")),
            Err(entry_error) => match serde_json::from_slice::<DumpTrailer>(&self.buf) {
                Ok(trailer) => self.trailer(trailer),
                Err(trailer_error) => {
                    let problem = if !complete {
                        "the last line is cut short: the file is truncated".to_string()
                    } else if self.buf.starts_with(b"{\"end\"") {
                        format!("not a valid trailer: {trailer_error}")
                    } else {
                        format!("not a valid entry: {entry_error}")
                    };
                    Err(self.damaged(problem))
                }
            },
        }
    }

    fn entry(&mut self, entry: DumpEntry) -> Result<Item, OpsError> {
        let Some(header) = &self.header else {
            return Err(self.damaged("an entry before the header"));
        };
        let Some(index) = header.stores.iter().position(|s| *s == entry.store) else {
            return Err(self.damaged(format!(
                "an entry of store {:?}, which the header does not list",
                entry.store
            )));
        };
        if index < self.current {
            return Err(self.damaged(format!(
                "an entry of store {:?} after the entries of a later store; a store's \
                 entries must be together, in header order",
                entry.store
            )));
        }
        if index > self.current {
            self.current = index;
            self.last_key = None;
        }
        if self
            .last_key
            .as_ref()
            .is_some_and(|last| entry.key <= *last)
        {
            return Err(self.damaged(format!(
                "key {:?} of store {:?} is not after the key before it; keys must be strictly \
                 ascending",
                entry.key, entry.store
            )));
        }
        if header.version < 2 && entry.expires_at_ms.is_some() {
            return Err(self.damaged(format!(
                "key {:?} has an expiry, which dump format version {} does not carry",
                entry.key, header.version
            )));
        }
        let value = base64().decode(entry.value_b64.as_bytes()).map_err(|e| {
            self.damaged(format!(
                "the value of key {:?} is not valid base64: {e}",
                entry.key
            ))
        })?;
        if let Some(limits) = &self.limits {
            limits
                .check_key(&entry.key)
                .and_then(|()| limits.check_value(&entry.key, &value))
                .map_err(|e| {
                    self.damaged(format!("does not fit the target provider: {}", e.message()))
                })?;
        }
        self.hasher.update(&self.buf);
        self.counts[index] += 1;
        self.entries += 1;
        self.expiring += u64::from(entry.expires_at_ms.is_some());
        self.last_key = Some(entry.key.clone());
        Ok(Item::Entry {
            store: index,
            key: entry.key,
            value,
            expires_at_ms: entry.expires_at_ms,
        })
    }

    fn trailer(&mut self, trailer: DumpTrailer) -> Result<Item, OpsError> {
        let Some(header) = self.header.clone() else {
            return Err(self.damaged("a trailer before the header"));
        };
        if trailer.end != DUMP_FORMAT {
            return Err(self.damaged(format!(
                "the trailer's end is {:?}, not {DUMP_FORMAT:?}",
                trailer.end
            )));
        }
        let sha256 = hex(&std::mem::take(&mut self.hasher).finalize());
        if trailer.sha256 != sha256 {
            return Err(self.damaged(format!(
                "checksum mismatch: the trailer says sha256 {}, the content hashes to {sha256}; \
                 the file was changed or damaged",
                trailer.sha256
            )));
        }
        if trailer.entries != self.entries {
            return Err(self.damaged(format!(
                "the trailer counts {} entries, the file holds {}",
                trailer.entries, self.entries
            )));
        }
        let stores: Vec<(String, u64)> = header
            .stores
            .iter()
            .cloned()
            .zip(self.counts.iter().copied())
            .collect();
        let listed: Vec<(String, u64)> = trailer.stores.into_iter().collect();
        let mut sorted = stores.clone();
        sorted.sort();
        if listed != sorted {
            return Err(self.damaged(format!(
                "the trailer's per-store counts {listed:?} disagree with the file's {sorted:?}"
            )));
        }
        let mut rest = [0u8; 1];
        match self.reader.read(&mut rest) {
            Ok(0) => {}
            Ok(_) => {
                return Err(self
                    .damaged("there is data after the trailer line; a dump ends with its trailer"))
            }
            Err(e) => return Err(OpsError::io("cannot read the dump", e)),
        }
        Ok(Item::End(VerifiedDump {
            header,
            stores,
            entries: self.entries,
            sha256,
            expiring: self.expiring,
        }))
    }
}

/// Checks a whole dump without writing anything: header, every line, key
/// order, sizes against `limits` (the target's, when given), counts and the
/// trailer's checksum. The error names the line and the problem.
pub fn verify_dump(
    reader: &mut dyn BufRead,
    limits: Option<&Limits>,
) -> Result<VerifiedDump, OpsError> {
    let mut dump = DumpReader::new(reader, limits.copied());
    dump.header()?;
    loop {
        if let Item::End(verified) = dump.next()? {
            return Ok(verified);
        }
    }
}

/// How to restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Keep keys of the dumped stores that the dump does not hold (default:
    /// each dumped store is emptied first, so it ends exactly as dumped).
    pub merge: bool,
    /// Most keys per `set_many` (also bounded by the provider's limit and by 8 MiB of values).
    pub batch_keys: usize,
    /// The lock taken on every store in the dump.
    pub lock: LockRequest,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            merge: false,
            batch_keys: 500,
            lock: LockRequest::new("restore"),
        }
    }
}

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// Each store: keys removed first (0 with `merge`), entries written.
    pub stores: Vec<(String, u64, u64)>,
    /// Entries written in all.
    pub entries: u64,
    /// The dump's checksum.
    pub sha256: String,
}

fn open(path: &Path) -> Result<BufReader<File>, OpsError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| OpsError::io(format!("cannot open dump {}", path.display()), e))
}

/// Restores the dump at `path` into `store`: checks the whole file first
/// (nothing is written unless it passes), takes the locks of its stores,
/// empties them (unless `merge`), then writes its entries in batches.
/// Written keys get new versions from the target. When `monitor` asks to
/// stop, stops after a batch with [`OpsError::Stopped`]; the same restore
/// run again restores the dumped stores whole.
pub async fn restore_file(
    store: &Arc<dyn StateStore>,
    path: &Path,
    options: &RestoreOptions,
    monitor: &dyn Monitor,
) -> Result<RestoreReport, OpsError> {
    let limits = *store.capabilities().limits();
    let verified = verify_dump(&mut open(path)?, Some(&limits))?;
    if verified.expiring > 0 && !store.capabilities().has(CapabilityFlags::TTL) {
        return Err(OpsError::Invalid(format!(
            "dump {} holds {} key(s) with an expiry, and provider {} does not declare TTL, so \
             it would keep them forever; restore into a provider that declares TTL (memory, \
             redb, postgres)",
            path.display(),
            verified.expiring,
            store.info().name
        )));
    }
    let mut locks = LockSet::acquire(store, &verified.header.stores, &options.lock).await?;
    let outcome = apply(
        store, path, options, &verified, &limits, &mut locks, monitor,
    )
    .await;
    after_release(outcome, locks.release().await)
}

/// The stop of a restore of `verified` after `report`.
fn stopped(verified: &VerifiedDump, report: &RestoreReport) -> OpsError {
    let done = if report.entries == 0 && report.stores.is_empty() {
        "nothing was written".to_string()
    } else {
        let stores: Vec<String> = verified
            .stores
            .iter()
            .map(|(s, _)| format!("{s:?}"))
            .collect();
        format!(
            "{} of {} entries were written: stores {} are partly restored",
            report.entries,
            verified.entries,
            stores.join(", ")
        )
    };
    OpsError::Stopped {
        operation: "restore".to_string(),
        done: format!(
            "{done}; the locks are released. Run the same restore again: it restores the \
             dumped stores whole"
        ),
    }
}

async fn apply(
    store: &Arc<dyn StateStore>,
    path: &Path,
    options: &RestoreOptions,
    verified: &VerifiedDump,
    limits: &Limits,
    locks: &mut LockSet,
    monitor: &dyn Monitor,
) -> Result<RestoreReport, OpsError> {
    let mut report = RestoreReport {
        stores: Vec::with_capacity(verified.stores.len()),
        entries: 0,
        sha256: verified.sha256.clone(),
    };
    if monitor.stop_requested() {
        return Err(stopped(verified, &report));
    }
    monitor.begin(verified.stores.len(), verified.entries);
    for (store_id, _) in &verified.stores {
        let cleared = if options.merge {
            0
        } else {
            store.clear_store(store_id).await?
        };
        report.stores.push((store_id.clone(), cleared, 0));
    }
    let max_keys = options
        .batch_keys
        .clamp(1, limits.max_batch_ops.max(1) as usize);
    let mut reader = DumpReader::new(open(path)?, Some(*limits));
    reader.header()?;
    let mut batch: Vec<ExpiringPut> = Vec::new();
    let mut batch_store = None;
    let mut batch_bytes = 0usize;
    loop {
        let item = reader.next()?;
        let flush = match &item {
            Item::Entry { store: s, .. } => {
                batch_store != Some(*s) || batch.len() >= max_keys || batch_bytes >= MAX_BATCH_BYTES
            }
            Item::End(_) => true,
        };
        if let (true, Some(index)) = (flush && !batch.is_empty(), batch_store) {
            let store_id = &verified.stores[index].0;
            let n = batch.len() as u64;
            put_expiring(store, store_id, &std::mem::take(&mut batch)).await?;
            report.stores[index].2 += n;
            report.entries += n;
            batch_bytes = 0;
            monitor.advance(n);
            if monitor.stop_requested() {
                return Err(stopped(verified, &report));
            }
            locks.keep_alive().await?;
        }
        match item {
            Item::Entry {
                store,
                key,
                value,
                expires_at_ms,
            } => {
                if batch_store != Some(store) {
                    batch_store = Some(store);
                    monitor.store(&verified.stores[store].0);
                }
                batch_bytes += value.len() + key.len();
                batch.push((key, value, expires_at_ms));
            }
            Item::End(again) => {
                if again.sha256 != verified.sha256 {
                    return Err(OpsError::Invalid(format!(
                        "dump {} changed while it was being restored; the stores may be \
                         partly restored: restore again from an unchanging copy",
                        path.display()
                    )));
                }
                return Ok(report);
            }
        }
    }
}

/// Copies `input` (standard input, say) to a temporary file, so that it
/// can be checked and then read again. The file is removed when dropped.
pub fn spool(input: &mut dyn Read) -> Result<tempfile::NamedTempFile, OpsError> {
    let mut file = tempfile::NamedTempFile::new()
        .map_err(|e| OpsError::io("cannot create a temporary file to hold the dump", e))?;
    std::io::copy(input, &mut file)
        .map_err(|e| OpsError::io("cannot copy the dump to a temporary file", e))?;
    Ok(file)
}
