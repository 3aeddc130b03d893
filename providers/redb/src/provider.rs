//! [`RedbProvider`]: the [`Provider`] trait over one redb database file.
//!
//! Invariants:
//! - the database, its path and the committer live in one [`Shared`], held
//!   strongly only by the provider (the background sweeper holds it by
//!   `Weak`, see [`crate::sweeper`]), so dropping the provider closes the
//!   file and releases its lock;
//! - every write, and every sweep, runs through the committer, on the
//!   clock the provider was opened with.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable};
use stateplug_provider_api::{
    Capabilities, CapabilityFlags, ChangePage, ChangeSink, Entry, HistoryEntry, KeyBytesVisitor,
    KeyChange, OpenContext, Page, Provider, ProviderError, ProviderResult, ScanRef, WriteOp,
    WriteUnit,
};

use crate::committer::{Committer, Job};
use crate::config::RedbConfig;
use crate::encoding::{corrupt_key, Span};
use crate::errors::{empty_file_error, folder_error, map_error, missing_file_error, AtPath};
use crate::history;
use crate::journal::{journal_path, Journal, JournalFile, Storage};
use crate::replay::replay;
use crate::schema::{
    ENTRIES, EXPIRING, HISTORY, HISTORY_VERSIONS, JOURNAL_ID, JOURNAL_SEQ, META, REVISION, STORES,
};
use crate::sweeper::Sweeper;
use crate::unapplied::View;
use crate::walk::{Merged, PageWalk};

/// A durable state store provider: every store_id in one redb database file.
///
/// Each write call is durable before it returns: with the journal (the
/// default) its group's record is appended to `<path>.journal` and synced,
/// without it the group is a durable redb commit; concurrent calls share
/// one record and one sync (group commit). With the journal, a group of
/// puts and deletes is applied to redb after it is acknowledged, by a
/// background thread (see [`crate::unapplied`]); reads merge what it has
/// not applied yet over a redb read snapshot, and never write. Key counts
/// and store lists wait until it has applied every acknowledged write. The file is
/// locked while the provider is open, so a second open of the same file fails
/// with `UNAVAILABLE`. A read-write provider whose file holds expiring
/// keys runs a background thread that removes them once expired (every
/// `sweep_interval_ms`), also while no writes come; it ends when the
/// provider is dropped.
pub struct RedbProvider {
    shared: Arc<Shared>,
    /// Versions kept per key (0: history off).
    history_versions: u32,
    /// The background sweeper of expired keys.
    sweeper: Sweeper,
    /// The thread applying deferred groups to redb (with a journal only).
    applier: Option<JoinHandle<()>>,
}

/// What the provider shares with its background sweeper.
pub(crate) struct Shared {
    /// The open database.
    pub(crate) db: Database,
    /// The database file, for messages.
    pub(crate) path: PathBuf,
    /// The group committer every write and every sweep goes through.
    pub(crate) committer: Committer,
}

impl RedbProvider {
    /// Opens (creating if missing) the database file named by `config`.
    /// An existing empty file is refused unless `initialise_empty_file`.
    pub fn open_config(config: &RedbConfig) -> ProviderResult<Self> {
        Self::open_config_with(config, &OpenContext::READ_WRITE)
    }

    /// Opens the database file named by `config`; a read-only open creates
    /// nothing (no folder, no file) and refuses a file that does not exist.
    /// The provider reads the time from `context.clock`: a key is expired
    /// from its expiry on.
    pub fn open_config_with(config: &RedbConfig, context: &OpenContext) -> ProviderResult<Self> {
        Self::open_file(config, context)
    }

    fn open_file(config: &RedbConfig, context: &OpenContext) -> ProviderResult<Self> {
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
                    Self::on_database_with(db, path, config, storage, context)
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
        Self::on_database_with(db, path, config, storage, context)
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
        Self::on_database_with(db, path, config, None, &OpenContext::READ_WRITE)
    }

    /// [`RedbProvider::on_database`] with the journal on `journal`: its
    /// pending records are replayed, and writes use it if `config` asks
    /// for a journal. The provider reads the time from `context.clock`;
    /// unless `context.read_only`, its background sweeper starts at once
    /// when the file holds an expiring key.
    pub(crate) fn on_database_with(
        db: Database,
        path: PathBuf,
        config: &RedbConfig,
        journal: Option<Storage>,
        context: &OpenContext,
    ) -> ProviderResult<Self> {
        let limits = config.journal_limits()?;
        let sweep_interval = config.sweep_interval()?;
        // Create every table once, so that reads never have to.
        let txn = db.begin_write().at(&path)?;
        txn.open_table(ENTRIES).at(&path)?;
        txn.open_table(STORES).at(&path)?;
        txn.open_table(EXPIRING).at(&path)?;
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
        let (stored_revision, expiring) = {
            let txn = db.begin_read().at(&path)?;
            let meta = txn.open_table(META).at(&path)?;
            let found = meta.get(REVISION).at(&path)?;
            let expiring = txn.open_table(EXPIRING).at(&path)?;
            let first = expiring.first().at(&path)?;
            (
                found.map(|g| g.value()).unwrap_or(0),
                first.map(|(row, _)| row.value().0),
            )
        };
        tracing::debug!(path = %path.display(), history_versions, journal = journal.is_some(), "opened redb database");
        let journaled = journal.is_some();
        let mut committer =
            Committer::new(stored_revision, journal, history_versions > 0, expiring);
        committer.clock = context.clock.clone();
        let shared = Arc::new(Shared {
            db,
            path,
            committer,
        });
        let applier = match journaled {
            true => Some(shared.committer.unapplied.start(&shared)?),
            false => None,
        };
        let provider = RedbProvider {
            shared,
            history_versions,
            sweeper: Sweeper::new((!context.read_only).then_some(sweep_interval)),
            applier,
        };
        if expiring.is_some() {
            provider.sweeper.start(&provider.shared);
        }
        Ok(provider)
    }

    /// Starts the background sweeper if `ops` put a key with an expiry
    /// (it runs from then on; see [`crate::sweeper`]).
    fn sweep_after(&self, ops: &[WriteOp<'_>]) {
        if ops
            .iter()
            .any(|op| matches!(op, WriteOp::PutExpiring { .. }))
        {
            self.sweeper.start(&self.shared);
        }
    }

    /// The background sweeper, for tests that watch its thread.
    #[cfg(test)]
    pub(crate) fn sweeper(&self) -> &Sweeper {
        &self.sweeper
    }

    /// The database and committer, for tests that run a sweep group.
    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Refuses history reads when history is off.
    fn require_history(&self, operation: &str) -> ProviderResult<()> {
        if self.history_versions > 0 {
            return Ok(());
        }
        Err(ProviderError::unsupported(format!(
            "redb database file {}: {operation} needs history, which is off; set \
             `history_versions` (e.g. 10) in the provider configuration",
            self.shared.path.display()
        )))
    }

    /// Durable commits made since the file was opened; with concurrent
    /// writers, fewer than the write calls (group commit).
    pub fn commits(&self) -> u64 {
        self.shared.committer.commits()
    }

    /// Journal records appended since the file was opened: with the
    /// journal, one per group commit that was not a checkpoint.
    pub fn journal_appends(&self) -> u64 {
        self.shared.committer.journal_appends()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Waits until every acknowledged deferred group is applied to redb:
    /// reads of more than single keys then read redb alone.
    fn settle(&self) -> ProviderResult<()> {
        self.shared.committer.unapplied.settle()
    }

    /// The state of every write acknowledged so far, for reads of single keys.
    fn view(&self) -> ProviderResult<View<'_>> {
        let shared = &*self.shared;
        shared
            .committer
            .unapplied
            .view(&shared.committer.latest, &shared.db, &shared.path)
    }

    /// The database, for tests that look at the tables, once every
    /// acknowledged write is applied to it.
    #[cfg(test)]
    pub(crate) fn database(&self) -> &Database {
        self.settle().expect("the deferred groups apply");
        &self.shared.db
    }

    /// Now, by the clock the provider was opened with.
    fn now(&self) -> u64 {
        self.shared.committer.clock.now_ms()
    }

    /// The number of keys of `store_id` that have not expired, in a fresh
    /// read snapshot (0 if unknown).
    fn count(&self, store_id: &str) -> ProviderResult<u64> {
        self.settle()?;
        let txn = self.shared.db.begin_read().at(&self.shared.path)?;
        let stores = txn.open_table(STORES).at(&self.shared.path)?;
        let found = stores.get(store_id).at(&self.shared.path)?;
        let stored = found.map(|g| g.value()).unwrap_or(0);
        let mut expired = 0u64;
        if stored > 0 {
            self.visit_expired(&txn, &mut |store| expired += u64::from(store == store_id))?;
        }
        Ok(stored.saturating_sub(expired))
    }

    /// Hands the store_id of every key expired by now but not yet removed
    /// to `visit` (in snapshot `txn`).
    fn visit_expired(
        &self,
        txn: &ReadTransaction,
        visit: &mut dyn FnMut(&str),
    ) -> ProviderResult<()> {
        let expiring = txn.open_table(EXPIRING).at(&self.shared.path)?;
        let rows = match self.now().checked_add(1) {
            Some(after) => expiring.range(..(after, "", "")).at(&self.shared.path)?,
            None => expiring.iter().at(&self.shared.path)?,
        };
        for row in rows {
            let (row, _) = row.at(&self.shared.path)?;
            visit(row.value().1);
        }
        Ok(())
    }

    /// Hands `found` the version and value of `key` in `view` if it is live now.
    fn live_in<R>(
        &self,
        view: &View<'_>,
        store_id: &str,
        key: &str,
        found: impl FnOnce(Option<(u64, &[u8])>) -> R,
    ) -> ProviderResult<R> {
        view.find(store_id, key, &self.shared.path, |entry| {
            let live = entry
                .filter(|(_, _, expires_at_ms)| expires_at_ms.is_none_or(|at| at > self.now()));
            Ok(found(live.map(|(version, value, _)| (version, value))))
        })
    }

    /// Visits up to `limit` live rows of `span` in key order (`descending`:
    /// the other way), the published writes merged over a snapshot; returns
    /// the last key visited if another live row follows (where the next
    /// page starts).
    fn walk(
        &self,
        span: &Span,
        descending: bool,
        limit: usize,
        visit: KeyBytesVisitor<'_>,
    ) -> ProviderResult<Option<String>> {
        let shared = &*self.shared;
        let (written, table) = shared.committer.unapplied.range(
            span.bounds(),
            &shared.committer.latest,
            &shared.db,
            &shared.path,
        )?;
        let range = table.range::<&[u8]>(span.bounds()).at(&shared.path)?;
        let mut page = PageWalk {
            limit,
            visited: 0,
            last: Vec::new(),
            visit,
        };
        let now = self.now();
        // Two monomorphic walks rather than one boxed iterator: the row loop
        // is the whole cost of a scan, and a boxed `next` cannot be inlined.
        if descending {
            let rows = Merged {
                table: range.rev(),
                written: written.iter().rev().peekable(),
                first: std::cmp::Ordering::Greater,
            };
            rows.visit(now, &shared.path, &mut page)
        } else {
            let rows = Merged {
                table: range,
                written: written.iter().peekable(),
                first: std::cmp::Ordering::Less,
            };
            rows.visit(now, &shared.path, &mut page)
        }
    }

    /// The entry of `key` in `view`, if it is live now.
    fn entry_in(
        &self,
        view: &View<'_>,
        store_id: &str,
        key: &str,
    ) -> ProviderResult<Option<Entry>> {
        self.live_in(view, store_id, key, |live| {
            live.map(|(version, value)| Entry {
                value: value.to_vec(),
                version,
            })
        })
    }
}

impl Provider for RedbProvider {
    const NAME: &'static str = "redb";
    /// Durable, with every operation but history (see `capabilities`) and
    /// a change feed (its feed reports only the removals of expired keys,
    /// and only in this process: it starts empty at each open). Reads are
    /// MVCC snapshots, with the writes not yet applied merged in, that never
    /// wait for a writer (a few µs), so they run inline (a key count or a
    /// store list may wait for the applier's current batch); a durable commit waits for an fsync,
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
            .union(CapabilityFlags::GROUP_WRITES)
            .union(CapabilityFlags::TTL)
            .union(CapabilityFlags::EXPIRY_FEED),
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
        self.entry_in(&self.view()?, store_id, key)
    }

    fn read(
        &self,
        store_id: &str,
        key: &str,
        visit: &mut dyn FnMut(&[u8]),
    ) -> ProviderResult<bool> {
        self.live_in(&self.view()?, store_id, key, |live| match live {
            Some((_, value)) => {
                visit(value);
                true
            }
            None => false,
        })
    }

    fn get_many(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<Entry>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let view = self.view()?;
        keys.iter()
            .map(|k| self.entry_in(&view, store_id, k))
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
        self.sweep_after(ops);
        let mut answers = self.shared.committer.submit_all(
            &self.shared.db,
            &self.shared.path,
            &[(store_id, ops)],
        );
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
        for unit in units {
            self.sweep_after(unit.ops);
        }
        let answers = self
            .shared
            .committer
            .submit_all(&self.shared.db, &self.shared.path, &jobs);
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

    /// Removals of expired keys only, recorded by the committer.
    fn change_head(&self) -> ProviderResult<u64> {
        Ok(self.shared.committer.expired.head())
    }

    /// Removals of expired keys only; waits on the calling thread.
    fn wait_changes(&self, after: u64, limit: u32, timeout_ms: u32) -> ProviderResult<ChangePage> {
        self.shared.committer.expired.wait(after, limit, timeout_ms)
    }

    fn expiries(&self, store_id: &str, keys: &[&str]) -> ProviderResult<Vec<Option<u64>>> {
        let view = self.view()?;
        keys.iter()
            .map(|key| {
                view.find(store_id, key, &self.shared.path, |entry| {
                    Ok(entry.and_then(|(_, _, expires_at_ms)| expires_at_ms))
                })
            })
            .collect()
    }

    fn list_keys(&self, store_id: &str) -> ProviderResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut corrupt = false;
        self.walk(
            &Span::store(store_id),
            false,
            usize::MAX,
            &mut |key, _, _| match std::str::from_utf8(key) {
                Ok(key) => keys.push(key.to_string()),
                Err(_) => corrupt = true,
            },
        )?;
        if corrupt {
            return Err(corrupt_key());
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
        let span = Span::within(store_id, &keys);
        self.walk(&span, scan.descending, scan.limit as usize, visit)
    }

    fn list_stores(&self) -> ProviderResult<Vec<String>> {
        self.settle()?;
        let txn = self.shared.db.begin_read().at(&self.shared.path)?;
        let stores = txn.open_table(STORES).at(&self.shared.path)?;
        let mut expired: std::collections::HashMap<String, u64> = Default::default();
        self.visit_expired(&txn, &mut |store| {
            *expired.entry(store.to_string()).or_default() += 1;
        })?;
        let mut ids = Vec::new();
        for row in stores.iter().at(&self.shared.path)? {
            let (store_id, count) = row.at(&self.shared.path)?;
            let store_id = store_id.value();
            if count.value() > expired.get(store_id).copied().unwrap_or(0) {
                ids.push(store_id.to_string());
            }
        }
        Ok(ids)
    }

    fn history(&self, store_id: &str, key: &str, limit: u32) -> ProviderResult<Vec<HistoryEntry>> {
        self.require_history("history")?;
        self.settle()?;
        history::history(&self.shared.db, &self.shared.path, store_id, key, limit)
    }

    fn get_version(
        &self,
        store_id: &str,
        key: &str,
        version: u64,
    ) -> ProviderResult<Option<Entry>> {
        self.require_history("get_version")?;
        self.settle()?;
        history::get_version(&self.shared.db, &self.shared.path, store_id, key, version)
    }
}

/// Ends the background sweeper, then checkpoints the journal when the
/// provider closes (after the applier applied every acknowledged write),
/// so that the next open has nothing to replay, and ends the applier. A failure
/// is logged: everything acknowledged is in the journal, and the next open
/// replays it. The database is dropped after this, with the provider's
/// only strong reference to it, which releases the file.
impl Drop for RedbProvider {
    fn drop(&mut self) {
        self.sweeper.stop();
        if let Err(err) = self
            .shared
            .committer
            .checkpoint(&self.shared.db, &self.shared.path)
        {
            tracing::warn!(path = %self.shared.path.display(), %err, "closing without a checkpoint; the next open replays the journal");
        }
        self.shared.committer.unapplied.stop();
        if let Some(applier) = self.applier.take() {
            // The applier catches its panics, so it ends normally.
            let _ = applier.join();
        }
        // The snapshot reads shared closes before the database does, so
        // redb's close sees no live reader.
        self.shared.committer.latest.forget();
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
