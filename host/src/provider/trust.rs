//! Loading a library runs its code, so a library that another user could
//! have replaced is refused, as ssh refuses loose key files.
//!
//! A library is trusted when it is owned by the current user or root, is
//! not writable by group or others, and its folder is not writable by
//! others (unless the folder has the sticky bit, which stops others from
//! replacing files they do not own).

use std::{os::unix::fs::MetadataExt, path::Path};

const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const OTHER_WRITE: u32 = 0o002;
const STICKY: u32 = 0o1000;

/// Why `path` must not be trusted, or `None` if it may be loaded.
pub(crate) fn untrusted_because(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let mode = meta.mode() & 0o7777;
    if mode & GROUP_OR_OTHER_WRITE != 0 {
        return Some(format!(
            "it is writable by other users (mode {mode:04o}); fix it with `chmod go-w {}`",
            path.display()
        ));
    }
    if meta.uid() != 0 && me.is_some_and(|me| me != meta.uid()) {
        return Some(format!(
            "it is owned by another user (uid {}); install it as your own user or as root",
            meta.uid()
        ));
    }
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let folder_mode = std::fs::metadata(folder).map(|m| m.mode() & 0o7777).ok()?;
    if folder_mode & OTHER_WRITE != 0 && folder_mode & STICKY == 0 {
        return Some(format!(
            "its folder {} is writable by every user (mode {folder_mode:04o}), so anyone could replace it; \
             move the library or fix it with `chmod o-w {}`",
            folder.display(),
            folder.display()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn loose_files_and_folders_are_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libx.so");
        std::fs::write(&lib, b"x").unwrap();
        chmod(&lib, 0o644);
        assert_eq!(untrusted_because(&lib), None);
        chmod(&lib, 0o664);
        let why = untrusted_because(&lib).unwrap();
        assert!(
            why.contains("writable by other users") && why.contains("chmod go-w"),
            "{why}"
        );
        chmod(&lib, 0o646);
        assert!(untrusted_because(&lib).is_some());
        chmod(&lib, 0o755);
        chmod(dir.path(), 0o777);
        let why = untrusted_because(&lib).unwrap();
        assert!(
            why.contains("writable by every user") && why.contains("chmod o-w"),
            "{why}"
        );
        chmod(dir.path(), 0o1777);
        assert_eq!(
            untrusted_because(&lib),
            None,
            "a sticky folder is like /tmp"
        );
        chmod(dir.path(), 0o700);
    }
}
