//! The provider's JSON configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use stateplug_provider_api::{parse_config, ProviderError, ProviderResult};

use crate::journal::JournalLimits;

/// Default size of the journal file (`journal_bytes`).
pub const DEFAULT_JOURNAL_BYTES: u64 = 64 << 20;
/// Default bytes journaled between checkpoints (`checkpoint_bytes`).
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 16 << 20;
/// Default longest time between checkpoints (`checkpoint_interval_ms`).
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 1000;
/// The smallest journal accepted (`journal_bytes`).
pub const MIN_JOURNAL_BYTES: u64 = 64 << 10;
/// Default time between two looks of the background sweeper for expired
/// keys (`sweep_interval_ms`).
pub const DEFAULT_SWEEP_INTERVAL_MS: u64 = 1000;

/// The configuration of the redb provider, read from JSON; unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedbConfig {
    /// The database file (required). It and its parent folder are created if missing.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The size of redb's page cache, in bytes; redb's default when absent.
    #[serde(default)]
    pub cache_size_bytes: Option<usize>,
    /// How many versions of each key to keep for `history` and
    /// `get_version`, deletions included. Absent: the file keeps the
    /// retention it was last opened with (off for a new file); `0` turns
    /// history off and discards what the file retained.
    #[serde(default)]
    pub history_versions: Option<u32>,
    /// Make a new database in a file that exists but is empty (0 bytes).
    /// Off by default: the provider never leaves an empty file behind (it
    /// creates files whole), so an empty one is damage, refused rather than
    /// silently started afresh.
    #[serde(default)]
    pub initialise_empty_file: bool,
    /// Make writes durable through a write-ahead journal beside the file
    /// (`<path>.journal`): one append and one sync per group commit, the
    /// redb file brought up to date by periodic checkpoints. On unless
    /// `false`; off, every group commit is a durable redb commit. A journal
    /// left by an earlier open is replayed either way.
    #[serde(default)]
    pub journal: Option<bool>,
    /// The journal file's size in bytes, at least 64 KiB; default 64 MiB.
    /// It bounds the replay at open (replay reads the whole journal).
    #[serde(default)]
    pub journal_bytes: Option<u64>,
    /// Checkpoint after this many journaled bytes, at most `journal_bytes`;
    /// default 16 MiB. It bounds the writes held in memory between
    /// checkpoints: as non-durable redb commits, and, until the applier
    /// has applied them, as journal records and their published entries
    /// (about three times this for small values).
    #[serde(default)]
    pub checkpoint_bytes: Option<u64>,
    /// Checkpoint at the first write this many milliseconds after the last
    /// checkpoint; default 1000.
    #[serde(default)]
    pub checkpoint_interval_ms: Option<u64>,
    /// How often, in milliseconds, the background sweeper looks for expired
    /// keys to remove while no writes come; at least 1, default 1000.
    #[serde(default)]
    pub sweep_interval_ms: Option<u64>,
}

impl RedbConfig {
    /// Parses the JSON configuration and checks that `path` is given.
    pub fn parse(config_json: &str) -> ProviderResult<Self> {
        let config: RedbConfig = parse_config("redb", config_json)?;
        config.database_file()?;
        config.journal_limits()?;
        config.sweep_interval()?;
        Ok(config)
    }

    /// The time between two looks of the background sweeper, or
    /// `INVALID_ARGUMENT` naming `sweep_interval_ms` and the fix when it is 0.
    pub(crate) fn sweep_interval(&self) -> ProviderResult<Duration> {
        match self.sweep_interval_ms.unwrap_or(DEFAULT_SWEEP_INTERVAL_MS) {
            0 => Err(ProviderError::invalid_argument(format!(
                "redb provider configuration: `sweep_interval_ms` is 0; set it to at least 1 \
                 (milliseconds between looks for expired keys; default \
                 {DEFAULT_SWEEP_INTERVAL_MS})"
            ))),
            ms => Ok(Duration::from_millis(ms)),
        }
    }

    /// The journal's limits, or `INVALID_ARGUMENT` naming the field and
    /// the fix when they contradict each other.
    pub(crate) fn journal_limits(&self) -> ProviderResult<JournalLimits> {
        let capacity = self.journal_bytes.unwrap_or(DEFAULT_JOURNAL_BYTES);
        if capacity < MIN_JOURNAL_BYTES {
            return Err(ProviderError::invalid_argument(format!(
                "redb provider configuration: `journal_bytes` is {capacity}, below the minimum \
                 of {MIN_JOURNAL_BYTES}; set it to at least {MIN_JOURNAL_BYTES} (default \
                 {DEFAULT_JOURNAL_BYTES})"
            )));
        }
        let checkpoint_bytes = self
            .checkpoint_bytes
            .unwrap_or(DEFAULT_CHECKPOINT_BYTES.min(capacity));
        if checkpoint_bytes > capacity {
            return Err(ProviderError::invalid_argument(format!(
                "redb provider configuration: `checkpoint_bytes` ({checkpoint_bytes}) exceeds \
                 `journal_bytes` ({capacity}); set it at most to `journal_bytes`"
            )));
        }
        Ok(JournalLimits {
            capacity,
            checkpoint_bytes,
            checkpoint_interval: Duration::from_millis(
                self.checkpoint_interval_ms
                    .unwrap_or(DEFAULT_CHECKPOINT_INTERVAL_MS),
            ),
        })
    }

    /// Whether writes go through the journal.
    pub(crate) fn journaled(&self) -> bool {
        self.journal.unwrap_or(true)
    }

    /// The database file, or `INVALID_ARGUMENT` naming `path` and the fix
    /// when it is missing or empty.
    pub fn database_file(&self) -> ProviderResult<&Path> {
        match &self.path {
            Some(path) if !path.as_os_str().is_empty() => Ok(path),
            _ => Err(ProviderError::invalid_argument(
                "redb provider configuration has no `path`: set it to the database file, \
                 e.g. {\"path\": \"/var/lib/stateplug/state.redb\"}",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateplug_provider_api::ErrorKind;

    #[test]
    fn path_and_cache_size_are_read() {
        let c = RedbConfig::parse(r#"{"path": "/tmp/x.redb", "cache_size_bytes": 1024}"#).unwrap();
        assert_eq!(c.database_file().unwrap(), Path::new("/tmp/x.redb"));
        assert_eq!(c.cache_size_bytes, Some(1024));
        assert!(!c.initialise_empty_file, "off unless asked for");
        let c = RedbConfig::parse(r#"{"path": "x", "initialise_empty_file": true}"#).unwrap();
        assert!(c.initialise_empty_file);
    }

    #[test]
    fn missing_or_empty_path_names_the_field_and_the_fix() {
        for json in ["", "{}", r#"{"path": ""}"#, r#"{"cache_size_bytes": 5}"#] {
            let err = RedbConfig::parse(json).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT, "{json}");
            assert!(err.message().contains("`path`"), "{err}");
            assert!(
                err.message().contains("set it to the database file"),
                "{err}"
            );
        }
    }

    #[test]
    fn history_versions_is_optional() {
        let c = RedbConfig::parse(r#"{"path": "x"}"#).unwrap();
        assert_eq!(c.history_versions, None);
        let c = RedbConfig::parse(r#"{"path": "x", "history_versions": 5}"#).unwrap();
        assert_eq!(c.history_versions, Some(5));
        let err = RedbConfig::parse(r#"{"path": "x", "history_versions": -1}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT, "{err}");
    }

    #[test]
    fn journal_limits_default_and_contradictions_are_refused() {
        let c = RedbConfig::parse(r#"{"path": "x"}"#).unwrap();
        assert!(c.journaled());
        let limits = c.journal_limits().unwrap();
        assert_eq!(limits.capacity, DEFAULT_JOURNAL_BYTES);
        assert_eq!(limits.checkpoint_bytes, DEFAULT_CHECKPOINT_BYTES);
        assert_eq!(limits.checkpoint_interval, Duration::from_secs(1));
        let c = RedbConfig::parse(r#"{"path": "x", "journal": false, "journal_bytes": 100000}"#)
            .unwrap();
        assert!(!c.journaled());
        assert_eq!(c.journal_limits().unwrap().checkpoint_bytes, 100000);
        let err = RedbConfig::parse(r#"{"path": "x", "journal_bytes": 10}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT);
        assert!(err.message().contains("`journal_bytes` is 10"), "{err}");
        let err = RedbConfig::parse(
            r#"{"path": "x", "journal_bytes": 100000, "checkpoint_bytes": 200000}"#,
        )
        .unwrap_err();
        assert!(
            err.message()
                .contains("`checkpoint_bytes` (200000) exceeds"),
            "{err}"
        );
    }

    #[test]
    fn sweep_interval_defaults_and_zero_is_refused() {
        let c = RedbConfig::parse(r#"{"path": "x"}"#).unwrap();
        assert_eq!(
            c.sweep_interval().unwrap(),
            Duration::from_millis(DEFAULT_SWEEP_INTERVAL_MS)
        );
        let c = RedbConfig::parse(r#"{"path": "x", "sweep_interval_ms": 5}"#).unwrap();
        assert_eq!(c.sweep_interval().unwrap(), Duration::from_millis(5));
        let err = RedbConfig::parse(r#"{"path": "x", "sweep_interval_ms": 0}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT);
        assert!(err.message().contains("`sweep_interval_ms` is 0"), "{err}");
        assert!(err.message().contains("set it to at least 1"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = RedbConfig::parse(r#"{"path": "x", "cache": 1}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT);
        assert!(err.message().contains("unknown field `cache`"), "{err}");
    }
}
