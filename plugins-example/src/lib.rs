//! Example stateplug plugins, and how to register them by kind:
//!
//! | kind | plugin | what it does |
//! |---|---|---|
//! | `file-tail` | [`FileTail`] source | emits each line of a file; resumes at the byte offset every reaction committed; follows appends |
//! | `generator` | [`Generator`] source | deterministic numbered lines of words at a configurable rate |
//! | `word-count` | [`WordCount`] reaction | counts words; commits counts and its checkpoint in one atomic call |
//! | `file-snapshot` | [`FileSnapshot`] bootstrap | hands a new reaction the file's current lines before live events |

mod file_snapshot;
mod file_tail;
mod generator;
mod settings;
mod word_count;

pub use file_snapshot::FileSnapshot;
pub use file_tail::FileTail;
pub use generator::{line_for, Generator};
pub use word_count::{count_words, WordCount, COUNT_PREFIX};

/// Registers every example plugin kind in `registry`.
pub fn register(registry: &mut stateplug::plugin::PluginRegistry) {
    registry
        .source("file-tail", file_tail::from_spec)
        .source("generator", generator::from_spec)
        .reaction("word-count", word_count::from_spec)
        .bootstrap("file-snapshot", file_snapshot::from_spec);
}
