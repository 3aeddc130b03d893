//! `HostBuilder`: the provider and the plugins, checked before anything runs.

use std::{collections::HashSet, path::PathBuf, sync::Arc, time::Duration};

use crate::{
    layers::{TracingLayer, WatchLayer},
    BootstrapProvider, Host, LoadError, ProviderLibrary, Reaction, Source, StateStore,
};

/// What a source's failure (an error or a panic) leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Report the failure and stop the whole host gracefully (the default).
    StopHost,
    /// Restart the source from its acknowledged position after `backoff`,
    /// at most `max_restarts` times, then stop the host. Always safe:
    /// reactions skip the events they already saw.
    Restart {
        /// How many restarts before giving up.
        max_restarts: u32,
        /// How long to wait before each restart.
        backoff: Duration,
    },
}

/// A build-time error: nothing has run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No provider was given.
    #[error(
        "no state store provider: call provider_library(path, config) or provider_store(store)"
    )]
    NoProvider,
    /// The provider library could not be loaded or opened.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Two plugins share an id (ids are store_ids, so they must be unique).
    #[error("plugin id {id:?} is used twice; every source and reaction needs its own id (it is also its store_id)")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A plugin id is not usable as a store_id.
    #[error("plugin id {id:?} is invalid: {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// A reaction subscribes to a source that is not registered.
    #[error("reaction {reaction:?} subscribes to source {source_id:?}, which is not registered; known sources: {known}")]
    UnknownSource {
        /// The reaction.
        reaction: String,
        /// The missing source.
        source_id: String,
        /// The registered sources, comma-separated.
        known: String,
    },
    /// A bootstrap provider names a source that is not registered, or a second one names the same source.
    #[error("bootstrap provider for source {source_id:?}: {reason}")]
    Bootstrap {
        /// The source.
        source_id: String,
        /// Why.
        reason: &'static str,
    },
    /// A plugin needs durable state and the provider is not durable.
    #[error(
        "plugin {plugin:?} requires durable checkpoints, but provider {provider} is not durable; \
         use a durable provider such as redb"
    )]
    NotDurable {
        /// The plugin.
        plugin: String,
        /// The provider.
        provider: String,
    },
}

enum ProviderChoice {
    Library {
        path: PathBuf,
        config: serde_json::Value,
    },
    Store(Arc<dyn StateStore>),
}

/// Builds a [`Host`]: a provider, then sources, reactions and bootstrap
/// providers. `build` checks everything before anything runs.
pub struct HostBuilder {
    provider: Option<ProviderChoice>,
    sources: Vec<(Arc<dyn Source>, FailurePolicy)>,
    reactions: Vec<Arc<dyn Reaction>>,
    bootstraps: Vec<Arc<dyn BootstrapProvider>>,
    pub(crate) settings: Settings,
}

/// Tunables of a running host.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) channel_capacity: usize,
    pub(crate) stop_timeout: Duration,
    pub(crate) checkpoint_interval: Duration,
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            provider: None,
            sources: Vec::new(),
            reactions: Vec::new(),
            bootstraps: Vec::new(),
            settings: Settings {
                channel_capacity: 1024,
                stop_timeout: Duration::from_secs(30),
                checkpoint_interval: Duration::from_millis(200),
            },
        }
    }
}

impl HostBuilder {
    /// Uses the provider library at `path`, opened with `config` (JSON).
    pub fn provider_library(mut self, path: impl Into<PathBuf>, config: serde_json::Value) -> Self {
        self.provider = Some(ProviderChoice::Library {
            path: path.into(),
            config,
        });
        self
    }

    /// Uses an already opened store (an in-process provider, a layered store, a test double).
    pub fn provider_store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.provider = Some(ProviderChoice::Store(store));
        self
    }

    /// Registers a source that stops the host if it fails.
    pub fn source(self, source: impl Source) -> Self {
        self.source_with_policy(source, FailurePolicy::StopHost)
    }

    /// Registers a source with a failure policy.
    pub fn source_with_policy(mut self, source: impl Source, policy: FailurePolicy) -> Self {
        self.sources.push((Arc::new(source), policy));
        self
    }

    /// Registers a shared source (as a configuration file's registry builds them).
    pub fn shared_source(mut self, source: Arc<dyn Source>, policy: FailurePolicy) -> Self {
        self.sources.push((source, policy));
        self
    }

    /// Registers a shared reaction.
    pub fn shared_reaction(mut self, reaction: Arc<dyn Reaction>) -> Self {
        self.reactions.push(reaction);
        self
    }

    /// Registers a shared bootstrap provider.
    pub fn shared_bootstrap(mut self, provider: Arc<dyn BootstrapProvider>) -> Self {
        self.bootstraps.push(provider);
        self
    }

    /// Registers a reaction. A failing reaction always stops the host: the
    /// events it held uncommitted are delivered again on the next start.
    pub fn reaction(mut self, reaction: impl Reaction) -> Self {
        self.reactions.push(Arc::new(reaction));
        self
    }

    /// Registers a bootstrap provider for one source.
    pub fn bootstrap(mut self, provider: impl BootstrapProvider) -> Self {
        self.bootstraps.push(Arc::new(provider));
        self
    }

    /// The capacity of each reaction's input channel (back-pressure bound). Default 1024.
    pub fn channel_capacity(mut self, events: usize) -> Self {
        self.settings.channel_capacity = events.max(1);
        self
    }

    /// How long `stop` waits for each plugin before aborting it. Default 30 s.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.settings.stop_timeout = timeout;
        self
    }

    /// How often source checkpoints are persisted while running. Default 200 ms.
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.settings.checkpoint_interval = interval;
        self
    }

    /// Checks the configuration, loads the provider, and returns the host, not yet started.
    pub fn build(self) -> Result<Host, BuildError> {
        let store = match self.provider {
            None => return Err(BuildError::NoProvider),
            Some(ProviderChoice::Store(store)) => store,
            Some(ProviderChoice::Library { path, config }) => {
                ProviderLibrary::load(&path)?.open(&config)?
            }
        };
        let limits = *store.capabilities().limits();
        let mut ids = HashSet::new();
        let all_ids = self
            .sources
            .iter()
            .map(|(s, _)| s.id())
            .chain(self.reactions.iter().map(|r| r.id()));
        for id in all_ids {
            check_id(id, limits.max_store_id_bytes as usize)?;
            if !ids.insert(id.to_string()) {
                return Err(BuildError::DuplicateId { id: id.to_string() });
            }
        }
        let source_ids: Vec<&str> = self.sources.iter().map(|(s, _)| s.id()).collect();
        for reaction in &self.reactions {
            for source_id in reaction.subscriptions() {
                if !source_ids.contains(&source_id.as_str()) {
                    return Err(BuildError::UnknownSource {
                        reaction: reaction.id().to_string(),
                        source_id,
                        known: source_ids.join(", "),
                    });
                }
            }
        }
        let mut bootstrapped = HashSet::new();
        for b in &self.bootstraps {
            if !source_ids.contains(&b.source_id()) {
                return Err(BuildError::Bootstrap {
                    source_id: b.source_id().to_string(),
                    reason: "no such source is registered",
                });
            }
            if !bootstrapped.insert(b.source_id().to_string()) {
                return Err(BuildError::Bootstrap {
                    source_id: b.source_id().to_string(),
                    reason: "registered twice",
                });
            }
        }
        if !store.is_durable() {
            let needs = self
                .sources
                .iter()
                .filter(|(s, _)| s.requires_durable_state())
                .map(|(s, _)| s.id())
                .chain(
                    self.reactions
                        .iter()
                        .filter(|r| r.requires_durable_state())
                        .map(|r| r.id()),
                )
                .next();
            if let Some(plugin) = needs {
                return Err(BuildError::NotDurable {
                    plugin: plugin.to_string(),
                    provider: store.info().name.clone(),
                });
            }
        }
        // Every write passes through the host, so watching works for every provider.
        let watch = Arc::new(WatchLayer::new(store));
        let store: Arc<dyn StateStore> = Arc::new(TracingLayer::new(watch.clone()));
        Ok(Host::new(
            store,
            watch,
            self.sources,
            self.reactions,
            self.bootstraps,
            self.settings,
        ))
    }
}

fn check_id(id: &str, max_bytes: usize) -> Result<(), BuildError> {
    let invalid = |reason| {
        Err(BuildError::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return invalid("it is empty");
    }
    if id.len() > max_bytes {
        return invalid("it is longer than the provider's max_store_id_bytes");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return invalid("use only ASCII letters, digits, '-', '_' and '.'");
    }
    Ok(())
}
