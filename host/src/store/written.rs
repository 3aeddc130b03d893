//! [`Written`]: what a write did, as the provider answered it.
//!
//! Invariant: `index[i]` holds the bounds of change `i`'s key in `keys`
//! (keys are appended whole, so the bounds lie on `char` boundaries).

use std::ops::Range;

pub use stateplug_provider_api::KeyChange;

#[derive(Debug, Clone, PartialEq, Eq)]
struct ChangeIndex {
    key: Range<usize>,
    prior: Option<u64>,
    version: Option<u64>,
}

/// The answer to [`StateStore::write`](crate::StateStore::write): the
/// write's revision and every key it changed, with the version each had
/// before and has after, in the order of the write's operations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Written {
    revision: u64,
    keys: String,
    index: Vec<ChangeIndex>,
}

impl Written {
    /// An answer of `revision` with no change yet.
    pub(crate) fn new(revision: u64) -> Self {
        Written {
            revision,
            ..Written::default()
        }
    }

    /// Appends one changed key.
    pub(crate) fn push(&mut self, change: KeyChange<'_>) {
        let start = self.keys.len();
        self.keys.push_str(change.key);
        self.index.push(ChangeIndex {
            key: start..self.keys.len(),
            prior: change.prior,
            version: change.version,
        });
    }

    /// The write's revision: the version of every key it put and the
    /// revision of every deletion it made; 0 if it changed nothing (and, for
    /// a provider built against provider-api 0.1, for a write that only
    /// deleted).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// How many keys the write changed.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the write changed nothing.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The changed keys, in the order of the write's operations (a key put
    /// and then deleted by one write appears twice).
    pub fn changes(&self) -> impl ExactSizeIterator<Item = KeyChange<'_>> + '_ {
        self.index.iter().map(|c| KeyChange {
            key: &self.keys[c.key.clone()],
            prior: c.prior,
            version: c.version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ChangeKind;

    #[test]
    fn changes_come_back_in_order_with_their_kinds() {
        let mut w = Written::new(7);
        for (key, prior, version) in [
            ("a", None, Some(7)),
            ("é", Some(3), Some(7)),
            ("b", Some(2), None),
        ] {
            w.push(KeyChange {
                key,
                prior,
                version,
            });
        }
        assert_eq!(w.revision(), 7);
        let seen: Vec<(String, ChangeKind)> =
            w.changes().map(|c| (c.key.to_string(), c.kind())).collect();
        assert_eq!(
            seen,
            [
                ("a".to_string(), ChangeKind::Created),
                ("é".to_string(), ChangeKind::Updated),
                ("b".to_string(), ChangeKind::Deleted)
            ]
        );
        assert!(!w.is_empty() && w.len() == 3);
    }
}
