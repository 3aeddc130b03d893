//! Running plugins: the builder, the host, and the progress board.

pub(crate) mod builder;
mod host;
pub mod metrics;
pub(crate) mod owner;
pub(crate) mod progress;
pub(crate) mod routes;
mod supervise;

pub use builder::{BuildError, FailurePolicy, HostBuilder, ProviderOptions, DEFAULT_PROVIDER_NAME};
pub use host::{
    Host, HostError, HostProgress, PluginFailure, PluginKind, PluginReport, RunReport, RunningHost,
    StopSignal,
};
pub use owner::{Fenced, OwnerRecord, OWNER_KEY};
