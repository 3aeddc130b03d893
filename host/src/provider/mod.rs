//! Provider libraries and the adapter that drives one: loading a `.so` by
//! path after checking who could have replaced it, caching loaded
//! libraries, bridging their logs, and [`ProviderStore`], the async
//! `StateStore` over a provider object (with group writes).

mod cache;
mod error;
mod group_writer;
mod library;
mod library_file;
mod log_bridge;
mod lookup;
mod provider_store;
mod trust;
mod write_call;

pub use self::cache::LibraryCache;
pub use self::error::LoadError;
#[doc(hidden)]
pub use self::library::{open_in_process, open_in_process_with};
pub use self::library::{LoadOptions, OpenOptions, ProviderLibrary};
pub(crate) use self::lookup::library_file;
pub use self::lookup::{default_provider_dirs, resolve_library};
pub(crate) use self::provider_store::{ProviderStore, DEFAULT_CALL_TIMEOUT};
/// The provider interface version this host speaks (a provider built
/// against an older minor version of it also loads).
pub use stateplug_provider_api::ffi::INTERFACE_VERSION;

/// Whether the calling task runs on a multi-thread tokio runtime, where
/// `block_in_place` hands the worker's other tasks to another thread.
fn on_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// The error of a call that did not finish: a read could not be answered
/// (`UNAVAILABLE`); a write may still be applied (`OUTCOME_UNKNOWN`). Both
/// are temporary.
fn unfinished(write: bool, message: String) -> stateplug_provider_api::ProviderError {
    use stateplug_provider_api::ProviderError;
    if write {
        ProviderError::outcome_unknown(message)
    } else {
        ProviderError::unavailable(message)
    }
}

/// Why a call abandoned after `timeout` failed (see [`unfinished`]).
fn abandoned(write: bool, timeout: std::time::Duration) -> stateplug_provider_api::ProviderError {
    let message = if write {
        format!(
            "the provider did not answer the write within {timeout:?}; the call was abandoned \
             and may still be applied: read back to know (raise the limit with \
             call_timeout_ms if the storage is just slow)"
        )
    } else {
        format!(
            "the provider did not answer within {timeout:?}; the call was abandoned (raise the \
             limit with call_timeout_ms if the storage is just slow)"
        )
    };
    unfinished(write, message)
}
