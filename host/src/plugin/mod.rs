//! Plugins: the source, reaction and bootstrap kinds, the contexts a
//! running plugin is handed, and the registry that names kinds for
//! configuration files.

pub(crate) mod context;
mod error;
mod event;
mod registry;
mod traits;

pub use self::context::{ReactionContext, SourceContext};
pub use self::error::{PluginError, PluginResult};
pub use self::event::{Event, Snapshot};
pub use self::registry::{
    BootstrapFactory, PluginRegistry, PluginSpec, ReactionFactory, SourceFactory,
};
pub use self::traits::{BootstrapProvider, Reaction, Source};
