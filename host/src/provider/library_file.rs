//! The library file as the loader checks and loads it: the path resolved,
//! the file opened, its descriptor checked, and the dynamic loader given
//! that descriptor (`/proc/self/fd/N`), so the file checked is the file
//! loaded even if the path is changed in between.
//!
//! The price: the dynamic loader takes `/proc/self/fd` for the library's
//! folder, so a library cannot find its own dependencies through `$ORIGIN`.

use std::{
    collections::HashMap,
    fs::File,
    os::{
        fd::{AsRawFd, OwnedFd},
        unix::fs::MetadataExt,
    },
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
};

use crate::provider::{trust, LoadError, LoadOptions};

/// A provider library file, opened and checked, ready to be loaded.
#[derive(Debug)]
pub(crate) struct LibraryFile {
    /// The canonical path it resolves to.
    resolved: PathBuf,
    file: File,
}

impl LibraryFile {
    /// Resolves `given` (following every symlink), checks it is a regular
    /// file and, unless `options` allow it, that nobody but the current
    /// user or root could have replaced it (see [`trust`]); then opens it
    /// and checks the opened file through its descriptor.
    pub(crate) fn open(given: &Path, options: &LoadOptions) -> Result<Self, LoadError> {
        let missing = |error: std::io::Error| match error.kind() {
            std::io::ErrorKind::NotFound => LoadError::FileMissing {
                path: given.to_path_buf(),
            },
            _ => LoadError::Unreadable {
                path: given.to_path_buf(),
                reason: error.to_string(),
            },
        };
        let not_a_file = || LoadError::NotAFile {
            path: given.to_path_buf(),
        };
        let resolved = std::fs::canonicalize(given).map_err(missing)?;
        // Only a regular file is opened: opening a FIFO would wait for a writer.
        if !std::fs::metadata(&resolved).map_err(missing)?.is_file() {
            return Err(not_a_file());
        }
        let untrusted = |why: String| untrusted(given, &resolved, why);
        // The folders are checked before the file is opened: once they are
        // trusted, nobody else can swap the file in them.
        let me = if options.allow_writable_library {
            None
        } else {
            let me = trust::current_uid().map_err(untrusted)?;
            if let Some(why) = trust::folders_problem(&resolved, me) {
                return Err(untrusted(why));
            }
            Some(me)
        };
        let file = File::open(&resolved).map_err(missing)?;
        let opened = file.metadata().map_err(missing)?;
        if !opened.is_file() {
            return Err(not_a_file());
        }
        if let Some(me) = me {
            if let Some(why) = trust::file_problem(&resolved, (&opened).into(), me) {
                return Err(untrusted(why));
            }
            let same = std::fs::symlink_metadata(&resolved).is_ok_and(|at_path| {
                (at_path.dev(), at_path.ino()) == (opened.dev(), opened.ino())
            });
            if !same {
                return Err(untrusted(
                    "it was replaced while it was checked; load it again".to_string(),
                ));
            }
        }
        Ok(LibraryFile { resolved, file })
    }

    /// The canonical path the library resolves to.
    pub(crate) fn resolved(&self) -> &Path {
        &self.resolved
    }

    /// Where the dynamic loader reads this file: `/proc/self/fd/N` of a
    /// descriptor open on it.
    ///
    /// The dynamic loader remembers every name it loaded a library under
    /// and answers a later load of the same name with that library, so the
    /// descriptor behind a name it was given must never close (its number
    /// would be reused for another file). Libraries are never unloaded
    /// either: one descriptor stays open per distinct file loaded, for the
    /// life of the process, and a file loaded again reuses its descriptor.
    pub(crate) fn loader_path(self) -> PathBuf {
        static KEPT: OnceLock<Mutex<HashMap<(u64, u64), OwnedFd>>> = OnceLock::new();
        let id = match self.file.metadata() {
            Ok(meta) => (meta.dev(), meta.ino()),
            // fstat of an open descriptor does not fail; if it did, this
            // descriptor is kept under an id of its own.
            Err(_) => (u64::MAX, self.file.as_raw_fd() as u64),
        };
        // A poisoned lock only means another thread panicked while holding
        // it; the map itself is always in a consistent state.
        let mut kept = KEPT
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let fd = kept.entry(id).or_insert_with(|| OwnedFd::from(self.file));
        PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
    }
}

/// Refuses `given`, saying what it resolves to when that is another file.
fn untrusted(given: &Path, resolved: &Path, why: String) -> LoadError {
    let absolute = std::path::absolute(given).unwrap_or_else(|_| given.to_path_buf());
    let reason = if absolute == resolved {
        why
    } else {
        format!("it resolves to {}, and {why}", resolved.display())
    };
    LoadError::Untrusted {
        path: given.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::provider::ProviderLibrary;

    fn copy_of_a_library(dir: &Path) -> PathBuf {
        let lib = dir.join("libchecked.so");
        std::fs::copy(crate::conformance::built_library("fixture-minimal"), &lib).unwrap();
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).unwrap();
        lib
    }

    #[test]
    fn the_file_loaded_is_the_file_checked_even_if_the_path_is_replaced_between() {
        let dir = tempfile::tempdir().unwrap();
        let lib = copy_of_a_library(dir.path());
        let checked = LibraryFile::open(&lib, &LoadOptions::default()).expect("trusted");
        let other = dir.path().join("other.so");
        std::fs::write(&other, b"not a library").unwrap();
        std::fs::rename(&other, &lib).unwrap();
        let library = ProviderLibrary::load_file(&lib, checked).expect("the checked file loads");
        assert_eq!(library.info().name, "minimal");
        assert_eq!(library.path(), lib, "named as the caller gave it");
        let err = ProviderLibrary::load(&lib).unwrap_err();
        assert!(
            matches!(err, LoadError::Open { .. }),
            "what is at the path now is not a library: {err}"
        );
        assert!(
            err.to_string().contains(&lib.display().to_string())
                && !err.to_string().contains("/proc/self/fd"),
            "the loader's message names the file, not the descriptor: {err}"
        );
    }

    #[test]
    fn a_file_loaded_again_reuses_its_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let lib = copy_of_a_library(dir.path());
        let open = || LibraryFile::open(&lib, &LoadOptions::default()).unwrap();
        let first = open().loader_path();
        assert_eq!(open().loader_path(), first);
        assert!(first.starts_with("/proc/self/fd/"), "{first:?}");
        assert_eq!(
            std::fs::canonicalize(&first).unwrap(),
            lib.canonicalize().unwrap(),
            "the descriptor stays open on the file"
        );
    }

    #[test]
    fn a_link_is_named_with_what_it_resolves_to() {
        let dir = tempfile::tempdir().unwrap();
        let lib = copy_of_a_library(dir.path());
        let link = dir.path().join("liblink.so");
        std::os::unix::fs::symlink(&lib, &link).unwrap();
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = LibraryFile::open(&link, &LoadOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "refusing to load provider library {}: it resolves to {}, and it is writable",
                link.display(),
                lib.canonicalize().unwrap().display()
            )),
            "{text}"
        );
    }
}
