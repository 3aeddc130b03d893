//! The dump format, and writing a dump.
//!
//! # Format `stateplug-dump`, version 2
//!
//! UTF-8 text, one JSON object per line, every line ended by `\n`:
//!
//! ```text
//! {"format":"stateplug-dump","version":2,"created":"2025-01-31T12:00:00Z","provider":"redb","provider_version":"0.1.0","stores":["counts","lines"]}
//! {"store":"counts","key":"count/hello","value_b64":"Mw==","version":17}
//! {"store":"lines","key":"checkpoint","value_b64":"MTAyNA==","version":9,"expires_at_ms":1738329600000}
//! {"end":"stateplug-dump","entries":2,"stores":{"counts":1,"lines":1},"sha256":"5d41…"}
//! ```
//!
//! - **Header** (line 1): `format` is always `"stateplug-dump"`; `version` is
//!   the format version (a reader refuses versions it does not know);
//!   `created`, `provider` and `provider_version` describe where the dump
//!   came from; `stores` lists every store in the dump, also those with no
//!   entries (a restore empties those).
//! - **Entries**: one per key: `store`, `key`, `value_b64` (the value in
//!   standard base64 with padding, so any bytes survive) and `version` (the
//!   version the key had in the source, kept for reference and
//!   verification: a restore writes new versions in the target), and, for a
//!   key with a time to live, `expires_at_ms` (when it expires, unix
//!   milliseconds; a restore writes it with that same expiry). A store's
//!   entries are contiguous, stores come in header order, and within a
//!   store keys are strictly ascending in byte order.
//! - **Trailer** (last line): `end` is always `"stateplug-dump"`; `entries`
//!   is the number of entry lines; `stores` maps each store to its entry
//!   count; `sha256` is the lowercase hex SHA-256 of every byte of the file
//!   before the trailer line (the header and entry lines with their `\n`).
//!
//! Version 1 is version 2 without `expires_at_ms`: a restore reads both.
//!
//! A file without its trailer is truncated; a file whose checksum or counts
//! disagree, or any line that is not exactly one of the records above, is
//! damaged: [`restore_file`](super::restore_file) refuses it whole.
//!
//! Writing streams page by page, so a dump of a store larger than memory
//! needs only one page in memory. A dump is not a snapshot: writes made
//! while it runs may or may not be in it; stop the writers for an exact copy.

use std::{collections::BTreeMap, io::Write, sync::Arc};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::StateStore;

use super::{hash::hex, time, Monitor, OpsError, StoreWalk};

/// The `format` of the header and the `end` of the trailer.
pub const DUMP_FORMAT: &str = "stateplug-dump";
/// The format version this host writes.
pub const DUMP_VERSION: u32 = 2;

/// The format versions this host reads: version 1 is version 2 without expiries.
pub const DUMP_VERSIONS_READ: [u32; 2] = [1, 2];

/// The first line of a dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DumpHeader {
    /// Always [`DUMP_FORMAT`].
    pub format: String,
    /// The format version.
    pub version: u32,
    /// When the dump was written, RFC 3339 UTC.
    pub created: String,
    /// The source provider's name.
    pub provider: String,
    /// The source provider's version.
    pub provider_version: String,
    /// Every store in the dump, in the order their entries follow.
    pub stores: Vec<String>,
}

/// One entry line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DumpEntry {
    /// The store.
    pub store: String,
    /// The key.
    pub key: String,
    /// The value, standard base64 with padding.
    pub value_b64: String,
    /// The version the key had in the source.
    pub version: u64,
    /// When the key expires, unix milliseconds (absent: never; version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

/// The last line of a dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DumpTrailer {
    /// Always [`DUMP_FORMAT`].
    pub end: String,
    /// How many entry lines there are.
    pub entries: u64,
    /// Entry count per store.
    pub stores: BTreeMap<String, u64>,
    /// Lowercase hex SHA-256 of every byte before this line.
    pub sha256: String,
}

/// What a dump wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSummary {
    /// Each store with its entry count, in file order.
    pub stores: Vec<(String, u64)>,
    /// Entry lines written.
    pub entries: u64,
    /// The trailer's checksum.
    pub sha256: String,
    /// Bytes written, trailer included.
    pub bytes: u64,
}

/// The standard base64 engine the format uses.
pub(crate) fn base64() -> &'static base64::engine::GeneralPurpose {
    &base64::engine::general_purpose::STANDARD
}

/// One serialised line, `\n` included.
pub(crate) fn line<T: Serialize>(record: &T) -> String {
    // The records are structs of strings, integers and string maps, which
    // always serialise.
    let mut text = serde_json::to_string(record).unwrap_or_default();
    text.push('\n');
    text
}

/// The output of a dump: counts the bytes and hashes what precedes the trailer.
struct Sink<'o> {
    out: &'o mut (dyn Write + Send),
    hasher: Sha256,
    bytes: u64,
}

impl Sink<'_> {
    fn write(&mut self, text: &str) -> Result<(), OpsError> {
        self.bytes += text.len() as u64;
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| OpsError::io("cannot write the dump", e))
    }

    fn record(&mut self, text: &str) -> Result<(), OpsError> {
        self.hasher.update(text.as_bytes());
        self.write(text)
    }
}

/// Writes a dump of `stores` (every store but the reserved ones when
/// empty; see [`super::select_stores`]) from `store` to `out`, a page at a
/// time. When `monitor` asks to stop, stops after a page with
/// [`OpsError::Stopped`]: what was written has no trailer, so a restore
/// refuses it as truncated.
pub async fn dump(
    store: &Arc<dyn StateStore>,
    stores: &[String],
    out: &mut (dyn Write + Send),
    monitor: &dyn Monitor,
) -> Result<DumpSummary, OpsError> {
    let stores = super::select_stores(store, stores).await?;
    let mut keys = 0u64;
    for s in &stores {
        keys += store.key_count(s).await?;
    }
    monitor.begin(stores.len(), keys);
    let mut sink = Sink {
        out,
        hasher: Sha256::new(),
        bytes: 0,
    };
    let header = DumpHeader {
        format: DUMP_FORMAT.to_string(),
        version: DUMP_VERSION,
        created: time::format_unix(time::now_unix()),
        provider: store.info().name.clone(),
        provider_version: store.info().version.clone(),
        stores: stores.clone(),
    };
    sink.record(&line(&header))?;
    let mut counts = Vec::with_capacity(stores.len());
    let mut total = 0u64;
    for store_id in &stores {
        monitor.store(store_id);
        let mut n = 0u64;
        let mut walk = StoreWalk::new(store, store_id, "");
        while let Some(page) = walk.next_page_expiring().await? {
            let entries = page.len() as u64;
            for (e, expires_at_ms) in page {
                let record = DumpEntry {
                    store: store_id.clone(),
                    key: e.key,
                    value_b64: base64().encode(&e.value),
                    version: e.version,
                    expires_at_ms,
                };
                sink.record(&line(&record))?;
            }
            n += entries;
            monitor.advance(entries);
            if monitor.stop_requested() {
                return Err(OpsError::Stopped {
                    operation: "dump".to_string(),
                    done: format!(
                        "{} entries were written, without the trailer line: the dump is \
                         incomplete, and restore refuses it. Run the dump again",
                        total + n
                    ),
                });
            }
        }
        counts.push((store_id.clone(), n));
        total += n;
    }
    let sha256 = hex(&std::mem::take(&mut sink.hasher).finalize());
    let trailer = DumpTrailer {
        end: DUMP_FORMAT.to_string(),
        entries: total,
        stores: counts.iter().cloned().collect(),
        sha256: sha256.clone(),
    };
    sink.write(&line(&trailer))?;
    sink.out
        .flush()
        .map_err(|e| OpsError::io("cannot write the dump", e))?;
    Ok(DumpSummary {
        stores: counts,
        entries: total,
        sha256,
        bytes: sink.bytes,
    })
}
