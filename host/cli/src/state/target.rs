//! Which provider a `stateplug state` command works on: a pipeline
//! configuration's provider, or a library with its configuration.

use std::{path::PathBuf, sync::Arc};

use stateplug::{
    config::PipelineConfig, ops::OpsError, provider::resolve_library, provider::LibraryCache,
    LoadOptions, StateStore,
};

use crate::{exit, output::note, provider_cmd::load_failure, Failure};

/// `--config <pipeline.toml> [--provider NAME]` or `--library <lib> [--provider-config JSON]`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Target {
    /// A pipeline configuration (TOML); its provider holds the state.
    #[arg(long, value_name = "PIPELINE.toml")]
    pub(crate) config: Option<PathBuf>,
    /// With several [[providers]] in --config: which one (default: the first).
    #[arg(long, value_name = "NAME")]
    pub(crate) provider: Option<String>,
    /// A provider library: a path to a .so, or a name such as `redb` or `memory`.
    #[arg(long, value_name = "LIB")]
    pub(crate) library: Option<String>,
    /// The library's configuration as JSON, e.g. '{"path": "data/state.redb"}'.
    #[arg(long, value_name = "JSON")]
    pub(crate) provider_config: Option<String>,
    /// Load the provider library even if other users could have replaced it.
    #[arg(long, global = true)]
    pub(crate) allow_writable_library: bool,
}

impl Target {
    /// Loads and opens the provider; a problem with the configuration or
    /// the library is a usage error (exit 2), one with the storage a failure.
    /// `read_only`: the command only reads, so the provider creates nothing
    /// (a mistyped path is refused, not taken for an empty store).
    pub(crate) fn open(&self, read_only: bool) -> Result<Arc<dyn StateStore>, Failure> {
        match (&self.config, &self.library) {
            (Some(_), Some(_)) => Err(Failure::usage(
                "give either --config <pipeline.toml> or --library <lib>, not both",
            )),
            (None, None) => Err(Failure::usage(
                "name the provider holding the state: --config <pipeline.toml> (its \
                 [provider]) or --library <lib.so|name> [--provider-config JSON]",
            )),
            (Some(config), None) => {
                if self.provider_config.is_some() {
                    return Err(Failure::usage(
                        "--provider-config goes with --library; with --config the provider's \
                         configuration comes from the file",
                    ));
                }
                Configured::load(
                    config,
                    self.provider.as_deref(),
                    self.allow_writable_library,
                )?
                .open(read_only)
            }
            (None, Some(library)) => {
                if self.provider.is_some() {
                    return Err(Failure::usage(
                        "--provider names one of the [[providers]] of --config; with --library \
                         there is only that library",
                    ));
                }
                open_library(
                    library,
                    self.provider_config.as_deref(),
                    self.allow_writable_library,
                    read_only,
                )
            }
        }
    }
}

/// A pipeline configuration's provider, found but not opened.
pub(crate) struct Configured {
    /// The configuration file.
    origin: PathBuf,
    library: PathBuf,
    config: serde_json::Value,
    load: LoadOptions,
    open: stateplug::OpenOptions,
}

impl Configured {
    /// The provider `name` (default: the first) of the configuration at
    /// `path`, with the load and open options of its table
    /// (`allow_writable_library` also when `allow_writable_library` is given).
    pub(crate) fn load(
        path: &std::path::Path,
        name: Option<&str>,
        allow_writable_library: bool,
    ) -> Result<Self, Failure> {
        let mut config = PipelineConfig::load(path).map_err(Failure::usage)?;
        if allow_writable_library {
            config.allow_writable_libraries();
        }
        let provider = config.provider_named(name).map_err(Failure::usage)?;
        let library = config.library_path(&provider).map_err(Failure::usage)?;
        Ok(Configured {
            origin: path.to_path_buf(),
            library,
            config: provider.config_json(),
            load: provider.options().load,
            open: provider.options().open,
        })
    }

    /// Loads the library and opens the provider (`read_only`: creating nothing).
    pub(crate) fn open(&self, read_only: bool) -> Result<Arc<dyn StateStore>, Failure> {
        let open = stateplug::OpenOptions {
            read_only,
            ..self.open.clone()
        };
        let store = LibraryCache::global()
            .load_with(&self.library, &self.load)
            .and_then(|lib| lib.open_with(&self.config, &open))
            .map_err(|e| load_failure(self.origin.display(), e))?;
        warn_if_volatile(&store);
        Ok(store)
    }

    /// Where the provider keeps its state when its configuration names a
    /// `path` (redb's file; any provider's `path` names where it keeps its
    /// state), as the canonical path of that file: two configurations
    /// naming it, however spelt (relative, through a symbolic link), name
    /// the same state. Relative paths are relative to the current folder,
    /// as for the provider. `None` when there is no `path`.
    pub(crate) fn state_file(&self) -> Option<PathBuf> {
        let path = std::path::Path::new(self.config.get("path")?.as_str()?);
        if let Ok(canonical) = path.canonicalize() {
            return Some(canonical);
        }
        // Not there yet: its folder's canonical path and its name.
        let absolute = std::path::absolute(path).ok()?;
        let folder = absolute.parent()?.canonicalize();
        match (folder, absolute.file_name()) {
            (Ok(folder), Some(name)) => Some(folder.join(name)),
            _ => Some(absolute),
        }
    }
}

/// Opens a library by path or name with a JSON configuration.
fn open_library(
    name: &str,
    config: Option<&str>,
    allow_writable_library: bool,
    read_only: bool,
) -> Result<Arc<dyn StateStore>, Failure> {
    let path = resolve_library(name, None).map_err(|looked| {
        Failure::usage(format!(
            "provider library {name:?} not found; looked for {looked}. Build it (cargo build \
             --release) or give its path"
        ))
    })?;
    let config: serde_json::Value = match config {
        None => serde_json::json!({}),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            Failure::usage(format!("--provider-config is not valid JSON ({e}): {text}"))
        })?,
    };
    let options = LoadOptions {
        allow_writable_library,
    };
    let store = LibraryCache::global()
        .load_with(&path, &options)
        .and_then(|lib| {
            let open = stateplug::OpenOptions {
                read_only,
                ..Default::default()
            };
            lib.open_with(&config, &open)
        })
        .map_err(|e| load_failure(path.display(), e))?;
    warn_if_volatile(&store);
    Ok(store)
}

/// State commands see a fresh, empty store on a provider whose state lives
/// in the process; say so once.
fn warn_if_volatile(store: &Arc<dyn StateStore>) {
    if !store.is_durable() {
        note!(
            "note: provider {} is not durable: its state lives only inside one process, so \
             this command starts from an empty store and its writes end with it; use a \
             durable provider (redb) with `stateplug state`",
            store.info().name
        );
    }
}

/// An operation error with the exit code its cause deserves ([`exit::of_ops`]).
pub(crate) fn ops_failure(error: OpsError) -> Failure {
    Failure::new(exit::of_ops(&error), error)
}

/// A store error with the exit code its cause deserves ([`exit::of_store`]).
pub(crate) fn store_failure(error: stateplug::StoreError) -> Failure {
    Failure::new(exit::of_store(&error), error)
}
