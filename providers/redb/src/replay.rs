//! Opening a journaled file: the records the last checkpoint does not
//! cover are applied to the redb file in one durable commit, which also
//! records their last `seq`, so a crash during replay leaves the file as
//! it was and the next open replays the same records again.

use std::path::Path;
use std::time::Instant;

use redb::Database;
use stateplug_provider_api::{ProviderError, ProviderResult, StoreWriter as _};

use crate::errors::AtPath;
use crate::journal::Journal;
use crate::record::{parse, Effect};
use crate::writer::Tables;

/// What a replay applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Replayed {
    pub(crate) records: u64,
    pub(crate) bytes: u64,
}

/// Applies the journal's pending records to `db` (the file `path`) and
/// checkpoints them; logs at info how much it replayed and how long it took.
pub(crate) fn replay(
    db: &Database,
    path: &Path,
    journal: &mut Journal,
) -> ProviderResult<Replayed> {
    let began = Instant::now();
    let pending = journal.pending()?;
    let Some(last) = pending.last().map(|p| p.seq) else {
        return Ok(Replayed::default());
    };
    let first = pending.first().map_or(last, |p| p.seq);
    if first != journal.last_seq() + 1 {
        return Err(ProviderError::storage(format!(
            "redb database file {}: its journal starts at record {first} but the file holds \
             records up to {} only; records are missing, so the journal belongs to another copy \
             of this file. Restore the file and its `.journal` together from one backup",
            path.display(),
            journal.last_seq()
        )));
    }
    let txn = db.begin_write().at(path)?;
    let mut replayed = Replayed::default();
    {
        let mut tables = Tables::open_for_records(&txn, path)?;
        for record in &pending {
            apply_record(&mut tables, path, record.seq, &record.payload)?;
            replayed.records += 1;
            replayed.bytes += record.payload.len() as u64;
        }
        tables.set_journal_seq(last)?;
        tables.finish()?;
    }
    txn.commit().at(path)?;
    journal.replayed(last);
    tracing::info!(
        path = %path.display(),
        records = replayed.records,
        bytes = replayed.bytes,
        elapsed_ms = began.elapsed().as_secs_f64() * 1e3,
        "replayed the redb journal"
    );
    Ok(replayed)
}

/// Applies journal record `seq` (its `payload`) to `tables`, giving back
/// the versions it acknowledged. Used by replay and by the applier of
/// deferred groups (see [`crate::unapplied`]), so both apply a record alike.
pub(crate) fn apply_record(
    tables: &mut Tables<'_>,
    path: &Path,
    seq: u64,
    payload: &[u8],
) -> ProviderResult<()> {
    let units = parse(payload).map_err(|what| {
        ProviderError::storage(format!(
            "redb database file {}: journal record {seq} has a valid checksum but is \
             malformed ({what}); restore from backup",
            path.display(),
        ))
    })?;
    for unit in units {
        let mut writer = tables.writer_at(unit.store_id, unit.revision)?;
        for effect in unit.effects {
            match effect {
                Effect::Put(key, value) => {
                    writer.put(key, value, unit.revision)?;
                }
                Effect::PutExpiring(key, value, at) => {
                    writer.put_expiring(key, value, unit.revision, Some(at))?;
                }
                Effect::Delete(key) => {
                    writer.delete(key)?;
                }
                Effect::Clear => writer.clear(&mut |_, _| {})?,
            }
        }
        writer.finish()?;
    }
    Ok(())
}
