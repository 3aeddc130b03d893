//! `HostBuilder`: the providers and the plugins, checked before anything runs.

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use super::routes::{Route, Routes};
use crate::provider::library_file;
use crate::{
    clock::Clock,
    layers::{Layer, Layered, MetricsLayer, TracingLayer, WatchLayer},
    plugin::{BootstrapProvider, Reaction, Source},
    provider::{LibraryCache, LoadError, LoadOptions, OpenOptions},
    runtime::Host,
    store::{is_reserved_store_id, StateStore, RESERVED_STORE_ID_REASON},
};

/// The name [`HostBuilder::provider_library`] and
/// [`HostBuilder::provider_store`] give the default provider.
pub const DEFAULT_PROVIDER_NAME: &str = "default";

/// How the host loads and opens one provider library.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderOptions {
    /// Loading: see [`LoadOptions`].
    pub load: LoadOptions,
    /// Opening: see [`OpenOptions`].
    pub open: OpenOptions,
}

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
    /// Two providers were given the same name.
    #[error("provider name {name:?} is used twice; give every provider its own name")]
    DuplicateProvider {
        /// The name.
        name: String,
    },
    /// A plugin is routed to a provider that was not given.
    #[error("plugin {plugin:?} is routed to provider {provider:?}, which is not configured; configured providers: {known}")]
    UnknownProvider {
        /// The plugin.
        plugin: String,
        /// The missing provider.
        provider: String,
        /// The configured providers, comma-separated.
        known: String,
    },
    /// A route names a plugin that is not registered.
    #[error("a route sends plugin {plugin:?} to provider {provider:?}, but no source or reaction has that id")]
    UnknownRoutedPlugin {
        /// The plugin id the route names.
        plugin: String,
        /// The provider.
        provider: String,
    },
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
    /// A plugin needs durable state and its provider is not durable.
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
        options: ProviderOptions,
    },
    Store(Arc<dyn StateStore>),
}

/// Builds a [`Host`]: providers, then sources, reactions and bootstrap
/// providers. `build` checks everything before anything runs.
///
/// One provider is the usual case ([`HostBuilder::provider_library`] or
/// [`HostBuilder::provider_store`]). Several providers are added by name
/// ([`HostBuilder::named_provider_library`]); each plugin's state lives in
/// the provider it is [routed](HostBuilder::route) to, by default the
/// default provider: the one given by `provider_library` / `provider_store`,
/// else the first named one. A plugin's checkpoints live in its own store,
/// so they follow it to its provider.
pub struct HostBuilder {
    /// Named providers; the default is first.
    providers: Vec<(String, ProviderChoice)>,
    routes: Vec<(String, String)>,
    sources: Vec<(Arc<dyn Source>, FailurePolicy)>,
    reactions: Vec<Arc<dyn Reaction>>,
    bootstraps: Vec<Arc<dyn BootstrapProvider>>,
    /// Wrap each provider's store, innermost first.
    layers: Vec<WrapStore>,
    pub(crate) settings: Settings,
}

/// Puts one embedder layer around a provider's store.
type WrapStore = Box<dyn Fn(Arc<dyn StateStore>) -> Arc<dyn StateStore> + Send + Sync>;

/// Tunables of a running host.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) channel_capacity: usize,
    pub(crate) stop_timeout: Duration,
    pub(crate) checkpoint_interval: Duration,
    /// The name this instance writes into the owner records it takes.
    pub(crate) host_name: Option<String>,
    /// Whether each provider's store is wrapped in a [`MetricsLayer`].
    pub(crate) record_metrics: bool,
    /// The clock every provider library is opened with.
    pub(crate) clock: Clock,
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            providers: Vec::new(),
            routes: Vec::new(),
            sources: Vec::new(),
            reactions: Vec::new(),
            bootstraps: Vec::new(),
            layers: Vec::new(),
            settings: Settings {
                channel_capacity: 1024,
                stop_timeout: Duration::from_secs(30),
                checkpoint_interval: Duration::from_millis(200),
                host_name: None,
                record_metrics: false,
                clock: Clock::system(),
            },
        }
    }
}

impl HostBuilder {
    /// Uses the provider library `path`, opened with `config` (JSON), as
    /// the default provider (named [`DEFAULT_PROVIDER_NAME`]), replacing an
    /// earlier default. `path` is a file or, as in configuration files, a
    /// name (`"redb"`) looked up beside the executable and in its `deps/`.
    pub fn provider_library(self, path: impl Into<PathBuf>, config: serde_json::Value) -> Self {
        self.provider_library_with(path, config, ProviderOptions::default())
    }

    /// Like [`HostBuilder::provider_library`], with load and open options.
    pub fn provider_library_with(
        self,
        path: impl Into<PathBuf>,
        config: serde_json::Value,
        options: ProviderOptions,
    ) -> Self {
        self.set_default(ProviderChoice::Library {
            path: path.into(),
            config,
            options,
        })
    }

    /// Uses an already opened store (an in-process provider, a layered
    /// store, a test double) as the default provider, replacing an earlier default.
    pub fn provider_store(self, store: Arc<dyn StateStore>) -> Self {
        self.set_default(ProviderChoice::Store(store))
    }

    fn set_default(mut self, choice: ProviderChoice) -> Self {
        match self
            .providers
            .iter_mut()
            .find(|(name, _)| name == DEFAULT_PROVIDER_NAME)
        {
            Some(entry) => entry.1 = choice,
            None => self
                .providers
                .insert(0, (DEFAULT_PROVIDER_NAME.to_string(), choice)),
        }
        self
    }

    /// Adds the provider library at `path`, opened with `config`, under
    /// `name`. A library used by several providers is loaded once.
    pub fn named_provider_library(
        self,
        name: &str,
        path: impl Into<PathBuf>,
        config: serde_json::Value,
    ) -> Self {
        self.named_provider_library_with(name, path, config, ProviderOptions::default())
    }

    /// Like [`HostBuilder::named_provider_library`], with load and open options.
    pub fn named_provider_library_with(
        mut self,
        name: &str,
        path: impl Into<PathBuf>,
        config: serde_json::Value,
        options: ProviderOptions,
    ) -> Self {
        let choice = ProviderChoice::Library {
            path: path.into(),
            config,
            options,
        };
        self.providers.push((name.to_string(), choice));
        self
    }

    /// Adds an already opened store under `name`.
    pub fn named_provider_store(mut self, name: &str, store: Arc<dyn StateStore>) -> Self {
        self.providers
            .push((name.to_string(), ProviderChoice::Store(store)));
        self
    }

    /// Keeps the state of plugin `plugin_id` (a source or a reaction) in the
    /// provider named `provider` instead of the default one.
    pub fn route(mut self, plugin_id: &str, provider: &str) -> Self {
        self.routes
            .push((plugin_id.to_string(), provider.to_string()));
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

    /// How long `stop` waits for the plugins to end before aborting those
    /// still running, and then again for the last source checkpoints and the
    /// providers' sync (a provider that stops answering fails the stop with
    /// an error naming the checkpoint it did not write). Default 30 s.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.settings.stop_timeout = timeout;
        self
    }

    /// The name this host instance writes into the owner record of every
    /// plugin it takes over (shown in the fencing error of the instance it
    /// supersedes, and by `stateplug state owners`). Default: the
    /// `STATEPLUG_HOST_NAME` or `HOSTNAME` environment variable, else the
    /// contents of `/etc/hostname`, else `localhost`.
    pub fn host_name(mut self, name: impl Into<String>) -> Self {
        self.settings.host_name = Some(name.into());
        self
    }

    /// Whether the host records the calls to its providers through the
    /// `metrics` facade ([`MetricsLayer`]: latency, errors, bytes, durable
    /// commits). Off by default: it costs a clock read and a histogram
    /// update per call (measured in BENCHMARKS.md). Install a recorder
    /// before [`build`](Self::build). `stateplug run` turns it on when it
    /// serves metrics. Plugin and watch figures are recorded either way.
    pub fn record_metrics(mut self, on: bool) -> Self {
        self.settings.record_metrics = on;
        self
    }

    /// The clock the host opens every provider library with: a key written
    /// with a time to live expires when this clock passes its expiry (see
    /// `set_with_ttl` on [`StateStore`]). Default: the system clock. A test
    /// keeps a clone and [`advances`](Clock::advance) it to expire keys
    /// without waiting. Stores given already opened keep their own clock.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.settings.clock = clock;
        self
    }

    /// How often source checkpoints are persisted while running. Default 200 ms.
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.settings.checkpoint_interval = interval;
        self
    }

    /// Puts `layer` around the store of every provider, below the host's
    /// own layers (change events and tracing see what it does); layers added
    /// first are innermost. Wrap a layer in an `Arc` to keep a handle on it
    /// (a [`FaultLayer`](crate::layers::FaultLayer)'s rules, say) or to share
    /// one state among the providers.
    pub fn layer<L: Layer + Clone>(mut self, layer: L) -> Self {
        self.layers.push(Box::new(move |inner| {
            Arc::new(Layered::new(inner, layer.clone()))
        }));
        self
    }

    /// Checks the configuration, loads the providers, and returns the host, not yet started.
    pub fn build(self) -> Result<Host, BuildError> {
        if self.providers.is_empty() {
            return Err(BuildError::NoProvider);
        }
        let mut names = HashSet::new();
        for (name, _) in &self.providers {
            if !names.insert(name.as_str()) {
                return Err(BuildError::DuplicateProvider { name: name.clone() });
            }
        }
        let known = || {
            self.providers
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let plugin_ids: HashSet<&str> = self
            .sources
            .iter()
            .map(|(s, _)| s.id())
            .chain(self.reactions.iter().map(|r| r.id()))
            .collect();
        let mut routed: HashMap<String, usize> = HashMap::new();
        for (plugin, provider) in &self.routes {
            let Some(index) = self.providers.iter().position(|(n, _)| n == provider) else {
                return Err(BuildError::UnknownProvider {
                    plugin: plugin.clone(),
                    provider: provider.clone(),
                    known: known(),
                });
            };
            if !plugin_ids.contains(plugin.as_str()) {
                return Err(BuildError::UnknownRoutedPlugin {
                    plugin: plugin.clone(),
                    provider: provider.clone(),
                });
            }
            routed.insert(plugin.clone(), index);
        }
        let provider_of = |id: &str| routed.get(id).copied().unwrap_or(0);

        let mut stores: Vec<(String, Arc<dyn StateStore>)> = Vec::new();
        for (name, choice) in self.providers {
            let store = match choice {
                ProviderChoice::Store(store) => store,
                ProviderChoice::Library {
                    path,
                    config,
                    options,
                } => LibraryCache::global()
                    .load_with(library_file(&path)?, &options.load)?
                    .open_with_clock(&config, &options.open, &self.settings.clock)?,
            };
            stores.push((name, store));
        }

        let mut ids = HashSet::new();
        let all_ids = self
            .sources
            .iter()
            .map(|(s, _)| s.id())
            .chain(self.reactions.iter().map(|r| r.id()));
        for id in all_ids {
            let limits = *stores[provider_of(id)].1.capabilities().limits();
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
        // Durability is checked per plugin, against the provider it is routed to.
        let needs_durable = self
            .sources
            .iter()
            .filter(|(s, _)| s.requires_durable_state())
            .map(|(s, _)| s.id())
            .chain(
                self.reactions
                    .iter()
                    .filter(|r| r.requires_durable_state())
                    .map(|r| r.id()),
            );
        for plugin in needs_durable {
            let store = &stores[provider_of(plugin)].1;
            if !store.is_durable() {
                return Err(BuildError::NotDurable {
                    plugin: plugin.to_string(),
                    provider: store.info().name.clone(),
                });
            }
        }
        // Every write passes through the host, so watching works for every
        // provider. Metrics sit below change events: they time the provider's call.
        let layers = self.layers;
        let record_metrics = self.settings.record_metrics;
        let routes: Vec<Route> = stores
            .into_iter()
            .map(|(name, store)| {
                let store = layers.iter().fold(store, |inner, wrap| wrap(inner));
                let store: Arc<dyn StateStore> = if record_metrics {
                    let metrics = MetricsLayer::new(&name, store.is_durable());
                    Arc::new(Layered::new(store, metrics))
                } else {
                    store
                };
                let watch = Arc::new(Layered::new(Arc::clone(&store), WatchLayer::new(&store)));
                let store: Arc<dyn StateStore> =
                    Arc::new(Layered::new(watch.clone(), TracingLayer));
                Route { name, store, watch }
            })
            .collect();
        Ok(Host::new(
            Routes::new(routes, routed),
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
    if is_reserved_store_id(id) {
        return invalid(RESERVED_STORE_ID_REASON);
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
