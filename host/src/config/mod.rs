//! The pipeline configuration file (TOML): the provider, host settings, and
//! the plugins. Unknown or misspelt fields are errors naming the line.
//!
//! ```toml
//! [provider]
//! library = "redb"                 # a name looked up in the providers folder, or a path to a .so
//! config = { path = "data/state.redb" }
//!
//! [[source]]
//! id = "lines"
//! kind = "file-tail"
//! settings = { path = "data/input.txt" }
//!
//! [[reaction]]
//! id = "counts"
//! kind = "word-count"
//! subscribe = ["lines"]
//! ```
//!
//! Several providers may serve one host: instead of `[provider]`, give
//! `[[providers]]` entries, each with a `name`, and route a plugin to one with
//! `provider = "<name>"` (default: the first entry).
//!
//! ```toml
//! [[providers]]
//! name = "durable"
//! library = "redb"
//! config = { path = "data/state.redb" }
//!
//! [[providers]]
//! name = "scratch"
//! library = "memory"
//!
//! [[reaction]]
//! id = "counts"
//! kind = "word-count"
//! subscribe = ["lines"]
//! provider = "scratch"
//! ```
//!
//! Relative paths are relative to the directory the command runs in.

use crate::runtime::DEFAULT_PROVIDER_NAME;
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;
use toml::Spanned;

use crate::{
    plugin::{PluginRegistry, PluginSpec},
    runtime::{FailurePolicy, Host, HostBuilder},
};

/// A configuration problem, naming the file, the line where known, and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not valid TOML, or does not fit the format, at a known place.
    #[error("invalid configuration {path}, line {line}, column {column}: {message}\n{excerpt}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// The column (1-based, in characters).
        column: usize,
        /// What is wrong, on one line.
        message: String,
        /// The line quoted, with the place marked under it.
        excerpt: String,
    },
    /// The file does not fit the format, in a way no one line shows.
    #[error("invalid configuration {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong and the fix.
        message: String,
    },
    /// A plugin's settings were refused by the plugin.
    #[error("invalid configuration {path}, line {line}: {what}: {message}")]
    Plugin {
        /// The file.
        path: PathBuf,
        /// The line of the plugin's entry.
        line: usize,
        /// Which plugin.
        what: String,
        /// The plugin's message.
        message: String,
    },
    /// A provider entry, or a plugin's `provider`, is wrong.
    #[error("invalid configuration {path}, line {line}: {message}")]
    Provider {
        /// The file.
        path: PathBuf,
        /// The line of the entry.
        line: usize,
        /// What is wrong and the fix.
        message: String,
    },
    /// The provider library could not be found.
    #[error("invalid configuration {path}: provider library {name:?} not found; looked for {looked}. Build it (cargo build --release) or give its path")]
    ProviderNotFound {
        /// The file.
        path: PathBuf,
        /// The name given.
        name: String,
        /// Where it looked.
        looked: String,
    },
}

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
    /// Events buffered per reaction before sources wait (back-pressure).
    pub channel_capacity: Option<usize>,
    /// How long a graceful stop waits for each plugin, in milliseconds.
    pub stop_timeout_ms: Option<u64>,
    /// How often source checkpoints are persisted, in milliseconds.
    pub checkpoint_interval_ms: Option<u64>,
    /// How often `stateplug run` logs progress, in seconds (default 5).
    pub progress_interval_secs: Option<u64>,
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
    path: PathBuf,
    #[serde(skip)]
    text: String,
}

impl PipelineConfig {
    /// Reads and parses a configuration file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text, path)
    }

    /// Parses configuration text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut config: PipelineConfig =
            toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        config.path = path.to_path_buf();
        config.text = text.to_string();
        config.check_providers()?;
        config.check_plugins()?;
        Ok(config)
    }

    /// Checks that plugin ids are unique and that every source a reaction
    /// or bootstrap entry names is configured, naming the entry's line.
    fn check_plugins(&self) -> Result<(), ConfigError> {
        let mut ids: Vec<(&str, &str, usize)> = Vec::new();
        let kinds = [("source", &self.sources), ("reaction", &self.reactions)];
        for (section, entries) in kinds {
            for entry in entries {
                let Some(id) = entry.get_ref().id.as_deref() else {
                    continue;
                };
                let line = self.line_of(entry.span().start);
                if let Some((_, first, first_line)) = ids.iter().find(|(seen, ..)| *seen == id) {
                    return Err(self.plugin_error(
                        entry,
                        format!("{section} {id:?}"),
                        format!(
                            "the id {id:?} is already used by the {first} on line {first_line}; \
                             every source and reaction needs its own id (it is also its store_id)"
                        ),
                    ));
                }
                ids.push((id, section, line));
            }
        }
        let sources: Vec<&str> = self
            .sources
            .iter()
            .filter_map(|s| s.get_ref().id.as_deref())
            .collect();
        let known = || {
            if sources.is_empty() {
                "none".to_string()
            } else {
                sources.join(", ")
            }
        };
        for entry in &self.reactions {
            let reaction = entry.get_ref();
            if let Some(missing) = reaction
                .subscribe
                .iter()
                .find(|s| !sources.contains(&s.as_str()))
            {
                let id = reaction.id.as_deref().unwrap_or(&reaction.kind);
                return Err(self.plugin_error(
                    entry,
                    format!("reaction {id:?}"),
                    format!(
                        "subscribes to source {missing:?}, which is not configured; \
                         configured sources: {}",
                        known()
                    ),
                ));
            }
        }
        for entry in &self.bootstraps {
            let bootstrap = entry.get_ref();
            if let Some(source) = bootstrap.source.as_deref() {
                if !sources.contains(&source) {
                    return Err(self.plugin_error(
                        entry,
                        format!("bootstrap {:?}", bootstrap.kind),
                        format!(
                            "snapshots source {source:?}, which is not configured; \
                             configured sources: {}",
                            known()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks the provider entries and every plugin's `provider`.
    fn check_providers(&self) -> Result<(), ConfigError> {
        let names: Vec<String> = self.providers()?.into_iter().map(|p| p.name).collect();
        let plugins = self
            .sources
            .iter()
            .chain(&self.reactions)
            .chain(&self.bootstraps);
        for entry in plugins {
            let plugin = entry.get_ref();
            let Some(name) = &plugin.provider else {
                continue;
            };
            let message = if plugin.source.is_some() {
                "a [[bootstrap]] entry holds no state; remove `provider`".to_string()
            } else if !names.contains(name) {
                format!(
                    "plugin {:?} names provider {name:?}, which is not configured; \
                     configured providers: {}",
                    plugin.id.as_deref().unwrap_or(&plugin.kind),
                    names.join(", ")
                )
            } else {
                continue;
            };
            return Err(ConfigError::Provider {
                path: self.path.clone(),
                line: self.line_of(entry.span().start),
                message,
            });
        }
        Ok(())
    }

    /// Every configured provider with its name, the default first: the
    /// `[provider]` table, or the `[[providers]]` entries in file order.
    pub fn providers(&self) -> Result<Vec<NamedProvider>, ConfigError> {
        let error = |entry: &Spanned<ProviderSection>, message: String| ConfigError::Provider {
            path: self.path.clone(),
            line: self.line_of(entry.span().start),
            message,
        };
        match (&self.provider, self.providers.is_empty()) {
            (None, true) => Err(ConfigError::Parse {
                path: self.path.clone(),
                message: "missing field `provider`: add a [provider] table, or \
                          [[providers]] entries each with a `name`"
                    .to_string(),
            }),
            (Some(single), false) => Err(error(
                single,
                "give either one [provider] table or [[providers]] entries, not both; \
                 move [provider] into a [[providers]] entry with a `name`"
                    .to_string(),
            )),
            (Some(single), true) => Ok(vec![NamedProvider {
                name: single
                    .get_ref()
                    .name
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PROVIDER_NAME.to_string()),
                section: single.get_ref().clone(),
                line: self.line_of(single.span().start),
            }]),
            (None, false) => {
                let mut out: Vec<NamedProvider> = Vec::new();
                for entry in &self.providers {
                    let section = entry.get_ref();
                    let name = match section.name.as_deref().map(str::trim) {
                        Some(name) if !name.is_empty() => name.to_string(),
                        _ => {
                            return Err(error(
                                entry,
                                "a [[providers]] entry needs `name = \"...\"`; plugins \
                                 route to it with provider = \"<name>\""
                                    .to_string(),
                            ))
                        }
                    };
                    if out.iter().any(|p| p.name == name) {
                        return Err(error(
                            entry,
                            format!("provider name {name:?} is used twice; give each [[providers]] entry its own name"),
                        ));
                    }
                    out.push(NamedProvider {
                        name,
                        section: section.clone(),
                        line: self.line_of(entry.span().start),
                    });
                }
                Ok(out)
            }
        }
    }

    /// The provider called `name`, or the default (first) one for `None`;
    /// an unknown name is an error listing the configured ones.
    pub fn provider_named(&self, name: Option<&str>) -> Result<NamedProvider, ConfigError> {
        let providers = self.providers()?;
        let found = match name {
            None => providers.first().cloned(),
            Some(name) => providers.iter().find(|p| p.name == name).cloned(),
        };
        found.ok_or_else(|| ConfigError::Parse {
            path: self.path.clone(),
            message: format!(
                "no provider named {:?}; configured providers: {}",
                name.unwrap_or(DEFAULT_PROVIDER_NAME),
                providers
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// The library file of a configured provider; see [`resolve_library`](crate::provider::resolve_library).
    pub fn library_path(&self, provider: &NamedProvider) -> Result<PathBuf, ConfigError> {
        crate::provider::resolve_library(
            &provider.section.library,
            provider.section.providers_dir.as_deref(),
        )
        .map_err(|looked| ConfigError::ProviderNotFound {
            path: self.path.clone(),
            name: provider.section.library.clone(),
            looked,
        })
    }

    /// Loads every provider library even if other users could have
    /// replaced it, as `allow_writable_library = true` in each provider
    /// table does (the command line's `--allow-writable-library`).
    pub fn allow_writable_libraries(&mut self) {
        for entry in self.provider.iter_mut().chain(self.providers.iter_mut()) {
            entry.get_mut().allow_writable_library = true;
        }
    }

    /// The file this configuration came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn plugin_error(
        &self,
        entry: &Spanned<PluginSection>,
        what: String,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Plugin {
            path: self.path.clone(),
            line: self.line_of(entry.span().start),
            what,
            message: message.into(),
        }
    }

    /// The default (first) provider's configuration as JSON (`{}` when absent).
    pub fn provider_config(&self) -> serde_json::Value {
        self.provider_named(None)
            .map(|p| p.config_json())
            .unwrap_or_else(|_| serde_json::json!({}))
    }

    /// The default (first) provider's library file; see [`resolve_library`](crate::provider::resolve_library).
    pub fn provider_path(&self) -> Result<PathBuf, ConfigError> {
        self.library_path(&self.provider_named(None)?)
    }

    /// How often `stateplug run` logs progress.
    pub fn progress_interval(&self) -> Duration {
        Duration::from_secs(self.host.progress_interval_secs.unwrap_or(5).max(1))
    }

    /// A builder with the provider library, the host settings, and every
    /// plugin built through `registry`. Plugin errors name the line.
    /// With several providers, each is added under its name, the first is
    /// the default, and plugins naming a `provider` are routed to it.
    pub fn builder(&self, registry: &PluginRegistry) -> Result<HostBuilder, ConfigError> {
        let mut builder = Host::builder();
        for provider in self.providers()? {
            let path = self.library_path(&provider)?;
            builder = builder.named_provider_library_with(
                &provider.name,
                path,
                provider.config_json(),
                provider.options(),
            );
        }
        for entry in self.sources.iter().chain(&self.reactions) {
            if let (Some(id), Some(provider)) = (&entry.get_ref().id, &entry.get_ref().provider) {
                builder = builder.route(id, provider);
            }
        }
        if let Some(n) = self.host.channel_capacity {
            builder = builder.channel_capacity(n);
        }
        if let Some(ms) = self.host.stop_timeout_ms {
            builder = builder.stop_timeout(Duration::from_millis(ms));
        }
        if let Some(ms) = self.host.checkpoint_interval_ms {
            builder = builder.checkpoint_interval(Duration::from_millis(ms));
        }
        for entry in &self.sources {
            let (spec, what) = self.spec(entry, "source")?;
            let factory = registry
                .source_factory(&entry.get_ref().kind)
                .map_err(|m| self.plugin_error(entry, what.clone(), m))?;
            let source = factory(&spec).map_err(|m| self.plugin_error(entry, what.clone(), m))?;
            let policy = match &entry.get_ref().restart {
                Some(r) => FailurePolicy::Restart {
                    max_restarts: r.max_restarts,
                    backoff: Duration::from_millis(r.backoff_ms),
                },
                None => FailurePolicy::StopHost,
            };
            builder = builder.shared_source(source, policy);
        }
        for entry in &self.reactions {
            let (spec, what) = self.spec(entry, "reaction")?;
            if entry.get_ref().restart.is_some() {
                return Err(self.plugin_error(
                    entry,
                    what,
                    "`restart` applies to sources only; a failing reaction stops the host",
                ));
            }
            let factory = registry
                .reaction_factory(&entry.get_ref().kind)
                .map_err(|m| self.plugin_error(entry, what.clone(), m))?;
            builder = builder.shared_reaction(
                factory(&spec).map_err(|m| self.plugin_error(entry, what.clone(), m))?,
            );
        }
        for entry in &self.bootstraps {
            let plugin = entry.get_ref();
            let what = format!("bootstrap {:?}", plugin.kind);
            let Some(source) = plugin.source.clone() else {
                return Err(self.plugin_error(
                    entry,
                    what,
                    "a [[bootstrap]] entry needs `source = \"<source id>\"`",
                ));
            };
            if plugin.id.is_some() || !plugin.subscribe.is_empty() || plugin.restart.is_some() {
                return Err(self.plugin_error(
                    entry,
                    what,
                    "a [[bootstrap]] entry takes only `source`, `kind` and `settings`",
                ));
            }
            let spec = PluginSpec {
                id: source,
                subscribe: Vec::new(),
                settings: table_to_json(plugin.settings.as_ref().map(|s| s.get_ref())),
            };
            let factory = registry
                .bootstrap_factory(&plugin.kind)
                .map_err(|m| self.plugin_error(entry, what.clone(), m))?;
            builder = builder.shared_bootstrap(
                factory(&spec).map_err(|m| self.plugin_error(entry, what.clone(), m))?,
            );
        }
        Ok(builder)
    }

    fn spec(
        &self,
        entry: &Spanned<PluginSection>,
        section: &str,
    ) -> Result<(PluginSpec, String), ConfigError> {
        let plugin = entry.get_ref();
        let Some(id) = plugin.id.clone() else {
            return Err(self.plugin_error(
                entry,
                format!("{section} {:?}", plugin.kind),
                "missing `id = \"...\"`",
            ));
        };
        let what = format!("{section} {id:?}");
        if plugin.source.is_some() {
            return Err(self.plugin_error(
                entry,
                what,
                "`source` belongs to [[bootstrap]] entries; use `subscribe` on reactions",
            ));
        }
        if section == "source" && !plugin.subscribe.is_empty() {
            return Err(self.plugin_error(
                entry,
                what,
                "a source does not subscribe; `subscribe` belongs to reactions",
            ));
        }
        let settings = table_to_json(plugin.settings.as_ref().map(|s| s.get_ref()));
        Ok((
            PluginSpec {
                id,
                subscribe: plugin.subscribe.clone(),
                settings,
            },
            what,
        ))
    }
}

/// A toml error as [`ConfigError::Invalid`] (line, column and a one-line
/// cause first), or [`ConfigError::Parse`] when it has no place.
fn toml_error(path: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let Some(span) = error.span() else {
        return ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
    };
    let start = floor_char_boundary(text, span.start);
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_text = text[line_start..line_end].trim_end_matches('\r');
    let line = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let marked = text[start..floor_char_boundary(text, span.end.min(line_end))]
        .chars()
        .count()
        .max(1);
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let excerpt = format!(
        "{pad} |\n{number} | {line_text}\n{pad} | {}{}",
        " ".repeat(column - 1),
        "^".repeat(marked)
    );
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message,
        excerpt,
    }
}

/// The largest char boundary of `text` at or before `offset`.
fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn table_to_json(table: Option<&toml::Table>) -> serde_json::Value {
    match table {
        // A TOML table always converts to JSON: TOML values are a subset (dates become strings).
        Some(t) => serde_json::to_value(t).unwrap_or(serde_json::Value::Null),
        None => serde_json::json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PipelineConfig, ConfigError> {
        PipelineConfig::parse(text, Path::new("pipeline.toml"))
    }

    #[test]
    fn a_misspelt_field_is_named_with_its_line() {
        let err = parse("[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"a\"\nkind = \"generator\"\nsetings = {}\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown field `setings`"), "{text}");
        assert!(text.contains("line 7"), "{text}");
        assert!(text.contains("pipeline.toml"), "{text}");
    }

    #[test]
    fn a_toml_error_names_its_line_and_column_on_the_first_line() {
        let err = parse("[provider]\nlibrary = \"memory\"\n\n[host\n").unwrap_err();
        let text = err.to_string();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("invalid configuration pipeline.toml, line 4, column 6: ")
                && first.contains("invalid table header"),
            "{text}"
        );
        assert!(text.contains("4 | [host\n  |      ^"), "{text}");
        let err = parse("[provider]\nlibrary = \"memory\"\n[host]\nchannel_capacity = \"big\"\n")
            .unwrap_err();
        let first = err.to_string().lines().next().unwrap().to_string();
        assert!(
            first.contains("line 4, column 20: invalid type: string \"big\""),
            "{first}"
        );
    }

    #[test]
    fn a_duplicate_plugin_id_names_both_lines() {
        let err = parse("[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\n\n[[reaction]]\nid = \"g\"\nkind = \"word-count\"\nsubscribe = [\"g\"]\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("pipeline.toml, line 8: reaction \"g\": the id \"g\" is already used by the source on line 4"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_source_names_the_line_and_the_known_sources() {
        let err = parse("[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\n\n[[reaction]]\nid = \"r\"\nkind = \"word-count\"\nsubscribe = [\"g\", \"ghost\"]\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("line 8: reaction \"r\": subscribes to source \"ghost\", which is not configured; configured sources: g"),
            "{text}"
        );
        let err = parse("[provider]\nlibrary = \"memory\"\n\n[[bootstrap]]\nsource = \"ghost\"\nkind = \"file-snapshot\"\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("line 4: bootstrap \"file-snapshot\": snapshots source \"ghost\"")
                && text.contains("configured sources: none"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_provider_section_is_named() {
        let err = parse("[[source]]\nid = \"a\"\nkind = \"x\"\n").unwrap_err();
        assert!(
            err.to_string().contains("missing field `provider`"),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_type_is_named_with_its_line() {
        let err = parse("[provider]\nlibrary = \"memory\"\n[host]\nchannel_capacity = \"big\"\n")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("line 4") && text.contains("invalid type"),
            "{text}"
        );
    }

    #[test]
    fn unknown_plugin_kinds_list_the_known_ones_with_the_line() {
        let config = parse(
            "[provider]\nlibrary = \"/x/lib.so\"\n\n[[source]]\nid = \"a\"\nkind = \"nope\"\n",
        )
        .unwrap();
        let mut registry = PluginRegistry::new();
        registry.source("generator", |_| Err("unused".into()));
        let err = config.builder(&registry).err().expect("refused");
        let text = err.to_string();
        assert!(
            text.contains("line 4")
                && text.contains("unknown kind \"nope\"")
                && text.contains("generator"),
            "{text}"
        );
    }

    #[test]
    fn provider_names_resolve_in_the_providers_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libstateplug_provider_redb.so"), b"").unwrap();
        let text = format!(
            "[provider]\nlibrary = \"redb\"\nproviders_dir = {:?}\n",
            dir.path()
        );
        let config = parse(&text).unwrap();
        assert_eq!(
            config.provider_path().unwrap(),
            dir.path().join("libstateplug_provider_redb.so")
        );
        let config = parse(&text.replace("\"redb\"", "\"nope\"")).unwrap();
        let err = config.provider_path().unwrap_err().to_string();
        assert!(
            err.contains("libstateplug_provider_nope.so") && err.contains("not found"),
            "{err}"
        );
    }

    #[test]
    fn provider_config_tables_become_json() {
        let config = parse("[provider]\nlibrary = \"redb\"\nconfig = { path = \"data/x.redb\", cache_size_bytes = 1024 }\n").unwrap();
        assert_eq!(
            config.provider_config(),
            serde_json::json!({ "path": "data/x.redb", "cache_size_bytes": 1024 })
        );
    }

    const TWO: &str = "[[providers]]\nname = \"durable\"\nlibrary = \"/x/libredb.so\"\nconfig = { path = \"a.redb\" }\n\n[[providers]]\nname = \"scratch\"\nlibrary = \"/x/libmemory.so\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\n\n[[reaction]]\nid = \"r\"\nkind = \"word-count\"\nsubscribe = [\"g\"]\nprovider = \"scratch\"\n";

    #[test]
    fn several_providers_are_listed_in_order_the_first_the_default() {
        let config = parse(TWO).unwrap();
        let providers = config.providers().unwrap();
        let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["durable", "scratch"]);
        assert_eq!(providers[0].line, 1);
        assert_eq!(providers[1].line, 6);
        assert_eq!(
            providers[0].config_json(),
            serde_json::json!({ "path": "a.redb" })
        );
        assert_eq!(config.provider_named(None).unwrap().name, "durable");
        assert_eq!(
            config.provider_named(Some("scratch")).unwrap().name,
            "scratch"
        );
        let err = config.provider_named(Some("nope")).unwrap_err().to_string();
        assert!(
            err.contains("\"nope\"") && err.contains("durable, scratch"),
            "{err}"
        );
        assert_eq!(
            config.provider_path().unwrap(),
            PathBuf::from("/x/libredb.so")
        );
        assert_eq!(
            config.reactions[0].get_ref().provider.as_deref(),
            Some("scratch")
        );
    }

    #[test]
    fn a_single_provider_table_is_named_default() {
        let config = parse("[provider]\nlibrary = \"memory\"\n").unwrap();
        let providers = config.providers().unwrap();
        assert_eq!(providers.len(), 1);
        assert_eq!(providers[0].name, DEFAULT_PROVIDER_NAME);
        let config = parse("[provider]\nname = \"main\"\nlibrary = \"memory\"\n").unwrap();
        assert_eq!(config.providers().unwrap()[0].name, "main");
    }

    #[test]
    fn provider_mistakes_are_named_with_their_line() {
        let cases = [
            (
                "[provider]\nlibrary = \"memory\"\n\n[[providers]]\nname = \"a\"\nlibrary = \"memory\"\n",
                &["line 1", "not both"][..],
            ),
            (
                "[[providers]]\nname = \"a\"\nlibrary = \"memory\"\n\n[[providers]]\nlibrary = \"redb\"\n",
                &["line 5", "needs `name"][..],
            ),
            (
                "[[providers]]\nname = \"a\"\nlibrary = \"memory\"\n\n[[providers]]\nname = \"a\"\nlibrary = \"redb\"\n",
                &["line 5", "\"a\" is used twice"][..],
            ),
            (
                "[provider]\nlibrary = \"memory\"\n\n[[source]]\nid = \"g\"\nkind = \"generator\"\nprovider = \"other\"\n",
                &["line 4", "provider \"other\"", "configured providers: default"][..],
            ),
            (
                "[provider]\nlibrary = \"memory\"\n\n[[bootstrap]]\nsource = \"g\"\nkind = \"file-snapshot\"\nprovider = \"default\"\n",
                &["line 4", "holds no state"][..],
            ),
            (
                "[[providers]]\nname = \"a\"\nlibary = \"memory\"\n",
                &["line 3", "unknown field `libary`"][..],
            ),
        ];
        for (i, (text, needles)) in cases.iter().enumerate() {
            let err = parse(text)
                .err()
                .unwrap_or_else(|| panic!("case {i} was accepted"));
            let shown = err.to_string();
            for needle in *needles {
                assert!(shown.contains(needle), "case {i}: {needle:?} in {shown}");
            }
            assert!(shown.contains("pipeline.toml"), "case {i}: {shown}");
        }
    }

    #[test]
    fn the_builder_routes_plugins_to_their_providers() {
        let config = parse(TWO).unwrap();
        let mut registry = PluginRegistry::new();
        registry.source("generator", |_| Err("built".into()));
        // The libraries do not exist; building stops at the first plugin,
        // after every provider was added: this checks the wiring only.
        let err = config
            .builder(&registry)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("line 10") && err.contains("built"), "{err}");
    }
}
