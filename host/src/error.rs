//! [`Error`]: every stateplug error, whatever phase it comes from, so `?`
//! works in an embedder's `main` without `Box<dyn Error>`.

use crate::{
    config::ConfigError,
    ops::OpsError,
    plugin::PluginError,
    provider::LoadError,
    runtime::{BuildError, HostError},
    store::StoreError,
};

/// Any stateplug error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Loading or opening a provider failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A pipeline configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A host could not be built from its parts.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A running host failed or stopped because plugins failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// Plugin code failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// An operation on state (dump, restore, migrate, locks) failed.
    #[error(transparent)]
    Ops(#[from] OpsError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `?` turns the error of every phase into [`Error`].
    #[test]
    fn every_phase_converts() {
        fn config() -> Result<(), Error> {
            crate::config::PipelineConfig::parse("nonsense = [", std::path::Path::new("x.toml"))?;
            Ok(())
        }
        fn build() -> Result<(), Error> {
            crate::Host::builder().build()?;
            Ok(())
        }
        assert!(matches!(config(), Err(Error::Config(_))));
        assert!(matches!(build(), Err(Error::Build(_))));
    }
}
