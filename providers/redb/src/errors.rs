//! The one seam where redb errors become [`ProviderError`]s.
//!
//! Every redb error type converts into [`redb::Error`]; [`map_error`] turns
//! that into a provider error whose message names the database file, says
//! what to do, and keeps redb's own text. [`AtPath::at`] applies it to a
//! `Result`.

use std::io;
use std::path::Path;

use stateplug_provider_api::{ProviderError, ProviderResult};

/// Linux's "no space left on device".
const ENOSPC: i32 = 28;

/// Maps a redb error on the database file `path` to a provider error.
///
/// - file in use (`DatabaseAlreadyOpen`, `LockProtocolMismatch`): `UNAVAILABLE`,
///   temporary: the instance holding it may close it
/// - I/O (`Io`, `PreviousIo`, `Unsupported`): `STORAGE`, naming a full disk as such
/// - `Corrupted`, `UpgradeRequired`, a foreign table layout: `STORAGE` with the fix
/// - `ValueTooLarge`: `INVALID_ARGUMENT`
/// - a busy or closed database: `UNAVAILABLE` (temporary)
/// - anything else (a misuse of redb by this provider): `INTERNAL`
pub fn map_error(path: &Path, err: redb::Error) -> ProviderError {
    let file = path.display();
    match err {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            ProviderError::unavailable(format!(
                "redb database file {file} is in use: another provider instance (in this or \
                 another process) has it open, and redb allows one open per file; close that \
                 instance or share it ({err})"
            ))
        }
        redb::Error::Io(ref io_err) => io_error(path, io_err, &err),
        redb::Error::PreviousIo => ProviderError::storage(format!(
            "redb database file {file} had an I/O error earlier and refuses further work \
             until reopened; fix the cause (disk, permissions) and restart the provider ({err})"
        )),
        redb::Error::Unsupported => ProviderError::storage(format!(
            "redb database file {file}: the file system does not support an operation redb \
             needs (such as file locks); put the file on a local file system ({err})"
        )),
        redb::Error::Corrupted(_) => ProviderError::storage(format!(
            "redb database file {file} is corrupt, restore from backup ({err})"
        )),
        redb::Error::UpgradeRequired(version) => ProviderError::storage(format!(
            "redb database file {file} uses the older redb file format {version}; upgrade it \
             with redb 3's `Database::upgrade()` (or restore it from a backup made by this \
             version) before opening it ({err})"
        )),
        redb::Error::TableTypeMismatch { .. }
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_) => ProviderError::storage(format!(
            "redb database file {file} was not written by the stateplug redb provider (its \
             tables have other types); point `path` at a stateplug file or a new file ({err})"
        )),
        redb::Error::ValueTooLarge(_) => ProviderError::invalid_argument(format!(
            "redb database file {file}: {err}; store a smaller value"
        )),
        redb::Error::DatabaseClosed
        | redb::Error::TransactionInProgress
        | redb::Error::WouldBlock => ProviderError::unavailable(format!(
            "redb database file {file} is busy or closed; retry ({err})"
        )),
        other => ProviderError::internal(format!(
            "redb database file {file}: unexpected redb error, a bug in the stateplug redb \
             provider; please report it ({other})"
        )),
    }
}

/// An I/O error on the database file: `STORAGE`, saying so when the disk is full.
fn io_error(path: &Path, io_err: &io::Error, err: &redb::Error) -> ProviderError {
    let file = path.display();
    let full = io_err.raw_os_error() == Some(ENOSPC) || io_err.kind() == io::ErrorKind::StorageFull;
    if full {
        ProviderError::storage(format!(
            "redb database file {file}: no space left on device (ENOSPC); free disk space, \
             then retry ({err})"
        ))
    } else if io_err.kind() == io::ErrorKind::PermissionDenied {
        ProviderError::storage(format!(
            "redb database file {file}: permission denied; let this process read and write \
             the file and its folder ({err})"
        ))
    } else {
        ProviderError::storage(format!("redb database file {file}: {err}"))
    }
}

/// The folder `folder` of the database file `path` cannot be created:
/// `STORAGE`, naming the file, the folder and, when a path component is a
/// file rather than a folder, that file (the OS only says "File exists").
pub(crate) fn folder_error(path: &Path, folder: &Path, err: &io::Error) -> ProviderError {
    let (file, folder_shown) = (path.display(), folder.display());
    match folder.ancestors().find(|a| a.exists() && !a.is_dir()) {
        Some(blocker) => ProviderError::storage(format!(
            "redb database file {file}: cannot create its folder {folder_shown}: {} is a \
             file, not a folder; choose another path ({err})",
            blocker.display()
        )),
        None => ProviderError::storage(format!(
            "redb database file {file}: cannot create its folder {folder_shown}: {err}; \
             choose a path in a folder this process can create and write"
        )),
    }
}

/// The database file `path` exists but is empty: `STORAGE`. The provider
/// creates its files whole, so an empty one was truncated or damaged;
/// opening it as a new database would silently start from nothing.
pub(crate) fn empty_file_error(path: &Path) -> ProviderError {
    ProviderError::storage(format!(
        "redb database file {} is empty (0 bytes): it was probably truncated or damaged, \
         since this provider never leaves an empty file. Restore it from a backup (or a \
         `stateplug state dump`), or remove the file to start afresh, or set \
         `initialise_empty_file = true` in the provider configuration to make a new \
         database in it",
        path.display()
    ))
}

/// The error of a read-only open of a file that does not exist: nothing is
/// created, so a mistyped path is not mistaken for an empty store.
pub(crate) fn missing_file_error(path: &Path) -> ProviderError {
    ProviderError::invalid_argument(format!(
        "redb database file {} does not exist; check the path (a command that only reads \
         never creates a file)",
        path.display()
    ))
}

/// Maps any redb error of a `Result` through [`map_error`].
pub(crate) trait AtPath<T> {
    /// The result, with a redb error mapped for the database file `path`.
    fn at(self, path: &Path) -> ProviderResult<T>;
}

impl<T, E: Into<redb::Error>> AtPath<T> for Result<T, E> {
    fn at(self, path: &Path) -> ProviderResult<T> {
        self.map_err(|e| map_error(path, e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateplug_provider_api::ErrorKind;

    fn mapped(err: redb::Error) -> ProviderError {
        map_error(Path::new("/data/state.redb"), err)
    }

    fn assert_maps(err: redb::Error, kind: ErrorKind, needles: &[&str]) {
        let original = err.to_string();
        let e = mapped(err);
        assert_eq!(e.kind(), kind, "{e}");
        assert!(e.message().contains("/data/state.redb"), "{e}");
        assert!(e.message().contains(&original), "original text kept: {e}");
        for needle in needles {
            assert!(e.message().contains(needle), "{needle:?} in {e}");
        }
    }

    #[test]
    fn file_in_use_is_unavailable() {
        assert_maps(
            redb::Error::DatabaseAlreadyOpen,
            ErrorKind::UNAVAILABLE,
            &["is in use"],
        );
        assert_maps(
            redb::Error::LockProtocolMismatch,
            ErrorKind::UNAVAILABLE,
            &["is in use"],
        );
        assert!(mapped(redb::Error::DatabaseAlreadyOpen).is_temporary());
    }

    #[test]
    fn disk_full_is_named() {
        let err = redb::Error::Io(io::Error::from_raw_os_error(ENOSPC));
        assert_maps(
            err,
            ErrorKind::STORAGE,
            &["no space left", "ENOSPC", "free disk space"],
        );
        let err = redb::Error::Io(io::Error::from(io::ErrorKind::StorageFull));
        assert_maps(err, ErrorKind::STORAGE, &["ENOSPC"]);
    }

    #[test]
    fn other_io_is_storage() {
        let err = redb::Error::Io(io::Error::other("disk on fire"));
        assert_maps(err, ErrorKind::STORAGE, &["I/O error", "disk on fire"]);
        let err = redb::Error::Io(io::Error::from(io::ErrorKind::PermissionDenied));
        assert_maps(err, ErrorKind::STORAGE, &["permission denied"]);
        assert_maps(redb::Error::PreviousIo, ErrorKind::STORAGE, &["restart"]);
        assert_maps(
            redb::Error::Unsupported,
            ErrorKind::STORAGE,
            &["local file system"],
        );
    }

    #[test]
    fn corruption_says_restore_from_backup() {
        let err = redb::Error::Corrupted("bad checksum".into());
        assert_maps(
            err,
            ErrorKind::STORAGE,
            &["corrupt, restore from backup", "bad checksum"],
        );
    }

    #[test]
    fn old_format_names_the_upgrade() {
        assert_maps(
            redb::Error::UpgradeRequired(2),
            ErrorKind::STORAGE,
            &["Database::upgrade()"],
        );
    }

    #[test]
    fn foreign_tables_are_storage() {
        let err = redb::Error::TableIsMultimap("stateplug_entries".into());
        assert_maps(
            err,
            ErrorKind::STORAGE,
            &["not written by the stateplug redb provider"],
        );
    }

    #[test]
    fn value_too_large_is_invalid_argument() {
        assert_maps(
            redb::Error::ValueTooLarge(5 << 30),
            ErrorKind::INVALID_ARGUMENT,
            &[],
        );
    }

    #[test]
    fn busy_or_closed_is_unavailable() {
        for err in [
            redb::Error::DatabaseClosed,
            redb::Error::TransactionInProgress,
            redb::Error::WouldBlock,
        ] {
            assert_maps(err, ErrorKind::UNAVAILABLE, &["retry"]);
        }
    }

    #[test]
    fn misuse_is_internal() {
        assert_maps(
            redb::Error::TransactionPoisoned,
            ErrorKind::INTERNAL,
            &["bug"],
        );
        assert_maps(
            redb::Error::TableDoesNotExist("x".into()),
            ErrorKind::INTERNAL,
            &["bug"],
        );
    }

    #[test]
    fn a_folder_that_cannot_be_created_is_named() {
        let dir = std::env::temp_dir().join(format!("stateplug-folder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let folder = plain.join("sub");
        let err = std::fs::create_dir_all(&folder).unwrap_err();
        let e = folder_error(&folder.join("state.redb"), &folder, &err);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(e.kind(), ErrorKind::STORAGE);
        let expected = format!("{} is a file, not a folder", plain.display());
        assert!(e.message().contains(&expected), "{e}");
        assert!(e.message().contains("state.redb"), "{e}");

        let err = io::Error::from(io::ErrorKind::PermissionDenied);
        let e = folder_error(Path::new("/nope/x/state.redb"), Path::new("/nope/x"), &err);
        assert!(
            e.message().contains("cannot create its folder /nope/x"),
            "{e}"
        );
    }

    #[test]
    fn every_redb_error_type_goes_through_the_seam() {
        let r: Result<(), redb::DatabaseError> = Err(redb::DatabaseError::DatabaseAlreadyOpen);
        assert_eq!(
            r.at(Path::new("f")).unwrap_err().kind(),
            ErrorKind::UNAVAILABLE
        );
        let r: Result<(), redb::StorageError> = Err(redb::StorageError::Corrupted("x".into()));
        assert_eq!(r.at(Path::new("f")).unwrap_err().kind(), ErrorKind::STORAGE);
    }
}
