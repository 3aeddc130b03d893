//! Reading retained versions from the `HISTORY` table (written by
//! [`StoreWriter`](crate::writer::StoreWriter) when history is on).

use std::path::Path;

use redb::{Database, ReadableDatabase};
use stateplug_provider_api::{Entry, HistoryEntry, ProviderResult};

use crate::encoding::{decode_value, entry_key};
use crate::errors::AtPath;
use crate::schema::{key_history, ENTRIES, HISTORY};

/// The retained versions of `key`, newest first, at most `limit`.
/// A key never written, or an unknown store, has none.
pub(crate) fn history(
    db: &Database,
    path: &Path,
    store_id: &str,
    key: &str,
    limit: u32,
) -> ProviderResult<Vec<HistoryEntry>> {
    let txn = db.begin_read().at(path)?;
    let table = txn.open_table(HISTORY).at(path)?;
    let mut out = Vec::new();
    for row in table
        .range(key_history(store_id, key))
        .at(path)?
        .rev()
        .take(limit as usize)
    {
        let (k, v) = row.at(path)?;
        out.push(HistoryEntry {
            version: k.value().2,
            value: v.value().map(<[u8]>::to_vec),
        });
    }
    Ok(out)
}

/// The value `key` had at `version`: the current entry if it is at that
/// version, else the retained row; `None` if that version was a deletion,
/// was pruned, or never existed.
pub(crate) fn get_version(
    db: &Database,
    path: &Path,
    store_id: &str,
    key: &str,
    version: u64,
) -> ProviderResult<Option<Entry>> {
    let txn = db.begin_read().at(path)?;
    let entries = txn.open_table(ENTRIES).at(path)?;
    if let Some(current) = entries.get(entry_key(store_id, key).as_slice()).at(path)? {
        let (at, value) = decode_value(current.value())?;
        if at == version {
            return Ok(Some(Entry {
                value: value.to_vec(),
                version,
            }));
        }
    }
    let table = txn.open_table(HISTORY).at(path)?;
    let found = table.get((store_id, key, version)).at(path)?;
    Ok(found.and_then(|row| {
        row.value().map(|value| Entry {
            value: value.to_vec(),
            version,
        })
    }))
}
