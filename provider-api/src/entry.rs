//! What a store holds: a value with its version, and the conditions a
//! write may put on a key's version.

/// A stored value with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value bytes.
    pub value: Vec<u8>,
    /// The version the write that produced this value was given. Versions
    /// start at 1 and are never reused within a store_id.
    pub version: u64,
}

/// The condition of a compare-and-set or a transaction check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expected {
    /// The key must not exist (create-if-absent).
    Absent,
    /// The key must exist with exactly this version.
    Version(u64),
}

impl Expected {
    /// Whether the current version of a key (`None` if absent) meets the condition.
    pub fn matches(self, current: Option<u64>) -> bool {
        match self {
            Expected::Absent => current.is_none(),
            Expected::Version(v) => current == Some(v),
        }
    }
}

/// One retained version of a key, as [`crate::Provider::history`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The version the write gave the key (for a deletion: the revision of the delete).
    pub version: u64,
    /// The value written, or `None` if the key was deleted at this version.
    pub value: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_matches_only_its_state() {
        assert!(Expected::Absent.matches(None));
        assert!(!Expected::Absent.matches(Some(3)));
        assert!(Expected::Version(3).matches(Some(3)));
        assert!(!Expected::Version(3).matches(None));
        assert!(!Expected::Version(0).matches(None), "no key has version 0");
    }
}
