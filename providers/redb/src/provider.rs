//! [`RedbProvider`]: the [`Provider`] trait over one redb database file.

use std::fs;
use std::path::{Path, PathBuf};

use redb::{AccessGuard, Database, ReadOnlyTable, ReadableDatabase, ReadableTable};
use stateplug_provider_api::{
    Capabilities, CapabilityFlags, ChangeSink, Entry, HistoryEntry, KeyBytesVisitor, KeyChange,
    OpenContext, Page, Provider, ProviderError, ProviderResult, ScanRef, WriteOp, WriteUnit,
};

use crate::committer::{Committer, Job};
use crate::config::RedbConfig;
use crate::encoding::{corrupt_key, decode_key, decode_value, entry_key, key_bytes, Span};
use crate::errors::{empty_file_error, folder_error, map_error, missing_file_error, AtPath};
use crate::history;
use crate::journal::{journal_path, Journal, JournalFile, Storage};
use crate::replay::replay;
use crate::schema::{
    ENTRIES, HISTORY, HISTORY_VERSIONS, JOURNAL_ID, JOURNAL_SEQ, META, REVISION, STORES,
};

type EntriesTable = ReadOnlyTable<&'static [u8], &'static [u8]>;

/// A durable state store provider: every store_id in one redb database file.
///
/// Each write call is durable before it returns: with the journal (the
/// default) its group's record is appended to `<path>.journal` and synced,
/// without it the group is a durable redb commit; concurrent calls share
/// one transaction and one sync (group commit). Reads run on a redb read snapshot and never write. The file is
/// locked while the provider is open, so a second open of the same file fails
/// with `UNAVAILABLE`.
pub struct RedbProvider {
    db: Database,
    path: PathBuf,
    committer: Committer,
    /// Versions kept per key (0: history off).
    history_versions: u32,
}

impl RedbProvider {
    /// Opens (creating if missing) the database file named by `config`.
    /// An existing empty file is refused unless `initialise_empty_file`.
    pub fn open_config(config: &RedbConfig) -> ProviderResult<Self> {
        Self::open_config_with(config, &OpenContext::READ_WRITE)
    }

    /// Opens the database file named by `config`; a read-only open creates
    /// nothing (no folder, no file) and refuses a file that does not exist.
    pub fn open_config_with(config: &RedbConfig, context: &OpenContext) -> ProviderResult<Self> {
        let path = config.database_file()?.to_path_buf();
        let journal = journal_path(&path);
        if context.read_only {
            return match fs::metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(missing_file_error(&path))
                }
                Ok(meta) if meta.is_file() && meta.len() == 0 => Err(empty_file_error(&path)),
                _ => {
                    let db = Self::database_builder(config).open(&path).at(&path)?;
                    // A read-only open creates no journal, but replays one.
                    let storage = match journal.exists() {
                        true => Some(Box::new(JournalFile::open(&journal)?) as Storage),
                        false => None,
                    };
                    Self::on_database_with(db, path, config, storage)
                }
            };
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| folder_error(&path, parent, &e))?;
        }
        let builder = Self::database_builder(config);
        match fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                remove_stale_journal(&journal)?;
                create_atomically(&builder, &path)?;
            }
            Ok(meta) if meta.is_file() && meta.len() == 0 => {
                if !config.initialise_empty_file {
                    return Err(empty_file_error(&path));
                }
                tracing::warn!(path = %path.display(), "initialising an empty file as a new database (initialise_empty_file)");
                remove_stale_journal(&journal)?;
                create_atomically(&builder, &path)?;
            }
            // Anything else (a database, a folder, an unreadable path) is
            // for redb to open or to refuse, with its own error.
            _ => {}
        }
        let db = builder.create(&path).at(&path)?;
        let storage = match config.journaled() || journal.exists() {
            true => Some(Box::new(JournalFile::open(&journal)?) as Storage),
            false => None,
        };
        Self::on_database_with(db, path, config, storage)
    }

    /// The database builder `config` asks for (its cache size).
    pub(crate) fn database_builder(config: &RedbConfig) -> redb::Builder {
        let mut builder = Database::builder();
        if let Some(bytes) = config.cache_size_bytes {
            builder.set_cache_size(bytes);
        }
        builder
    }

    /// The provider on the opened database `db` (the file `path`): creates
    /// any missing table and applies `config`'s history retention.
    pub(crate) fn on_database(
        db: Database,
        path: PathBuf,
        config: &RedbConfig,
    ) -> ProviderResult<Self> {
        Self::on_database_with(db, path, config, None)
    }

    /// [`RedbProvider::on_database`] with the journal on `journal`: its
    /// pending records are replayed, and writes use it if `config` asks
    /// for a journal.
    pub(crate) fn on_database_with(
        db: Database,
        path: PathBuf,
        config: &RedbConfig,
        journal: Option<Storage>,
    ) -> ProviderResult<Self> {
        let limits = config.journal_limits()?;
        // Create every table once, so that reads never have to.
        let txn = db.begin_write().at(&path)?;
        txn.open_table(ENTRIES).at(&path)?;
        txn.open_table(STORES).at(&path)?;
        let mut meta = txn.open_table(META).at(&path)?;
        // Writers read the retention from the file. Without a setting the
        // file keeps its own; an explicit 0 turns history off and discards it.
        let found_id = meta.get(JOURNAL_ID).at(&path)?.map(|g| g.value());
        let journal_id = match found_id {
            Some(id) => id,
            None => {
                let id = new_journal_id();
                meta.insert(JOURNAL_ID, id).at(&path)?;
                id
            }
        };
        let checkpointed = meta
            .get(JOURNAL_SEQ)
            .at(&path)?
            .map(|g| g.value())
            .unwrap_or(0);
        let stored = meta.get(HISTORY_VERSIONS).at(&path)?.map(|g| g.value());
        let history_versions = match config.history_versions {
            Some(n) => n,
            None => stored.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        };
        meta.insert(HISTORY_VERSIONS, u64::from(history_versions))
            .at(&path)?;
        drop(meta);
        if history_versions > 0 {
            txn.open_table(HISTORY).at(&path)?;
        } else if config.history_versions == Some(0) {
            txn.delete_table(HISTORY).at(&path)?;
        }
        txn.commit().at(&path)?;
        let journal = match journal {
            Some(storage) => {
                let mut journal = Journal::new(
                    storage,
                    journal_path(&path),
                    limits,
                    journal_id,
                    checkpointed,
                )?;
                replay(&db, &path, &mut journal)?;
                config.journaled().then_some(journal)
            }
            None => None,
        };
        let stored_revision = {
            let txn = db.begin_read().at(&path)?;
            let meta = txn.open_table(META).at(&path)?;
            let found = meta.get(REVISION).at(&path)?;
            found.map(|g| g.value()).unwrap_or(0)
        };
        tracing::debug!(path = %path.display(), history_versions, journal = journal.is_some(), "opened redb database");
        Ok(RedbProvider {
            db,
            path,
            committer: Committer::new(stored_revision, journal),
            history_versions,
        })
    }

    /// Refuses history reads when history is off.
    fn require_history(&self, operation: &str) -> ProviderResult<()> {
        if self.history_versions > 0 {
            return Ok(());
        }
        Err(ProviderError::unsupported(format!(
            "redb database file {}: {operation} needs history, which is off; set \
             `history_versions` (e.g. 10) in the provider configuration",
            self.path.display()
        )))
    }

    /// Durable commits made since the file was opened; with concurrent
    /// writers, fewer than the write calls (group commit).
    pub fn commits(&self) -> u64 {
        self.committer.commits()
    }

    /// Journal records appended since the file was opened: with the
    /// journal, one per group commit that was not a checkpoint.
    pub fn journal_appends(&self) -> u64 {
        self.committer.journal_appends()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entries table of a fresh read snapshot.
    fn entries(&self) -> ProviderResult<EntriesTable> {
        let txn = self.db.begin_read().at(&self.path)?;
        txn.open_table(ENTRIES).at(&self.path)
    }

    /// The key count of `store_id` in a fresh read snapshot (0 if unknown).
    fn count(&self, store_id: &str) -> ProviderResult<u64> {
        let txn = self.db.begin_read().at(&self.path)?;
        let stores = txn.open_table(STORES).at(&self.path)?;
        let found = stores.get(store_id).at(&self.path)?;
        Ok(found.map(|g| g.value()).unwrap_or(0))
    }

    /// The entry of `key` in `table`.
    fn entry_in(
        &self,
        table: &EntriesTable,
        store_id: &str,
        key: &str,
    ) -> ProviderResult<Option<Entry>> {
        let found = table
            .get(entry_key(store_id, key).as_slice())
            .at(&self.path)?;
        match found {
            Some(raw) => {
                let (version, value) = decode_value(raw.value())?;
                Ok(Some(Entry {
                    value: value.to_vec(),
                    version,
                }))
            }
            None => Ok(None),
        }
    }
}

impl Provider for RedbProvider {
    const NAME: &'static str = "redb";
    /// Durable, with every operation but history (see `capabilities`) and
    /// a change feed. Reads are MVCC snapshots that never wait for a writer
    /// (a few µs), so they run inline; a durable commit waits for an fsync,
    /// so writes do not, but they wait only on the local disk (`LOCAL_IO`).
    const CAPABILITIES: Capabilities = Capabilities::new(
        CapabilityFlags::DURABLE
            .union(CapabilityFlags::ATOMIC_BATCHES)
            .union(CapabilityFlags::COMPARE_AND_SET)
            .union(CapabilityFlags::TRANSACTIONS)
            .union(CapabilityFlags::ORDERED_SCANS)
            .union(CapabilityFlags::LIST_STORES)
            .union(CapabilityFlags::INLINE_READS)
            .union(CapabilityFlags::LOCAL_IO)
            .union(CapabilityFlags::GROUP_WRITES),
    );

    fn open(config_json: &str) -> ProviderResult<Self> {
        Self::open_config(&RedbConfig::parse(config_json)?)
    }

    fn open_with(config_json: &str, context: &OpenContext) -> ProviderResult<Self> {
        Self::open_config_with(&RedbConfig::parse(config_json)?, context)
    }

    /// [`Provider::CAPABILITIES`], plus `HISTORY` when `history_versions` > 0.
    fn capabilities(&self) -> Capabilities {
        let mut caps = Self::CAPABILITIES;
        if self.history_versions > 0 {
            caps.flags = caps.flags.union(CapabilityFlags::HISTORY);
        }
        caps
    }

    fn get_entry(&self, store_id: &str, key: &str) -> ProviderResult<Option<Entry>> {
        self.entry_in(&self.entries()?, store_id, key)
    }

    fn read(
        &self,
        store_id: &str,
        key: &str,
        visit: &mut dyn FnMut(&[u8]),
    ) -> ProviderResult<bool> {
        let table = self.entries()?;
        let found = table
            .get(entry_key(store_id, key).as_slice())
            .at(&self.path)?;
        match found {
            Some(raw) => {
                visit(decode_value(raw.value())?.1);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn get_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<Entry>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let table = self.entries()?;
        keys.iter()
            .map(|k| self.entry_in(&table, store_id, k))
            .collect()
    }

    /// Committed durably before it returns, in one group commit with the
    /// writes of concurrent callers.
    fn write(
        &self,
        store_id: &str,
        ops: &[WriteOp<'_>],
        changed: ChangeSink<'_>,
    ) -> ProviderResult<u64> {
        let mut answers = self
            .committer
            .submit_all(&self.db, &self.path, &[(store_id, ops)]);
        let (revision, log) = answers
            .pop()
            .unwrap_or_else(|| Err(ProviderError::internal("a group commit lost an answer")))?;
        log.replay(changed);
        Ok(revision)
    }

    /// One transaction and one sync for the whole group (and any writes that
    /// arrive from other threads meanwhile).
    fn write_group(
        &self,
        units: &[WriteUnit<'_>],
        changed: &mut dyn FnMut(usize, KeyChange<'_>),
    ) -> Vec<ProviderResult<u64>> {
        let jobs: Vec<Job<'_>> = units.iter().map(|u| (u.store_id, u.ops)).collect();
        let answers = self.committer.submit_all(&self.db, &self.path, &jobs);
        answers
            .into_iter()
            .enumerate()
            .map(|(at, answer)| {
                let (revision, log) = answer?;
                log.replay(&mut |c| changed(at, c));
                Ok(revision)
            })
            .collect()
    }

    fn list_keys(&self, store_id: &str) -> ProviderResult<Vec<String>> {
        let table = self.entries()?;
        let span = Span::store(store_id);
        let mut keys = Vec::new();
        for row in table.range::<&[u8]>(span.bounds()).at(&self.path)? {
            let (key, _) = row.at(&self.path)?;
            keys.push(decode_key(key.value())?.to_string());
        }
        Ok(keys)
    }

    fn store_exists(&self, store_id: &str) -> ProviderResult<bool> {
        Ok(self.count(store_id)? > 0)
    }

    fn key_count(&self, store_id: &str) -> ProviderResult<u64> {
        self.count(store_id)
    }

    /// Commits are durable when acknowledged, so there is nothing to flush.
    fn sync(&self) -> ProviderResult<()> {
        Ok(())
    }

    fn scan(&self, store_id: &str, scan: ScanRef<'_>) -> ProviderResult<Page> {
        let mut corrupt = false;
        let page = Page::collect(|visit| {
            self.scan_visit_bytes(store_id, scan, &mut |key, version, value| {
                match std::str::from_utf8(key) {
                    Ok(key) => visit(key, version, value),
                    Err(_) => corrupt = true,
                }
            })
        })?;
        if corrupt {
            return Err(corrupt_key());
        }
        Ok(page)
    }

    /// The walk itself: keys go out as the bytes stored, checked once by
    /// whoever reads them (the host, or [`Provider::scan`]).
    fn scan_visit_bytes(
        &self,
        store_id: &str,
        scan: ScanRef<'_>,
        visit: KeyBytesVisitor<'_>,
    ) -> ProviderResult<Option<String>> {
        let Some(keys) = scan.key_range() else {
            return Ok(None);
        };
        let table = self.entries()?;
        let span = Span::within(store_id, &keys);
        let range = table.range::<&[u8]>(span.bounds()).at(&self.path)?;
        let limit = scan.limit as usize;
        // Two monomorphic walks rather than one boxed iterator: the row loop
        // is the whole cost of a scan, and a boxed `next` cannot be inlined.
        if scan.descending {
            visit_rows(range.rev(), limit, &self.path, visit)
        } else {
            visit_rows(range, limit, &self.path, visit)
        }
    }

    fn list_stores(&self) -> ProviderResult<Vec<String>> {
        let txn = self.db.begin_read().at(&self.path)?;
        let stores = txn.open_table(STORES).at(&self.path)?;
        let mut ids = Vec::new();
        for row in stores.iter().at(&self.path)? {
            let (store_id, _) = row.at(&self.path)?;
            ids.push(store_id.value().to_string());
        }
        Ok(ids)
    }

    fn history(&self, store_id: &str, key: &str, limit: u32) -> ProviderResult<Vec<HistoryEntry>> {
        self.require_history("history")?;
        history::history(&self.db, &self.path, store_id, key, limit)
    }

    fn get_version(
        &self,
        store_id: &str,
        key: &str,
        version: u64,
    ) -> ProviderResult<Option<Entry>> {
        self.require_history("get_version")?;
        history::get_version(&self.db, &self.path, store_id, key, version)
    }
}

/// Checkpoints the journal when the provider closes, so that the next
/// open has nothing to replay. A failure is logged: everything
/// acknowledged is in the journal, and the next open replays it.
impl Drop for RedbProvider {
    fn drop(&mut self) {
        if let Err(err) = self.committer.checkpoint(&self.db, &self.path) {
            tracing::warn!(path = %self.path.display(), %err, "closing without a checkpoint; the next open replays the journal");
        }
    }
}

/// Removes a journal left beside a database file that no longer exists,
/// before a new file is made there. (Its records could not replay into the
/// new file anyway: their journal id differs.)
fn remove_stale_journal(journal: &Path) -> ProviderResult<()> {
    match fs::remove_file(journal) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ProviderError::storage(format!(
            "cannot remove the stale journal {} before creating its database: {e}; remove it \
             by hand",
            journal.display()
        ))),
        _ => Ok(()),
    }
}

/// A journal id unlikely to repeat: the clock and the process, hashed
/// with a per-process random key.
fn new_journal_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Creates a new database file so that a crash at any moment leaves either
/// no file or a complete one: it is built under a temporary name in the
/// same folder and renamed into place (a rename is atomic, and replaces an
/// empty file being initialised), and the folder is synced. Without this, a
/// process killed while redb writes the first header leaves a file that can
/// never be opened again. So a file of this provider is never empty.
fn create_atomically(builder: &redb::Builder, path: &Path) -> ProviderResult<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temporary = folder.join(format!(".{name}.creating-{}", std::process::id()));
    let _ = fs::remove_file(&temporary);
    // Errors name the file asked for; the temporary name would confuse.
    let db = builder.create(&temporary).at(path)?;
    drop(db);
    fs::File::open(&temporary)
        .and_then(|f| f.sync_all())
        .and_then(|()| fs::rename(&temporary, path))
        .and_then(|()| fs::File::open(folder)?.sync_all())
        .map_err(|e| map_error(path, e.into()))
}

/// Visits up to `limit` rows of a walk over `ENTRIES`; returns the last key
/// visited if another row follows (where the next page starts).
fn visit_rows<'t>(
    rows: impl Iterator<
        Item = redb::Result<(
            AccessGuard<'t, &'static [u8]>,
            AccessGuard<'t, &'static [u8]>,
        )>,
    >,
    limit: usize,
    path: &Path,
    visit: KeyBytesVisitor<'_>,
) -> ProviderResult<Option<String>> {
    let mut last = Vec::new();
    for (visited, row) in rows.enumerate() {
        if visited == limit {
            // A row past the page: the walk continues after the last one visited.
            return String::from_utf8(last).map(Some).map_err(|_| corrupt_key());
        }
        let (key, value) = row.at(path)?;
        let key = key_bytes(key.value())?;
        let (version, bytes) = decode_value(value.value())?;
        visit(key, version, bytes);
        if visited + 1 == limit {
            last.extend_from_slice(key);
        }
    }
    Ok(None)
}
