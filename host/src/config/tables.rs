//! The tables of a configuration file, as they are read.

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;
use toml::Spanned;

use crate::config::table_to_json;

/// `[provider]` or one `[[providers]]` entry: which library, and its configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    /// The name plugins route to with `provider = "<name>"`: required in
    /// `[[providers]]`, optional in `[provider]` (default [`DEFAULT_PROVIDER_NAME`](crate::runtime::DEFAULT_PROVIDER_NAME)).
    #[serde(default)]
    pub name: Option<String>,
    /// A provider name (`redb`, `memory`, or any `lib<name>.so`) or a path to a library.
    pub library: String,
    /// Where to look names up; default: beside the executable and the build output.
    #[serde(default)]
    pub providers_dir: Option<PathBuf>,
    /// The provider's own configuration, passed to it as JSON.
    #[serde(default)]
    pub config: Option<toml::Table>,
    /// Load the library even if other users could have replaced it
    /// (it is writable by them, or lies in a folder anyone may write).
    #[serde(default)]
    pub allow_writable_library: bool,
    /// How long a provider call that runs off the async workers may take,
    /// in milliseconds (default 30000).
    #[serde(default)]
    pub call_timeout_ms: Option<u64>,
}

/// `[host]`: tunables, all optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSection {
    /// This host's name in the owner records of its plugins (what a
    /// superseded instance names as its successor). Default: the
    /// `STATEPLUG_HOST_NAME` or `HOSTNAME` variable, else `/etc/hostname`.
    pub name: Option<String>,
    /// Events buffered per reaction before sources wait (back-pressure).
    pub channel_capacity: Option<usize>,
    /// How long a graceful stop waits for the plugins to end, and then for
    /// the last source checkpoints and the sync, in milliseconds.
    pub stop_timeout_ms: Option<u64>,
    /// How often source checkpoints are persisted, in milliseconds.
    pub checkpoint_interval_ms: Option<u64>,
    /// How often `stateplug run` logs progress, in seconds (default 5).
    pub progress_interval_secs: Option<u64>,
    /// Where `stateplug run` serves Prometheus metrics at `/metrics`
    /// (`"127.0.0.1:9464"`; port 0 picks a free port). Default: not served.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// `restart = { ... }` of a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartSection {
    /// Restarts before the host stops.
    pub max_restarts: u32,
    /// Wait before each restart, in milliseconds.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
}

fn default_backoff_ms() -> u64 {
    1000
}

/// A `[[source]]`, `[[reaction]]` or `[[bootstrap]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    /// The plugin id (for a bootstrap entry, use `source` instead).
    #[serde(default)]
    pub id: Option<String>,
    /// The source a bootstrap entry snapshots.
    #[serde(default)]
    pub source: Option<String>,
    /// The registered plugin kind.
    pub kind: String,
    /// Sources a reaction subscribes to.
    #[serde(default)]
    pub subscribe: Vec<String>,
    /// A source's restart policy (default: a failure stops the host).
    #[serde(default)]
    pub restart: Option<RestartSection>,
    /// The plugin's own settings.
    #[serde(default)]
    pub settings: Option<Spanned<toml::Table>>,
    /// The provider (a `[[providers]]` name) holding the plugin's state;
    /// default: the first provider.
    #[serde(default)]
    pub provider: Option<String>,
}

/// One configured provider with its name, as [`PipelineConfig::providers`] lists them.
#[derive(Debug, Clone)]
pub struct NamedProvider {
    /// The provider's name in the file.
    pub name: String,
    /// Its entry.
    pub section: ProviderSection,
    /// The line of its entry.
    pub line: usize,
}

impl NamedProvider {
    /// The provider's configuration as JSON (`{}` when absent).
    pub fn config_json(&self) -> serde_json::Value {
        table_to_json(self.section.config.as_ref())
    }

    /// How the host loads and opens the library.
    pub fn options(&self) -> crate::runtime::ProviderOptions {
        let mut options = crate::runtime::ProviderOptions::default();
        options.load.allow_writable_library = self.section.allow_writable_library;
        if let Some(ms) = self.section.call_timeout_ms {
            options.open.call_timeout = Duration::from_millis(ms.max(1));
        }
        options
    }
}

/// A whole pipeline configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// The state store provider (or use `providers`).
    #[serde(default)]
    pub provider: Option<Spanned<ProviderSection>>,
    /// Several named state store providers; the first is the default.
    #[serde(default)]
    pub providers: Vec<Spanned<ProviderSection>>,
    /// Host tunables.
    #[serde(default)]
    pub host: HostSection,
    /// Sources.
    #[serde(default, rename = "source")]
    pub sources: Vec<Spanned<PluginSection>>,
    /// Reactions.
    #[serde(default, rename = "reaction")]
    pub reactions: Vec<Spanned<PluginSection>>,
    /// Bootstrap providers.
    #[serde(default, rename = "bootstrap")]
    pub bootstraps: Vec<Spanned<PluginSection>>,
    #[serde(skip)]
    pub(crate) path: PathBuf,
    #[serde(skip)]
    pub(crate) text: String,
}
