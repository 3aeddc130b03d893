//! `LibraryCache`: each provider library is loaded once, whatever number of
//! instances it serves.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
};

use crate::provider::{library_file::LibraryFile, LoadError, LoadOptions, ProviderLibrary};

/// Provider libraries by canonical path: loading the same file twice (under
/// any spelling of its path) returns the library loaded the first time.
///
/// Libraries are never unloaded, so caching them costs nothing; it saves
/// the interface checks and makes "one library, many instances" explicit.
/// [`LibraryCache::global`] is the process-wide cache the host builder uses.
#[derive(Debug, Default)]
pub struct LibraryCache {
    loaded: Mutex<HashMap<PathBuf, ProviderLibrary>>,
}

impl LibraryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide cache.
    pub fn global() -> &'static LibraryCache {
        static GLOBAL: OnceLock<LibraryCache> = OnceLock::new();
        GLOBAL.get_or_init(LibraryCache::new)
    }

    /// The library at `path`, loaded on first use.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<ProviderLibrary, LoadError> {
        self.load_with(path, &LoadOptions::default())
    }

    /// The library at `path`, loaded on first use with `options`. The trust
    /// check runs on every call, so a library loaded once with
    /// `allow_writable_library` is not handed out to a caller without it.
    pub fn load_with(
        &self,
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<ProviderLibrary, LoadError> {
        let path = path.as_ref();
        let file = LibraryFile::open(path, options)?;
        let key = file.resolved().to_path_buf();
        // A poisoned lock only means another thread panicked while holding
        // it; the map itself is always in a consistent state.
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(library) = loaded.get(&key) {
            return Ok(library.clone());
        }
        let library = ProviderLibrary::load_file(path, file)?;
        loaded.insert(key, library.clone());
        Ok(library)
    }

    /// How many distinct libraries are loaded.
    pub fn len(&self) -> usize {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no library is loaded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
