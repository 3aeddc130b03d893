//! Running plugins: the builder, the host, and the progress board.

pub(crate) mod builder;
mod checkpoint;
mod host;
pub mod metrics;
pub(crate) mod owner;
pub(crate) mod progress;
mod report;
pub(crate) mod routes;
mod supervise;

pub use builder::{BuildError, FailurePolicy, HostBuilder, ProviderOptions, DEFAULT_PROVIDER_NAME};
pub use host::{Host, HostProgress, RunningHost};
pub use owner::{Fenced, OwnerRecord, OWNER_KEY};
pub use report::{HostError, PluginFailure, PluginKind, PluginReport, RunReport, StopSignal};
