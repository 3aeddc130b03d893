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

mod build;
mod error;
mod tables;
#[cfg(test)]
mod tests;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use toml::Spanned;

pub use self::error::ConfigError;
pub use self::tables::{
    HostSection, NamedProvider, PipelineConfig, PluginSection, ProviderSection, RestartSection,
};
use crate::runtime::DEFAULT_PROVIDER_NAME;

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

    /// Where `stateplug run` serves metrics (`[host] metrics_addr`), if anywhere.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.host.metrics_addr
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

pub(crate) fn table_to_json(table: Option<&toml::Table>) -> serde_json::Value {
    match table {
        // A TOML table always converts to JSON: TOML values are a subset (dates become strings).
        Some(t) => serde_json::to_value(t).unwrap_or(serde_json::Value::Null),
        None => serde_json::json!({}),
    }
}
