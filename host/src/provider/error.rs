//! `LoadError`: a provider library could not be loaded or opened.

use std::path::PathBuf;

use stateplug_provider_api::ProviderError;

/// A provider library could not be loaded or opened. Every message names the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// No file at the path.
    #[error(
        "cannot load provider library {path}: no such file; build it (cargo build) or fix the path"
    )]
    FileMissing {
        /// The library path.
        path: PathBuf,
    },
    /// No library of that name is where providers are looked for.
    #[error(
        "no provider library named {name:?}: looked for {looked}; build it (cargo build) or give its path"
    )]
    NotFound {
        /// The name given.
        name: String,
        /// Every file looked for.
        looked: String,
    },
    /// The path is not a regular file.
    #[error(
        "cannot load provider library {path}: not a regular file; give the path of a .so file"
    )]
    NotAFile {
        /// The library path.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error(
        "cannot load provider library {path}: {reason}; let this user read it and its folders"
    )]
    Unreadable {
        /// The library path.
        path: PathBuf,
        /// The system's message.
        reason: String,
    },
    /// Other users could have replaced the library, so running its code is refused.
    #[error(
        "refusing to load provider library {path}: {reason}; or, if you trust it, \
         allow it with --allow-writable-library (in a configuration file: allow_writable_library = true \
         in its [provider] or [[providers]] table)"
    )]
    Untrusted {
        /// The library path.
        path: PathBuf,
        /// Why it is not trusted, and the fix.
        reason: String,
    },
    /// The dynamic loader refused the file.
    #[error("cannot load provider library {path}: the dynamic loader refused it: {reason}")]
    Open {
        /// The library path.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The library exports no stateplug provider module.
    #[error(
        "cannot load provider library {path}: it is not a stateplug provider (no provider module exported); \
         a provider crate must call stateplug_provider_api::export_provider!"
    )]
    NotAProvider {
        /// The library path.
        path: PathBuf,
    },
    /// The library was built against an incompatible interface version.
    #[error(
        "cannot load provider library {path}: built against provider-api {library_version}, \
         this host speaks {host_version}; rebuild the provider against provider-api {host_version}"
    )]
    IncompatibleVersion {
        /// The library path.
        path: PathBuf,
        /// The interface version the library was built against.
        library_version: String,
        /// The interface version of this host.
        host_version: String,
    },
    /// The library's interface types do not match the host's.
    #[error(
        "cannot load provider library {path}: its interface layout does not match this host's \
         (library provider-api {library_version}, host {host_version}); first mismatch: {mismatch}; \
         rebuild the provider against provider-api {host_version}"
    )]
    AbiMismatch {
        /// The library path.
        path: PathBuf,
        /// The interface version the library claims.
        library_version: String,
        /// The interface version of this host.
        host_version: String,
        /// The first difference abi_stable found, summarised.
        mismatch: String,
    },
    /// Any other failure of abi_stable's checks.
    #[error("cannot load provider library {path}: {reason}")]
    Incompatible {
        /// The library path.
        path: PathBuf,
        /// What abi_stable reported, summarised.
        reason: String,
    },
    /// The provider refused its configuration.
    #[error("provider {provider} ({path}) rejected its configuration: {message}")]
    ConfigRejected {
        /// The library path.
        path: PathBuf,
        /// The provider's name.
        provider: String,
        /// The provider's message, naming the field.
        message: String,
    },
    /// The provider failed to open.
    #[error("provider {provider} ({path}) failed to open: {error}")]
    OpenFailed {
        /// The library path.
        path: PathBuf,
        /// The provider's name.
        provider: String,
        /// The provider's error.
        error: ProviderError,
    },
    /// The provider panicked while opening.
    #[error("provider {provider} ({path}) panicked while opening: {message}")]
    InitPanicked {
        /// The library path.
        path: PathBuf,
        /// The provider's name.
        provider: String,
        /// The panic message.
        message: String,
    },
}
