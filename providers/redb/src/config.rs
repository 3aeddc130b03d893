//! The provider's JSON configuration.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use stateplug_provider_api::{parse_config, ProviderError, ProviderResult};

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
}

impl RedbConfig {
    /// Parses the JSON configuration and checks that `path` is given.
    pub fn parse(config_json: &str) -> ProviderResult<Self> {
        let config: RedbConfig = parse_config("redb", config_json)?;
        config.database_file()?;
        Ok(config)
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
    fn unknown_fields_are_refused() {
        let err = RedbConfig::parse(r#"{"path": "x", "cache": 1}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT);
        assert!(err.message().contains("unknown field `cache`"), "{err}");
    }
}
