//! [`ConfigError`]: what is wrong with a configuration, and where.

use std::path::PathBuf;

/// A configuration problem, naming the file, the line where known, and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not valid TOML, or does not fit the format, at a known place.
    #[error("invalid configuration {path}, line {line}, column {column}: {message}\n{excerpt}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// The column (1-based, in characters).
        column: usize,
        /// What is wrong, on one line.
        message: String,
        /// The line quoted, with the place marked under it.
        excerpt: String,
    },
    /// The file does not fit the format, in a way no one line shows.
    #[error("invalid configuration {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong and the fix.
        message: String,
    },
    /// A plugin's settings were refused by the plugin.
    #[error("invalid configuration {path}, line {line}: {what}: {message}")]
    Plugin {
        /// The file.
        path: PathBuf,
        /// The line of the plugin's entry.
        line: usize,
        /// Which plugin.
        what: String,
        /// The plugin's message.
        message: String,
    },
    /// A provider entry, or a plugin's `provider`, is wrong.
    #[error("invalid configuration {path}, line {line}: {message}")]
    Provider {
        /// The file.
        path: PathBuf,
        /// The line of the entry.
        line: usize,
        /// What is wrong and the fix.
        message: String,
    },
    /// The provider library could not be found.
    #[error("invalid configuration {path}: provider library {name:?} not found; looked for {looked}. Build it (cargo build --release) or give its path")]
    ProviderNotFound {
        /// The file.
        path: PathBuf,
        /// The name given.
        name: String,
        /// Where it looked.
        looked: String,
    },
}
