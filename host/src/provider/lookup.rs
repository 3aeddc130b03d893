//! Finding a provider library by name, as configuration files name them.

use std::path::{Path, PathBuf};

use crate::provider::LoadError;

/// Finds a provider library: `name` itself if it looks like a path
/// (contains `/` or ends in `.so`), else `libstateplug_provider_<name>.so`
/// or `lib<name>.so` in `providers_dir`, or by default in
/// [`default_provider_dirs`]. The error lists every place looked.
pub fn resolve_library(name: &str, providers_dir: Option<&Path>) -> Result<PathBuf, String> {
    if name.contains('/') || name.ends_with(".so") {
        return Ok(PathBuf::from(name));
    }
    let dirs = match providers_dir {
        Some(dir) => vec![dir.to_path_buf()],
        None => default_provider_dirs(),
    };
    let files = [
        format!("libstateplug_provider_{}.so", name.replace('-', "_")),
        format!("lib{}.so", name.replace('-', "_")),
    ];
    let candidates: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| files.iter().map(move |f| d.join(f)))
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
}

/// The executable's `deps/` folder (where cargo builds the libraries a
/// binary depends on, fresh on every build and test run), then the folder
/// of the executable itself (where an installation puts them).
pub fn default_provider_dirs() -> Vec<PathBuf> {
    let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    else {
        return vec![PathBuf::from(".")];
    };
    vec![dir.join("deps"), dir]
}

/// The library file `name_or_path` names, as a configuration's `library`
/// does: a path as it is, a name looked up with [`resolve_library`] in
/// [`default_provider_dirs`].
pub(crate) fn library_file(name_or_path: &Path) -> Result<PathBuf, LoadError> {
    let Some(name) = name_or_path.to_str() else {
        return Ok(name_or_path.to_path_buf());
    };
    resolve_library(name, None).map_err(|looked| LoadError::NotFound {
        name: name.to_string(),
        looked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_taken_as_it_is_and_a_missing_name_says_where_it_looked() {
        assert_eq!(
            library_file(Path::new("./libx.so")).unwrap(),
            PathBuf::from("./libx.so")
        );
        let err = library_file(Path::new("no-such-provider")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("no-such-provider")
                && text.contains("libstateplug_provider_no_such_provider.so"),
            "{text}"
        );
    }
}
