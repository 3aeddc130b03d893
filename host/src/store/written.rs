//! [`Written`]: what a write did, as the provider answered it.
//!
//! Invariants: `frames` holds exactly `len` well-formed change frames (the
//! provider's answer, checked once when it arrives), so reading them back
//! never fails; `commit_writes` is non-zero on exactly one acknowledged
//! write of each provider call (the first), and counts the writes that
//! call acknowledged, so every commit is counted once.

use abi_stable::std_types::RVec;
use stateplug_provider_api::ffi::{frame_change, FramedChanges};
pub use stateplug_provider_api::KeyChange;

/// The answer to [`StateStore::write`](crate::StateStore::write): the
/// write's revision and every key it changed, with the version each had
/// before and has after, in the order of the write's operations.
#[derive(Clone, Default)]
pub struct Written {
    revision: u64,
    frames: RVec<u8>,
    len: usize,
    commit_writes: u32,
}

impl Written {
    /// An answer of `revision` with no change yet.
    pub(crate) fn new(revision: u64) -> Self {
        Written {
            revision,
            commit_writes: 1,
            ..Written::default()
        }
    }

    /// The answer of a one-unit write from the provider's framed changes,
    /// kept as they came; `None` if a frame is malformed or names another
    /// unit.
    pub(crate) fn from_frames(revision: u64, frames: RVec<u8>) -> Option<Self> {
        let mut walk = FramedChanges::new(&frames);
        let len = walk
            .by_ref()
            .try_fold(0usize, |n, (unit, _)| (unit == 0).then_some(n + 1))?;
        if walk.malformed() {
            return None;
        }
        Some(Written {
            revision,
            frames,
            len,
            commit_writes: 1,
        })
    }

    /// How many writes the provider call that acknowledged this one
    /// committed together, if this write is the first of them (0 for the
    /// others, whose commit the first one stands for).
    pub(crate) fn commit_writes(&self) -> u32 {
        self.commit_writes
    }

    /// Makes this write the one standing for a commit of `writes` writes,
    /// or (0) one of the others.
    pub(crate) fn set_commit_writes(&mut self, writes: u32) {
        self.commit_writes = writes;
    }

    /// Appends one changed key.
    pub(crate) fn push(&mut self, change: KeyChange<'_>) {
        frame_change(&mut self.frames, 0, change);
        self.len += 1;
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
        self.len
    }

    /// Whether the write changed nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The changed keys, in the order of the write's operations (a key put
    /// and then deleted by one write appears twice).
    pub fn changes(&self) -> impl ExactSizeIterator<Item = KeyChange<'_>> + '_ {
        Changes {
            frames: FramedChanges::new(&self.frames),
            left: self.len,
        }
    }
}

/// Two answers are equal when they report the same revision and changes,
/// whatever commit they shared.
impl PartialEq for Written {
    fn eq(&self, other: &Self) -> bool {
        self.revision == other.revision && self.len == other.len && self.frames == other.frames
    }
}

impl Eq for Written {}

impl std::fmt::Debug for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Written")
            .field("revision", &self.revision)
            .field("changes", &self.changes().collect::<Vec<_>>())
            .finish()
    }
}

/// The changes of a [`Written`], read from its frames.
struct Changes<'w> {
    frames: FramedChanges<'w>,
    left: usize,
}

impl<'w> Iterator for Changes<'w> {
    type Item = KeyChange<'w>;

    fn next(&mut self) -> Option<KeyChange<'w>> {
        let (_, change) = self.frames.next()?;
        self.left = self.left.saturating_sub(1);
        Some(change)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Changes<'_> {}

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
        assert_eq!(w.changes().len(), 3);
    }

    #[test]
    fn an_answer_with_a_malformed_frame_or_another_units_change_is_refused() {
        let change = KeyChange {
            key: "k",
            prior: None,
            version: Some(1),
        };
        let mut frames = RVec::new();
        frame_change(&mut frames, 0, change);
        let whole = Written::from_frames(1, frames.clone()).expect("well formed");
        assert_eq!(whole.changes().collect::<Vec<_>>(), [change]);
        let cut: RVec<u8> = frames[..frames.len() - 1].to_vec().into();
        assert_eq!(Written::from_frames(1, cut), None);
        let mut other = RVec::new();
        frame_change(&mut other, 1, change);
        assert_eq!(Written::from_frames(1, other), None);
    }
}
