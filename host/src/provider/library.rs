//! Loading provider libraries by path.
//!
//! Every library is loaded by its own path (`lib_header_from_path` +
//! `init_root_module`), never through abi_stable's per-type cache, so several
//! providers live side by side in one process. Libraries are never unloaded.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use abi_stable::library::{lib_header_from_path, LibHeader, LibraryError};
use abi_stable::std_types::RSome;
use stateplug_provider_api::{
    ffi::{
        frozen_0_1, frozen_0_1_1, FfiOpen, FfiProviderBox, ProviderModuleRef, INTERFACE_VERSION,
        OPEN_READ_ONLY,
    },
    Capabilities, ErrorKind, OpenContext, ProviderError,
};

use crate::{
    clock::Clock,
    provider::{library_file::LibraryFile, log_bridge::host_logger, LoadError, ProviderStore},
    store::{StateStore, StoreInfo},
};

/// How to load a library.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Load the library even if other users could have replaced it (it, or
    /// a folder above it, is owned by another user or writable by its group
    /// or others). Off by default.
    pub allow_writable_library: bool,
}

/// How to open a provider instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// How long a call that runs off the async workers may take before it
    /// is abandoned: a read then fails with a temporary `UNAVAILABLE`
    /// error, a write with a temporary `OUTCOME_UNKNOWN` one (it may still
    /// be applied, so only reading back tells).
    pub call_timeout: std::time::Duration,
    /// Open for reading only: the provider opens existing storage, creates
    /// nothing, and says so when the storage does not exist (providers
    /// built against provider-api 0.1 do not know this and open as usual).
    pub read_only: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            call_timeout: crate::provider::DEFAULT_CALL_TIMEOUT,
            read_only: false,
        }
    }
}

/// A loaded provider library: its identity and declared capabilities, and
/// the means to open instances of it.
#[derive(Clone)]
pub struct ProviderLibrary {
    path: PathBuf,
    module: ProviderModuleRef,
    info: StoreInfo,
}

impl std::fmt::Debug for ProviderLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderLibrary")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

impl ProviderLibrary {
    /// Loads the provider library at `path` and checks its interface.
    /// A library another user could have replaced is refused: the path is
    /// resolved, and the file and every folder above it must be owned by
    /// this user or root and writable by nobody else (a sticky folder owned
    /// by root, like `/tmp`, excepted). The file checked is the file loaded.
    /// See [`ProviderLibrary::load_with`] to load it anyway.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::load_with(path, &LoadOptions::default())
    }

    /// Loads the provider library at `path` with `options`.
    pub fn load_with(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Self, LoadError> {
        let path = path.as_ref();
        Self::load_file(path, LibraryFile::open(path, options)?)
    }

    /// Loads `file`, opened and checked from `path`, through its descriptor.
    pub(crate) fn load_file(path: &Path, file: LibraryFile) -> Result<Self, LoadError> {
        let path = path.to_path_buf();
        let resolved = file.resolved().to_path_buf();
        let loader_path = file.loader_path();
        let classify = |e, version: &str| classify(&path, (&loader_path, &resolved), e, version);
        let header = lib_header_from_path(&loader_path).map_err(|e| classify(e, "?"))?;
        let library_version = header.version_strings().version.as_str().to_string();
        check_interface_version(&path, &library_version)?;
        let module =
            module_of(header, &library_version).map_err(|e| classify(e, &library_version))?;
        let raw = (module.info())();
        let info = StoreInfo {
            name: raw.name.into_string(),
            version: raw.version.into_string(),
            interface_version: raw.interface_version.into_string(),
        };
        tracing::debug!(path = %path.display(), resolved = %resolved.display(), provider = %info.name, version = %info.version, "loaded provider library");
        Ok(ProviderLibrary { path, module, info })
    }

    /// The library's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The provider's name and versions.
    pub fn info(&self) -> &StoreInfo {
        &self.info
    }

    /// What the provider declares in its default configuration.
    pub fn capabilities(&self) -> Capabilities {
        (self.module.capabilities())()
    }

    /// Opens an instance with a JSON configuration (`serde_json::Value::Null` or `{}` for none).
    pub fn open(&self, config: &serde_json::Value) -> Result<Arc<dyn StateStore>, LoadError> {
        self.open_with(config, &OpenOptions::default())
    }

    /// Opens an instance with a JSON configuration and host-side options,
    /// on a clock of its own (see [`ProviderLibrary::open_with_clock`]).
    pub fn open_with(
        &self,
        config: &serde_json::Value,
        options: &OpenOptions,
    ) -> Result<Arc<dyn StateStore>, LoadError> {
        self.open_with_clock(config, options, &Clock::system())
    }

    /// Opens an instance as [`ProviderLibrary::open_with`] does, the
    /// provider reading the time from `clock` (the store's
    /// [`StateStore::clock`]). A library built before provider-api 0.1.2
    /// reads the system clock, and declares no TTL.
    pub fn open_with_clock(
        &self,
        config: &serde_json::Value,
        options: &OpenOptions,
        clock: &Clock,
    ) -> Result<Arc<dyn StateStore>, LoadError> {
        let json = config_json(config);
        let host = FfiOpen {
            logger: RSome(host_logger()),
            flags: if options.read_only { OPEN_READ_ONLY } else { 0 },
        };
        let opened = match (self.module.open_with_clock(), self.module.open_with()) {
            (Some(open), _) => open(json.as_str().into(), host, clock.to_provider()),
            // A library built against provider-api 0.1.1.
            (None, Some(open_with)) => open_with(json.as_str().into(), host),
            // A library built against provider-api 0.1.0.
            (None, None) => (self.module.open())(json.as_str().into(), RSome(host_logger())),
        };
        let ffi = opened_or_error(opened.into_result(), &self.path, &self.info.name)?;
        Ok(Arc::new(ProviderStore::new(
            ffi,
            options.call_timeout,
            clock.clone(),
        )))
    }
}

/// Opens a provider compiled into this process (its crate's
/// `open_in_process`), through the same adapter a loaded library uses.
/// The provider reads the system clock, so moving the store's clock does
/// not expire its keys: use [`open_in_process_with`] for that.
pub fn open_in_process(
    open: fn(&str) -> Result<FfiProviderBox, ProviderError>,
    config: &serde_json::Value,
) -> Result<Arc<dyn StateStore>, LoadError> {
    in_process_store(open(&config_json(config)), Clock::system())
}

/// Opens a provider compiled into this process (its crate's
/// `open_in_process_with`), the provider reading the time from `clock`.
pub fn open_in_process_with(
    open: fn(&str, &OpenContext) -> Result<FfiProviderBox, ProviderError>,
    config: &serde_json::Value,
    clock: &Clock,
) -> Result<Arc<dyn StateStore>, LoadError> {
    let context = OpenContext::READ_WRITE.with_clock(clock.to_provider_clock());
    in_process_store(open(&config_json(config), &context), clock.clone())
}

fn in_process_store(
    opened: Result<FfiProviderBox, ProviderError>,
    clock: Clock,
) -> Result<Arc<dyn StateStore>, LoadError> {
    let ffi = opened_or_error(opened, Path::new("<in-process>"), "in-process")?;
    Ok(Arc::new(ProviderStore::new(
        ffi,
        crate::provider::DEFAULT_CALL_TIMEOUT,
        clock,
    )))
}

fn config_json(config: &serde_json::Value) -> String {
    match config {
        serde_json::Value::Null => "{}".to_string(),
        other => other.to_string(),
    }
}

fn opened_or_error(
    opened: Result<FfiProviderBox, ProviderError>,
    path: &Path,
    provider: &str,
) -> Result<FfiProviderBox, LoadError> {
    opened.map_err(|error| {
        let (path, provider) = (path.to_path_buf(), provider.to_string());
        match error.kind() {
            ErrorKind::INVALID_ARGUMENT => LoadError::ConfigRejected {
                path,
                provider,
                message: error.message().to_string(),
            },
            ErrorKind::PANIC => LoadError::InitPanicked {
                path,
                provider,
                message: error.message().to_string(),
            },
            _ => LoadError::OpenFailed {
                path,
                provider,
                error,
            },
        }
    })
}

/// The interface versions this host loads: those of its own line, as
/// cargo reads versions (0.MAJOR.MINOR below 1.0, MAJOR.MINOR.PATCH from
/// it), whatever their minor. An older minor lacks methods: they answer
/// `UNSUPPORTED` and their capabilities read as absent. A newer minor has
/// methods this host never calls. (abi_stable compares every type of the
/// interface by the same reading, so no other line could load anyway.)
fn check_interface_version(path: &Path, library_version: &str) -> Result<(), LoadError> {
    if let (Some(library), Some(host)) = (line_of(library_version), line_of(INTERFACE_VERSION)) {
        if library == host {
            return Ok(());
        }
    }
    Err(LoadError::IncompatibleVersion {
        path: path.to_path_buf(),
        library_version: library_version.to_string(),
        host_version: INTERFACE_VERSION.to_string(),
    })
}

/// The library's root module, its layout checked against the interface it
/// was built against. abi_stable accepts a library whose module and
/// provider object have at least this host's fields; a library of an older
/// minor has fewer, so it is checked against the frozen shape of its own
/// version and then read as this version's (see
/// `stateplug_provider_api::ffi::frozen_0_1` for why that is sound).
fn module_of(header: &LibHeader, library_version: &str) -> Result<ProviderModuleRef, LibraryError> {
    match library_version {
        "0.1.0" => header.ensure_layout::<frozen_0_1::ProviderModuleRef>()?,
        "0.1.1" => header.ensure_layout::<frozen_0_1_1::ProviderModuleRef>()?,
        _ => return header.check_layout::<ProviderModuleRef>(),
    }
    // SAFETY: the library's module has the layout of an older interface
    // (just checked), of which this version's `ProviderModule` and
    // `FfiProvider` are extensions by appended fields only; every appended
    // field is read through an accessor that checks the library's own field
    // count and answers `None` (module) or runs the default body (provider
    // object) when it is missing.
    unsafe { header.unchecked_layout::<ProviderModuleRef>() }
        .map_err(|e| e.into_library_error::<ProviderModuleRef>())
}

/// The compatibility line of a version: `0.y` below 1.0, `x` from it.
fn line_of(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let second = parts.next()??;
    Some(if major == 0 { (0, second) } else { (major, 0) })
}

/// Turns abi_stable's error into a short `LoadError` naming the library
/// (`path`, as given), where the loader's messages about `loaded.0` (the
/// descriptor it read) name `loaded.1` (the file) instead.
fn classify(
    path: &Path,
    loaded: (&Path, &Path),
    err: LibraryError,
    library_version: &str,
) -> LoadError {
    let path = path.to_path_buf();
    let host_version = INTERFACE_VERSION.to_string();
    let named = |text: String| {
        text.replace(
            &loaded.0.display().to_string(),
            &loaded.1.display().to_string(),
        )
    };
    match err {
        LibraryError::OpenError { err, .. } => LoadError::Open {
            path,
            reason: named(err.to_string()),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAProvider { path },
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => {
            LoadError::IncompatibleVersion {
                path,
                library_version: actual_version.to_string(),
                host_version,
            }
        }
        LibraryError::AbiInstability(e) => LoadError::AbiMismatch {
            path,
            library_version: library_version.to_string(),
            host_version,
            mismatch: summarise_layout_error(&e.to_string()),
        },
        LibraryError::RootModule { err, .. } => LoadError::Incompatible {
            path,
            reason: format!(
                "its module failed to initialise: {}",
                named(first_line(&err.to_string()))
            ),
        },
        other => LoadError::Incompatible {
            path,
            reason: named(first_line(&other.to_string())),
        },
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// abi_stable describes a layout mismatch in over a thousand lines: both
/// layouts in full, then the differences, each as `Error:<what>` followed by
/// `Expected:` and `Found:` blocks. Keep the first difference, on one line.
fn summarise_layout_error(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let Some(at) = lines.iter().position(|l| l.starts_with("Error:")) else {
        return lines.last().map_or_else(
            || "unknown layout difference".to_string(),
            |l| l.to_string(),
        );
    };
    let what = lines[at].trim_start_matches("Error:").trim();
    let block = |label: &str| -> Option<String> {
        let start = lines[at..].iter().position(|l| *l == label)? + at + 1;
        let body: Vec<&str> = lines[start..]
            .iter()
            .take_while(|l| !l.ends_with(':') && !l.starts_with("Error:"))
            .take(3)
            .copied()
            .collect();
        Some(body.join(" "))
    };
    let in_type = lines[..at]
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("type:"));
    let mut summary = what.to_string();
    if let (Some(expected), Some(found)) = (block("Expected:"), block("Found:")) {
        summary.push_str(&format!(": expected {expected}, found {found}"));
    }
    if let Some(ty) = in_type {
        summary.push_str(&format!(" (in {ty})"));
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_errors_are_summarised_to_the_first_difference() {
        let text = "Compared <this>:\n    type:ProviderModule\n    lots\n\nError:mismatched package\nExpected:\n    stateplug-provider-api\nFound:\n    other-crate\n\nError:second\n";
        assert_eq!(
            summarise_layout_error(text),
            "mismatched package: expected stateplug-provider-api, found other-crate (in ProviderModule)"
        );
        assert_eq!(summarise_layout_error("no markers\nlast line"), "last line");
    }

    #[test]
    fn a_line_is_the_first_nonzero_number_as_cargo_reads_versions() {
        assert_eq!(line_of("0.1.0"), line_of("0.1.7"));
        assert_ne!(line_of("0.1.3"), line_of("0.2.0"));
        assert_eq!(line_of("1.0.0"), line_of("1.4.2"));
        assert_ne!(line_of("1.9.0"), line_of("2.0.0"));
        assert_eq!(line_of("garbage"), None);
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = ProviderLibrary::load("/nonexistent/libx.so").unwrap_err();
        assert!(matches!(err, LoadError::FileMissing { .. }));
        assert!(err.to_string().contains("/nonexistent/libx.so"), "{err}");
    }

    #[test]
    fn a_directory_is_not_a_library() {
        let dir = tempfile::tempdir().unwrap();
        let err = ProviderLibrary::load(dir.path()).unwrap_err();
        assert!(matches!(err, LoadError::NotAFile { .. }), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_library_is_refused_by_the_loader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("libfake.so");
        std::fs::write(&path, b"not an ELF file").unwrap();
        let err = ProviderLibrary::load(&path).unwrap_err();
        assert!(matches!(err, LoadError::Open { .. }), "{err}");
        assert!(err.to_string().contains("libfake.so"), "{err}");
        assert!(!err.to_string().contains("/proc/self/fd"), "{err}");
    }
}
