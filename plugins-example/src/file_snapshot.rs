//! `file-snapshot`: the current lines of a file, for a reaction that
//! subscribes to a `file-tail` source of the same file for the first time.

use std::{path::PathBuf, sync::Arc};

use async_trait::async_trait;
use serde::Deserialize;
use stateplug::{plugin::PluginSpec, BootstrapProvider, PluginError, PluginResult, Snapshot};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    path: PathBuf,
}

/// Every complete line of a file; the snapshot's position is the offset
/// past the last complete line, as `file-tail` would report it.
#[derive(Debug, Clone)]
pub struct FileSnapshot {
    source: String,
    path: PathBuf,
}

impl FileSnapshot {
    /// A snapshot of `path` for source `source`.
    pub fn new(source: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        FileSnapshot {
            source: source.into(),
            path: path.into(),
        }
    }
}

pub(crate) fn from_spec(spec: &PluginSpec) -> Result<Arc<dyn BootstrapProvider>, String> {
    let s: Settings = crate::settings::parse(spec)?;
    Ok(Arc::new(FileSnapshot {
        source: spec.id.clone(),
        path: s.path,
    }))
}

#[async_trait]
impl BootstrapProvider for FileSnapshot {
    fn source_id(&self) -> &str {
        &self.source
    }

    async fn snapshot(&self) -> PluginResult<Snapshot> {
        let bytes = tokio::fs::read(&self.path).await.map_err(|e| {
            PluginError::msg(format!(
                "file-snapshot: cannot read {}: {e}",
                self.path.display()
            ))
        })?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let items = bytes[..complete]
            .split_inclusive(|b| *b == b'\n')
            .map(|line| line[..line.len() - 1].to_vec())
            .collect();
        Ok(Snapshot {
            position: complete as u64,
            items,
        })
    }
}
