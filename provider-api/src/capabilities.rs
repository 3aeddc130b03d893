//! What a provider declares it can do, and who it is.

use abi_stable::{std_types::RString, StableAbi};

use crate::Limits;

/// A set of capability bits. New capabilities are new bits, so adding one
/// does not change the layout of [`Capabilities`].
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapabilityFlags(pub u64);

/// # What a store can do
///
/// An operation whose capability is not declared is refused with
/// `UNSUPPORTED` before it reaches the provider.
impl CapabilityFlags {
    /// No capability beyond the base operations.
    pub const NONE: CapabilityFlags = CapabilityFlags(0);
    /// An acknowledged write is on stable storage and survives a crash.
    pub const DURABLE: CapabilityFlags = CapabilityFlags(1 << 0);
    /// A write of several puts or deletes (`set_many`, `delete_many`)
    /// applies all-or-nothing.
    pub const ATOMIC_BATCHES: CapabilityFlags = CapabilityFlags(1 << 1);
    /// Writes may carry version checks (compare-and-set, compare-and-delete,
    /// create-if-absent), and honour them.
    pub const COMPARE_AND_SET: CapabilityFlags = CapabilityFlags(1 << 2);
    /// A write may mix checks, puts, deletes and clears, all-or-nothing.
    pub const TRANSACTIONS: CapabilityFlags = CapabilityFlags(1 << 3);
    /// `scan` walks keys in order by prefix and range, in pages.
    pub const ORDERED_SCANS: CapabilityFlags = CapabilityFlags(1 << 4);
    /// `list_stores` lists the store_ids that hold keys.
    pub const LIST_STORES: CapabilityFlags = CapabilityFlags(1 << 5);
    /// `history` and `get_version` return past versions of a key.
    pub const HISTORY: CapabilityFlags = CapabilityFlags(1 << 8);
    /// `change_head` and `wait_changes` report every committed change, also
    /// those made by other processes or hosts sharing the storage.
    pub const CHANGE_FEED: CapabilityFlags = CapabilityFlags(1 << 9);
    /// A put may carry an expiry ([`WriteOp::PutExpiring`](crate::WriteOp::PutExpiring)):
    /// from that time on no read returns the key, the provider removes it
    /// in the background, and a change feed reports the removal as
    /// [`ChangeKind::Expired`](crate::ChangeKind::Expired). A put without
    /// one clears the key's expiry. The provider reads the time from the
    /// [`Clock`](crate::Clock) of its [`OpenContext`](crate::OpenContext).
    pub const TTL: CapabilityFlags = CapabilityFlags(1 << 12);
    /// `change_head` and `wait_changes` report the provider's removals of
    /// expired keys (kind [`ChangeKind::Expired`](crate::ChangeKind::Expired)),
    /// and nothing else: for a provider without a full
    /// [`CHANGE_FEED`](CapabilityFlags::CHANGE_FEED), whose other changes
    /// the host learns from the writes' answers. Each removal has a
    /// revision of its own, from the sequence that numbers writes, and is
    /// in the feed before any later write to its key returns. A reader
    /// that falls behind what the provider retains is refused with
    /// `INVALID_ARGUMENT`. [`ExpiryLog`](crate::ExpiryLog) implements it.
    pub const EXPIRY_FEED: CapabilityFlags = CapabilityFlags(1 << 13);
}

/// # Scheduling hints
///
/// How the host may call the provider. They promise nothing about the
/// stored data; they tell the host which thread to run a call on and
/// whether to hand it writes in groups. Without any, every call runs on
/// tokio's blocking pool, bounded by the call timeout, which is always
/// correct.
impl CapabilityFlags {
    /// Reads finish in microseconds without waiting on a network or a lock
    /// held across I/O, so the host runs them on the calling task.
    pub const INLINE_READS: CapabilityFlags = CapabilityFlags(1 << 6);
    /// Writes finish in microseconds (no fsync, no network), so the host
    /// runs them on the calling task.
    pub const INLINE_WRITES: CapabilityFlags = CapabilityFlags(1 << 7);
    /// Calls that are not inline wait only on local storage (disk, fsync),
    /// never on a network or on another process, so they always finish.
    /// On a multi-thread runtime the host then runs them on the calling
    /// worker thread (tokio's `block_in_place`) instead of handing them to
    /// another thread, which saves a thread hop per call; such calls are
    /// not subject to the call timeout.
    pub const LOCAL_IO: CapabilityFlags = CapabilityFlags(1 << 10);
    /// `write_group` commits the writes of concurrent callers together (one
    /// transaction and one sync for the group), so the host hands every
    /// write to one group writer: a write that finds none running goes to
    /// the provider at once, alone; writes that arrive meanwhile wait and go
    /// as one group when it returns. With `LOCAL_IO` on a multi-thread
    /// runtime the first group runs on the caller's worker, otherwise on the
    /// blocking pool; either way no write takes a thread of its own.
    pub const GROUP_WRITES: CapabilityFlags = CapabilityFlags(1 << 11);
}

impl CapabilityFlags {
    /// Every flag defined by this interface version.
    pub const ALL: CapabilityFlags = CapabilityFlags(0b11_1111_1111_1111);

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: CapabilityFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two sets.
    pub const fn union(self, other: CapabilityFlags) -> CapabilityFlags {
        CapabilityFlags(self.0 | other.0)
    }

    /// `self` without the bits of `other`.
    pub const fn without(self, other: CapabilityFlags) -> CapabilityFlags {
        CapabilityFlags(self.0 & !other.0)
    }

    /// Every flag this interface version defines, with its display name,
    /// in declaration order.
    pub fn each() -> impl Iterator<Item = (CapabilityFlags, &'static str)> {
        NAMED_FLAGS.iter().copied()
    }

    /// The names of the set flags, for display.
    pub fn names(self) -> Vec<&'static str> {
        NAMED_FLAGS
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect()
    }
}

/// Each flag with its display name, in declaration order.
const NAMED_FLAGS: [(CapabilityFlags, &str); 14] = [
    (CapabilityFlags::DURABLE, "durable"),
    (CapabilityFlags::ATOMIC_BATCHES, "atomic batches"),
    (
        CapabilityFlags::COMPARE_AND_SET,
        "versions / compare-and-set",
    ),
    (CapabilityFlags::TRANSACTIONS, "transactions"),
    (CapabilityFlags::ORDERED_SCANS, "ordered scans"),
    (CapabilityFlags::LIST_STORES, "list stores"),
    (CapabilityFlags::INLINE_READS, "inline reads"),
    (CapabilityFlags::INLINE_WRITES, "inline writes"),
    (CapabilityFlags::HISTORY, "history"),
    (CapabilityFlags::CHANGE_FEED, "change feed"),
    (CapabilityFlags::TTL, "time to live"),
    (CapabilityFlags::EXPIRY_FEED, "expiry feed"),
    (CapabilityFlags::LOCAL_IO, "local I/O only"),
    (CapabilityFlags::GROUP_WRITES, "group writes"),
];

/// What a provider declares it can do. An operation whose capability is not
/// declared is refused with `UNSUPPORTED` before it reaches the provider.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The capability bits.
    pub flags: CapabilityFlags,
    /// The size limits the provider enforces.
    pub limits: Limits,
}

impl Capabilities {
    /// Capabilities with `flags` and the default limits.
    pub const fn new(flags: CapabilityFlags) -> Self {
        Capabilities {
            flags,
            limits: Limits::DEFAULT,
        }
    }

    /// Whether `flag` is declared.
    pub const fn has(&self, flag: CapabilityFlags) -> bool {
        self.flags.contains(flag)
    }

    /// Whether writes are durable.
    pub const fn is_durable(&self) -> bool {
        self.has(CapabilityFlags::DURABLE)
    }
}

/// Who a provider is: its name, its own version, and the interface version it was built against.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    /// The provider's name, e.g. `redb`.
    pub name: RString,
    /// The provider crate's version.
    pub version: RString,
    /// The `stateplug-provider-api` version the provider was built against.
    pub interface_version: RString,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_covers_every_named_flag() {
        let union = NAMED_FLAGS
            .iter()
            .fold(CapabilityFlags::NONE, |acc, (f, _)| acc.union(*f));
        assert_eq!(union, CapabilityFlags::ALL);
        assert_eq!(CapabilityFlags::ALL.names().len(), NAMED_FLAGS.len());
    }
}
