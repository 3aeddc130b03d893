//! Running plugins: the builder, the host, and the progress board.

pub(crate) mod builder;
mod host;
pub(crate) mod progress;
mod supervise;

pub use builder::{BuildError, FailurePolicy, HostBuilder};
pub use host::{
    Host, HostError, HostProgress, PluginFailure, PluginKind, PluginReport, RunReport, RunningHost,
};
pub use progress::{reaction_checkpoint_key, PluginStats, SOURCE_CHECKPOINT_KEY};
