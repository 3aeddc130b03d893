//! Copying stores between two providers, resumably, then verifying them.
//!
//! For each store, the source and the target are walked side by side in
//! key order (both walks are paged, so memory holds a page of each and one
//! batch): a key missing from the target or holding another value is
//! written (`set_many` batches), a target key the source does not have is
//! deleted (`delete_many` batches), an equal key is left alone. So the
//! copy is idempotent: a run interrupted at any point and run again writes
//! only what is still missing or different, removes keys deleted from the
//! source meanwhile, and ends with the target store equal to the source
//! store. Then both sides are digested ([`ContentHash`](super::ContentHash):
//! key count and SHA-256 over the ordered keys and values) and compared.
//!
//! Expiries are copied: a key with a time to live expires in the target
//! when it would have in the source (a target without `TTL` is refused
//! before a key with an expiry is written), and a key equal in value but
//! not in expiry is written again. Versions are not copied: the target
//! gives its own. Writes to the source
//! while a migration runs may be missed; verification then reports the
//! store as different and a second run copies the rest. Stop the writers
//! for a migration that must verify on the first run.

use std::{cmp::Ordering, collections::VecDeque, ops::ControlFlow, sync::Arc};

use crate::store::StateStore;

use super::{
    digest_store,
    expiring::{put_expiring, Expiring, ExpiringPut},
    locks::after_release,
    select_stores, LockRequest, LockSet, Monitor, OpsError, StoreWalk,
};

/// Most value bytes in one `set_many`.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// How to migrate.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The stores to copy; empty: every store of the source (reserved ones excepted).
    pub stores: Vec<String>,
    /// Most keys per `set_many` / `delete_many` (also bounded by the providers' limits).
    pub batch_keys: usize,
    /// The lock taken on every store copied, in the source and in the target.
    pub lock: LockRequest,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            stores: Vec::new(),
            batch_keys: 500,
            lock: LockRequest::new("migrate"),
        }
    }
}

/// One store's migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreMigration {
    /// The store.
    pub store_id: String,
    /// Keys written to the target (missing or different there).
    pub written: u64,
    /// Keys deleted from the target (not in the source).
    pub deleted: u64,
    /// Keys already equal in the target.
    pub unchanged: u64,
    /// Keys in the source, when verified.
    pub source_keys: u64,
    /// Keys in the target, when verified.
    pub target_keys: u64,
    /// The source's content hash.
    pub source_sha256: String,
    /// The target's content hash.
    pub target_sha256: String,
}

impl StoreMigration {
    /// Whether both sides hold the same keys and values.
    pub fn verified(&self) -> bool {
        self.source_keys == self.target_keys && self.source_sha256 == self.target_sha256
    }
}

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrateReport {
    /// Every store, in the order copied.
    pub stores: Vec<StoreMigration>,
}

impl MigrateReport {
    /// Whether every store verified equal.
    pub fn verified(&self) -> bool {
        self.stores.iter().all(StoreMigration::verified)
    }
}

/// Copies the selected stores from `from` to `to` and verifies them; see
/// the [module documentation](self). Holds the locks of every store copied
/// in both providers while it runs. Refuses a target that is the source
/// itself (the same file or table, however configured: the target shows
/// the locks just taken in the source). Stops between batches when
/// `monitor` asks ([`OpsError::Stopped`]); run again, it resumes.
pub async fn migrate(
    from: &Arc<dyn StateStore>,
    to: &Arc<dyn StateStore>,
    options: &MigrateOptions,
    monitor: &dyn Monitor,
) -> Result<MigrateReport, OpsError> {
    let stores = select_stores(from, &options.stores).await?;
    let mut source_locks = LockSet::acquire(from, &stores, &options.lock).await?;
    let target = match source_locks.is_held_in(to).await {
        Ok(false) => LockSet::acquire(to, &stores, &options.lock).await,
        Ok(true) => Err(OpsError::Invalid(format!(
            "source and target are the same storage: provider {} answers for both (the \
             target holds the locks just taken in the source); migrate copies from one place \
             to another, so name a different target (another file, database or table)",
            to.info().name
        ))),
        Err(e) => Err(e),
    };
    let mut target_locks = match target {
        Ok(locks) => locks,
        Err(e) => return after_release(Err(e), source_locks.release().await),
    };
    let outcome = run(
        from,
        to,
        &stores,
        options,
        monitor,
        &mut source_locks,
        &mut target_locks,
    )
    .await;
    let released = source_locks
        .release()
        .await
        .and(target_locks.release().await);
    after_release(outcome, released)
}

async fn run(
    from: &Arc<dyn StateStore>,
    to: &Arc<dyn StateStore>,
    stores: &[String],
    options: &MigrateOptions,
    monitor: &dyn Monitor,
    source_locks: &mut LockSet,
    target_locks: &mut LockSet,
) -> Result<MigrateReport, OpsError> {
    let mut total = 0u64;
    for s in stores {
        total += from.key_count(s).await?;
    }
    monitor.begin(stores.len(), total);
    let batch_keys = options
        .batch_keys
        .clamp(1, to.capabilities().limits().max_batch_ops.max(1) as usize);
    let mut report = MigrateReport::default();
    for store_id in stores {
        if monitor.stop_requested() {
            return Err(stopped(&report, stores, None));
        }
        monitor.store(store_id);
        let mut copy = Copy {
            to,
            store_id,
            batch_keys,
            puts: Vec::new(),
            put_bytes: 0,
            deletes: Vec::new(),
            result: StoreMigration {
                store_id: store_id.clone(),
                written: 0,
                deleted: 0,
                unchanged: 0,
                source_keys: 0,
                target_keys: 0,
                source_sha256: String::new(),
                target_sha256: String::new(),
            },
        };
        if copy
            .sync(from, monitor, source_locks, target_locks)
            .await?
            .is_break()
        {
            return Err(stopped(&report, stores, Some(&copy.result)));
        }
        let mut result = copy.result;
        monitor.verifying(store_id);
        let source = digest_store(from, store_id).await?;
        let target = digest_store(to, store_id).await?;
        result.source_keys = source.keys;
        result.source_sha256 = source.sha256;
        result.target_keys = target.keys;
        result.target_sha256 = target.sha256;
        monitor.store_done(&result);
        report.stores.push(result);
    }
    Ok(report)
}

/// The stop of a migration that finished the stores in `report` and was
/// copying `partial` (if any) of `stores`.
fn stopped(
    report: &MigrateReport,
    stores: &[String],
    partial: Option<&StoreMigration>,
) -> OpsError {
    let mut done = Vec::new();
    if !report.stores.is_empty() {
        let ids: Vec<String> = report
            .stores
            .iter()
            .map(|s| format!("{:?}", s.store_id))
            .collect();
        done.push(format!("copied and checked {}", ids.join(", ")));
    }
    if let Some(p) = partial {
        done.push(format!(
            "store {:?} is partly copied ({} keys written, {} deleted so far)",
            p.store_id, p.written, p.deleted
        ));
    }
    let started = report.stores.len() + usize::from(partial.is_some());
    let untouched = stores.len().saturating_sub(started);
    if untouched > 0 {
        done.push(format!(
            "{untouched} of {} stores not started",
            stores.len()
        ));
    }
    if done.is_empty() {
        done.push("nothing was copied".to_string());
    }
    OpsError::Stopped {
        operation: "migrate".to_string(),
        done: format!(
            "{}; the locks are released. Run the same migrate again: it resumes, copying only \
             what is still missing or different, and verifies",
            done.join("; ")
        ),
    }
}

/// The pending writes of one store's copy.
struct Copy<'a> {
    to: &'a Arc<dyn StateStore>,
    store_id: &'a str,
    batch_keys: usize,
    puts: Vec<ExpiringPut>,
    put_bytes: usize,
    deletes: Vec<String>,
    result: StoreMigration,
}

/// Refills `buf` from `walk` when it is empty.
async fn fill(walk: &mut StoreWalk, buf: &mut VecDeque<Expiring>) -> Result<(), OpsError> {
    if buf.is_empty() {
        if let Some(page) = walk.next_page_expiring().await? {
            buf.extend(page);
        }
    }
    Ok(())
}

impl Copy<'_> {
    /// Walks both sides in key order and makes the target equal to the
    /// source; breaks off after a batch when `monitor` asks to stop.
    ///
    /// Writes never disturb the target's walk: every key written or deleted
    /// is at or before the last key of the target page already read, and the
    /// next page starts after that key.
    async fn sync(
        &mut self,
        from: &Arc<dyn StateStore>,
        monitor: &dyn Monitor,
        source_locks: &mut LockSet,
        target_locks: &mut LockSet,
    ) -> Result<ControlFlow<()>, OpsError> {
        let page = self.batch_keys as u32;
        let mut source = StoreWalk::new(from, self.store_id, "").page_size(page);
        let mut target = StoreWalk::new(self.to, self.store_id, "").page_size(page);
        let (mut src, mut dst) = (VecDeque::new(), VecDeque::new());
        let mut examined = 0u64;
        loop {
            fill(&mut source, &mut src).await?;
            fill(&mut target, &mut dst).await?;
            let order = match (src.front(), dst.front()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(a), Some(b)) => a.0.key.cmp(&b.0.key),
            };
            match order {
                Ordering::Less => {
                    if let Some(a) = src.pop_front() {
                        self.put(a);
                        examined += 1;
                    }
                }
                Ordering::Greater => {
                    if let Some(b) = dst.pop_front() {
                        self.deletes.push(b.0.key);
                    }
                }
                Ordering::Equal => {
                    if let (Some(a), Some(b)) = (src.pop_front(), dst.pop_front()) {
                        if a.0.value == b.0.value && a.1 == b.1 {
                            self.result.unchanged += 1;
                        } else {
                            self.put(a);
                        }
                        examined += 1;
                    }
                }
            }
            if self.puts.len() >= self.batch_keys
                || self.put_bytes >= MAX_BATCH_BYTES
                || self.deletes.len() >= self.batch_keys
            {
                self.flush().await?;
                monitor.advance(std::mem::take(&mut examined));
                if monitor.stop_requested() {
                    return Ok(ControlFlow::Break(()));
                }
                source_locks.keep_alive().await?;
                target_locks.keep_alive().await?;
            }
        }
        self.flush().await?;
        monitor.advance(examined);
        Ok(ControlFlow::Continue(()))
    }

    fn put(&mut self, (entry, expires_at_ms): Expiring) {
        self.put_bytes += entry.key.len() + entry.value.len();
        self.puts.push((entry.key, entry.value, expires_at_ms));
    }

    async fn flush(&mut self) -> Result<(), OpsError> {
        if !self.puts.is_empty() {
            let puts = std::mem::take(&mut self.puts);
            let n = puts.len() as u64;
            put_expiring(self.to, self.store_id, &puts).await?;
            self.result.written += n;
            self.put_bytes = 0;
        }
        if !self.deletes.is_empty() {
            let deletes = std::mem::take(&mut self.deletes);
            let keys: Vec<&str> = deletes.iter().map(String::as_str).collect();
            self.to.delete_many(self.store_id, &keys).await?;
            self.result.deleted += keys.len() as u64;
        }
        Ok(())
    }
}
