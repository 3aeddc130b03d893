//! `OpsError`: what can go wrong while operating on state.

use crate::store::StoreError;

use super::LockInfo;

/// An operation on state failed. Every message names the thing and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// A store call failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A store is locked by another operation.
    #[error("{}", locked_message(.info))]
    Locked {
        /// The lock in the way.
        info: Box<LockInfo>,
    },
    /// The provider cannot hold locks.
    #[error(
        "provider {provider} does not declare compare-and-set, which stateplug locks need; \
         {operation} refuses to run on it unlocked. Use a provider with versions / \
         compare-and-set (memory, redb)"
    )]
    LocksUnsupported {
        /// The provider.
        provider: String,
        /// The operation that needed the lock.
        operation: String,
    },
    /// A lock record is not readable as a lock.
    #[error(
        "lock record {id:?} in store {store:?} is not a stateplug lock ({problem}); remove it \
         with `stateplug state force-unlock {id}`",
        store = super::LOCKS_STORE
    )]
    BadLock {
        /// The lock id.
        id: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A held lock was taken away (force-unlocked, or expired and taken over).
    #[error(
        "the lock on {id:?} was taken away while {operation} ran (force-unlocked or expired); \
         stopped. Check who holds it with `stateplug state lock list`, then run again"
    )]
    LockLost {
        /// The lock id.
        id: String,
        /// The operation that held it.
        operation: String,
    },
    /// Reading or writing a file or stream failed.
    #[error("{what}: {error}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A dump file is damaged, truncated or not a dump; nothing was written.
    #[error("dump refused, nothing was written: line {line}: {problem}")]
    Damaged {
        /// The line (1-based) where the problem was found.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// The request cannot be carried out as asked.
    #[error("{0}")]
    Invalid(String),
    /// The [`Monitor`](super::Monitor) asked the operation to stop, and it
    /// did at a batch boundary. Answered only once the operation's locks
    /// are released (a failed release is answered instead).
    #[error("{operation} stopped on request: {done}")]
    Stopped {
        /// The operation.
        operation: String,
        /// What was done, and how to finish.
        done: String,
    },
}

impl OpsError {
    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>, error: std::io::Error) -> Self {
        OpsError::Io {
            what: what.into(),
            error,
        }
    }

    /// Whether the operation stopped because its monitor asked it to.
    pub fn is_stopped(&self) -> bool {
        matches!(self, OpsError::Stopped { .. })
    }

    /// Whether the operation was refused because of a lock held elsewhere.
    pub fn is_locked(&self) -> bool {
        matches!(self, OpsError::Locked { .. })
    }
}

fn locked_message(info: &LockInfo) -> String {
    let reason = if info.reason.is_empty() {
        String::new()
    } else {
        format!(" (reason: {})", info.reason)
    };
    format!(
        "store {:?} is locked by {} ({}, pid {} on {}) since {}, expires {}{reason}; wait for \
         it to finish, or if it is no longer running, remove the lock with `stateplug state \
         force-unlock {}`",
        info.id,
        info.owner,
        info.operation,
        info.pid,
        info.host,
        info.created(),
        info.expires(),
        info.id
    )
}
