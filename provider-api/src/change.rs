//! The change feed: what each committed write did, in commit order.

/// What a committed write did to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// The key did not exist and now does.
    Created,
    /// The key existed and got a new value.
    Updated,
    /// The key existed and was removed.
    Deleted,
    /// The key's time to live ran out and the provider removed it (its
    /// version is the removal's own revision).
    Expired,
}

impl ChangeKind {
    /// The wire form.
    pub fn to_wire(self) -> u8 {
        match self {
            ChangeKind::Created => 0,
            ChangeKind::Updated => 1,
            ChangeKind::Deleted => 2,
            ChangeKind::Expired => 3,
        }
    }

    /// The inverse of [`ChangeKind::to_wire`]; `None` for an unknown tag.
    pub fn from_wire(wire: u8) -> Option<Self> {
        match wire {
            0 => Some(ChangeKind::Created),
            1 => Some(ChangeKind::Updated),
            2 => Some(ChangeKind::Deleted),
            3 => Some(ChangeKind::Expired),
            _ => None,
        }
    }
}

/// One change a change feed reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    /// The store the key belongs to.
    pub store_id: String,
    /// The key.
    pub key: String,
    /// What happened.
    pub kind: ChangeKind,
    /// The revision of the write (every change of one write call shares it;
    /// for a deletion, the revision of the delete; for an expiry, the
    /// revision of the removal).
    pub version: u64,
}

/// A run of changes from a change feed, in commit order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangePage {
    /// The changes after the cursor passed in, oldest first.
    pub changes: Vec<ChangeRecord>,
    /// Pass this as `after` to continue past these changes.
    pub cursor: u64,
}
