//! Loading a library runs its code, so a library that another user could
//! have replaced is refused, as OpenSSH (`StrictModes`) and sudo refuse
//! loose key files and plugins.
//!
//! The rules, checked on the resolved path (every symlink followed):
//!
//! - the file is owned by the current user or root, and is not writable by
//!   its group or by others;
//! - every folder from the file's up to `/` is owned by the current user or
//!   root, and is not writable by its group or by others, except that a
//!   folder owned by root with the sticky bit (like `/tmp`) may be writable
//!   by everybody: the sticky bit stops users from renaming or deleting
//!   files they do not own, and only root (or the file's owner) could.
//!
//! Group-writable folders are refused like group-writable files, although
//! the group may hold only their owner (OpenSSH looks that up in the group
//! database): the check stays one that reads the mode alone, and the fix is
//! one `chmod g-w` or `--allow-writable-library`.

use std::{fs::Metadata, os::unix::fs::MetadataExt, path::Path};

const GROUP_WRITE: u32 = 0o020;
const OTHER_WRITE: u32 = 0o002;
const STICKY: u32 = 0o1000;
const ROOT: u32 = 0;

/// Who owns a file or folder and its permission bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    /// The owner's user id.
    pub(crate) uid: u32,
    /// The permission bits (`st_mode & 0o7777`).
    pub(crate) mode: u32,
}

impl From<&Metadata> for Owner {
    fn from(meta: &Metadata) -> Self {
        Owner {
            uid: meta.uid(),
            mode: meta.mode() & 0o7777,
        }
    }
}

/// The user id this process runs as (the owner of `/proc/self`).
pub(crate) fn current_uid() -> Result<u32, String> {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| format!("cannot tell which user this process runs as (/proc/self: {e})"))
}

/// Why the library file `path`, owned as `file`, must not be loaded by
/// user `me`, or `None` if the file itself is trusted.
pub(crate) fn file_problem(path: &Path, file: Owner, me: u32) -> Option<String> {
    if file.uid != ROOT && file.uid != me {
        return Some(format!(
            "it is owned by another user (uid {}), who could replace it; install it as your \
             own user or as root",
            file.uid
        ));
    }
    writers(file.mode).map(|(who, chmod)| {
        format!(
            "it is writable by {who} (mode {:04o}); fix it with `chmod {chmod} {}`",
            file.mode,
            path.display()
        )
    })
}

/// Why the folder `path`, owned as `folder`, makes the library in it
/// untrusted for user `me`, or `None` if the folder is trusted.
pub(crate) fn folder_problem(path: &Path, folder: Owner, me: u32) -> Option<String> {
    if folder.uid != ROOT && folder.uid != me {
        return Some(format!(
            "its folder {} is owned by another user (uid {}), who could replace it; move \
             the library to a folder you or root own",
            path.display(),
            folder.uid
        ));
    }
    if folder.uid == ROOT && folder.mode & STICKY != 0 {
        return None;
    }
    writers(folder.mode).map(|(who, chmod)| {
        format!(
            "its folder {} is writable by {who} (mode {:04o}), so they could replace it; move \
             the library or fix it with `chmod {chmod} {}`",
            path.display(),
            folder.mode,
            path.display()
        )
    })
}

/// Who besides the owner may write, and the `chmod` that stops them.
fn writers(mode: u32) -> Option<(&'static str, &'static str)> {
    match (mode & GROUP_WRITE != 0, mode & OTHER_WRITE != 0) {
        (false, false) => None,
        (true, false) => Some(("its group", "g-w")),
        (false, true) => Some(("every user", "o-w")),
        (true, true) => Some(("its group and every user", "go-w")),
    }
}

/// Why a library at the resolved (canonical) path `resolved` must not be
/// loaded by user `me` because of a folder above it, or `None`: every
/// folder from the library's up to `/`.
pub(crate) fn folders_problem(resolved: &Path, me: u32) -> Option<String> {
    for folder in resolved.ancestors().skip(1) {
        // The path is canonical, so each ancestor is a real folder; one that
        // is not (any more) is a path that changed while it was checked.
        let meta = match std::fs::symlink_metadata(folder) {
            Ok(meta) if meta.is_dir() => meta,
            Ok(_) => {
                return Some(format!(
                    "its folder {} changed into something else while it was checked",
                    folder.display()
                ))
            }
            Err(e) => return Some(format!("cannot check its folder {}: {e}", folder.display())),
        };
        if let Some(why) = folder_problem(folder, Owner::from(&meta), me) {
            return Some(why);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u32 = 1000;
    const OTHER: u32 = 1001;

    fn owned(uid: u32, mode: u32) -> Owner {
        Owner { uid, mode }
    }

    fn file(uid: u32, mode: u32) -> Option<String> {
        file_problem(Path::new("/opt/p/libx.so"), owned(uid, mode), ME)
    }

    fn folder(uid: u32, mode: u32) -> Option<String> {
        folder_problem(Path::new("/opt/p"), owned(uid, mode), ME)
    }

    #[test]
    fn a_file_owned_by_me_or_root_and_written_only_by_its_owner_is_trusted() {
        assert_eq!(file(ME, 0o755), None);
        assert_eq!(file(ROOT, 0o755), None);
        assert_eq!(file(ME, 0o600), None);
    }

    #[test]
    fn a_file_owned_by_another_user_is_refused() {
        let why = file(OTHER, 0o755).unwrap();
        assert!(why.contains("owned by another user (uid 1001)"), "{why}");
    }

    #[test]
    fn a_file_writable_by_group_or_others_is_refused_with_the_chmod() {
        let why = file(ME, 0o775).unwrap();
        assert!(
            why.contains("writable by its group (mode 0775)")
                && why.contains("`chmod g-w /opt/p/libx.so`"),
            "{why}"
        );
        let why = file(ME, 0o757).unwrap();
        assert!(
            why.contains("writable by every user") && why.contains("chmod o-w"),
            "{why}"
        );
        let why = file(ROOT, 0o777).unwrap();
        assert!(why.contains("chmod go-w"), "{why}");
        assert!(
            file(ROOT, 0o1777).is_some(),
            "the sticky bit means nothing on a file"
        );
    }

    #[test]
    fn a_folder_owned_by_me_or_root_and_written_only_by_its_owner_is_trusted() {
        assert_eq!(folder(ME, 0o755), None);
        assert_eq!(folder(ROOT, 0o755), None);
        assert_eq!(folder(ME, 0o700), None);
    }

    #[test]
    fn a_folder_owned_by_another_user_is_refused() {
        let why = folder(OTHER, 0o755).unwrap();
        assert!(
            why.contains("its folder /opt/p is owned by another user (uid 1001)"),
            "{why}"
        );
        assert!(
            folder(OTHER, 0o1777).is_some(),
            "the owner of a sticky folder may still replace anything in it"
        );
    }

    #[test]
    fn a_folder_writable_by_group_or_others_is_refused_with_the_chmod() {
        let why = folder(ROOT, 0o777).unwrap();
        assert!(
            why.contains("its folder /opt/p is writable by its group and every user (mode 0777)")
                && why.contains("`chmod go-w /opt/p`"),
            "{why}"
        );
        let why = folder(ME, 0o757).unwrap();
        assert!(why.contains("every user") && why.contains("o-w"), "{why}");
        let why = folder(ME, 0o775).unwrap();
        assert!(why.contains("its group") && why.contains("g-w"), "{why}");
    }

    #[test]
    fn only_a_sticky_folder_owned_by_root_may_be_written_by_everybody() {
        assert_eq!(folder(ROOT, 0o1777), None, "like /tmp");
        assert_eq!(folder(ROOT, 0o1775), None);
        let why = folder(ME, 0o1777).unwrap();
        assert!(why.contains("writable by"), "{why}");
    }

    #[test]
    fn every_folder_up_to_the_root_is_checked() {
        use std::os::unix::fs::PermissionsExt;
        let chmod = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let (open, safe) = (root.join("open"), root.join("open/safe"));
        std::fs::create_dir_all(&safe).unwrap();
        let lib = safe.join("libx.so");
        let me = current_uid().unwrap();
        assert_eq!(folders_problem(&lib, me), None);
        chmod(&open, 0o777);
        let why = folders_problem(&lib, me).unwrap();
        assert!(
            why.contains(&format!("its folder {} is writable", open.display())),
            "a world-writable grandparent is found: {why}"
        );
        chmod(&open, 0o1777);
        assert_eq!(
            folders_problem(&lib, me).is_none(),
            me == ROOT,
            "a sticky folder is trusted when root owns it, like /tmp"
        );
        chmod(&open, 0o755);
    }
}
