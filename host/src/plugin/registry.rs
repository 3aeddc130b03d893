//! `PluginRegistry`: plugin kinds by name, so a configuration file can name them.

use std::{collections::BTreeMap, sync::Arc};

use crate::plugin::{BootstrapProvider, Reaction, Source};

/// What a factory gets to build one plugin: its id, the sources it
/// subscribes to (reactions), and its `settings` table as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    /// The plugin id (for a bootstrap provider: its source's id).
    pub id: String,
    /// The sources a reaction subscribes to.
    pub subscribe: Vec<String>,
    /// The plugin's own settings.
    pub settings: serde_json::Value,
}

/// Builds a source from its spec; an error names the bad setting.
pub type SourceFactory = fn(&PluginSpec) -> Result<Arc<dyn Source>, String>;
/// Builds a reaction from its spec.
pub type ReactionFactory = fn(&PluginSpec) -> Result<Arc<dyn Reaction>, String>;
/// Builds a bootstrap provider from its spec.
pub type BootstrapFactory = fn(&PluginSpec) -> Result<Arc<dyn BootstrapProvider>, String>;

/// Plugin kinds by name.
#[derive(Default, Clone)]
pub struct PluginRegistry {
    sources: BTreeMap<String, SourceFactory>,
    reactions: BTreeMap<String, ReactionFactory>,
    bootstraps: BTreeMap<String, BootstrapFactory>,
}

impl PluginRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a source kind.
    pub fn source(&mut self, kind: &str, factory: SourceFactory) -> &mut Self {
        self.sources.insert(kind.to_string(), factory);
        self
    }

    /// Registers a reaction kind.
    pub fn reaction(&mut self, kind: &str, factory: ReactionFactory) -> &mut Self {
        self.reactions.insert(kind.to_string(), factory);
        self
    }

    /// Registers a bootstrap provider kind.
    pub fn bootstrap(&mut self, kind: &str, factory: BootstrapFactory) -> &mut Self {
        self.bootstraps.insert(kind.to_string(), factory);
        self
    }

    /// The source factory of `kind`, or the known kinds.
    pub fn source_factory(&self, kind: &str) -> Result<SourceFactory, String> {
        lookup(&self.sources, kind)
    }

    /// The reaction factory of `kind`, or the known kinds.
    pub fn reaction_factory(&self, kind: &str) -> Result<ReactionFactory, String> {
        lookup(&self.reactions, kind)
    }

    /// The bootstrap factory of `kind`, or the known kinds.
    pub fn bootstrap_factory(&self, kind: &str) -> Result<BootstrapFactory, String> {
        lookup(&self.bootstraps, kind)
    }
}

fn lookup<F: Copy>(map: &BTreeMap<String, F>, kind: &str) -> Result<F, String> {
    map.get(kind).copied().ok_or_else(|| {
        let known: Vec<&str> = map.keys().map(String::as_str).collect();
        format!(
            "unknown kind {kind:?}; known kinds: {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })
}
