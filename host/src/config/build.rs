//! A host builder from a configuration: its providers, settings and plugins.

use std::time::Duration;

use toml::Spanned;

use crate::{
    config::{table_to_json, ConfigError, PipelineConfig, PluginSection},
    plugin::{PluginRegistry, PluginSpec},
    runtime::{FailurePolicy, Host, HostBuilder},
};

impl PipelineConfig {
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
        if let Some(name) = &self.host.name {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                return Err(ConfigError::Parse {
                    path: self.path.clone(),
                    message: format!(
                        "[host] name {name:?} is empty or holds control characters; \
                         give a name such as \"host-b\", or leave it out to use the machine's"
                    ),
                });
            }
            builder = builder.host_name(name.trim());
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
