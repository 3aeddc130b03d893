//! `file-tail`: emits each line of a file, follows appends.
//!
//! Position = the byte offset just past the line, so resuming at a
//! position means reading from that offset.

use std::{io::SeekFrom, path::PathBuf, sync::Arc, time::Duration};

use async_trait::async_trait;
use serde::Deserialize;
use stateplug::{plugin::PluginSpec, PluginError, PluginResult, Source, SourceContext};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Settings of a `file-tail` source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    path: PathBuf,
    #[serde(default = "default_poll_ms")]
    poll_ms: u64,
    #[serde(default = "default_durable")]
    durable: bool,
    #[serde(default = "default_follow")]
    follow: bool,
}

fn default_follow() -> bool {
    true
}

fn default_poll_ms() -> u64 {
    100
}

fn default_durable() -> bool {
    true
}

/// Emits each line of a file (without its newline), then waits for more.
#[derive(Debug, Clone)]
pub struct FileTail {
    id: String,
    path: PathBuf,
    poll: Duration,
    durable: bool,
    follow: bool,
}

impl FileTail {
    /// A source `id` tailing `path`, polling for appends every 100 ms.
    pub fn new(id: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        FileTail {
            id: id.into(),
            path: path.into(),
            poll: Duration::from_millis(default_poll_ms()),
            durable: true,
            follow: true,
        }
    }

    /// Finishes at the end of the file instead of waiting for appended lines.
    pub fn stop_at_end(mut self) -> Self {
        self.follow = false;
        self
    }

    /// Polls for appended lines every `poll`.
    pub fn poll_every(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }
}

pub(crate) fn from_spec(spec: &PluginSpec) -> Result<Arc<dyn Source>, String> {
    let s: Settings = crate::settings::parse(spec)?;
    Ok(Arc::new(FileTail {
        id: spec.id.clone(),
        path: s.path,
        poll: Duration::from_millis(s.poll_ms.max(1)),
        durable: s.durable,
        follow: s.follow,
    }))
}

#[async_trait]
impl Source for FileTail {
    fn id(&self) -> &str {
        &self.id
    }

    fn requires_durable_state(&self) -> bool {
        self.durable
    }

    async fn run(&self, ctx: SourceContext) -> PluginResult<()> {
        let mut offset = ctx.resume_position();
        let mut file = tokio::fs::File::open(&self.path).await.map_err(|e| {
            PluginError::msg(format!(
                "file-tail {}: cannot open {}: {e}",
                self.id,
                self.path.display()
            ))
        })?;
        let len = file.metadata().await?.len();
        if len < offset {
            return Err(PluginError::msg(format!(
                "file-tail {}: {} is {len} bytes, shorter than the checkpoint at byte {offset}; \
                 it was truncated or replaced. Clear the pipeline's state to start over",
                self.id,
                self.path.display()
            )));
        }
        file.seek(SeekFrom::Start(offset)).await?;
        tracing::info!(source = %self.id, path = %self.path.display(), offset, "tailing");
        let mut pending: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut chunk).await?;
            if n == 0 {
                if !self.follow {
                    return Ok(());
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.poll) => continue,
                    _ = ctx.stopped() => return Ok(()),
                }
            }
            pending.extend_from_slice(&chunk[..n]);
            let mut start = 0;
            while let Some(newline) = pending[start..].iter().position(|b| *b == b'\n') {
                let line = &pending[start..start + newline];
                offset += (newline + 1) as u64;
                ctx.emit(offset, line).await?;
                start += newline + 1;
            }
            // A partial last line waits for its newline.
            pending.drain(..start);
            if ctx.is_stopping() {
                return Ok(());
            }
        }
    }
}
