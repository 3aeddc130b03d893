//! Names for every `StateStore` operation, for errors, logs and metrics.

use std::fmt;

/// One `StateStore` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Opening the provider.
    Open,
    /// `get`.
    Get,
    /// `get_entry`.
    GetEntry,
    /// `write`: the one write form every write goes through.
    Write,
    /// `set`.
    Set,
    /// `delete`.
    Delete,
    /// `contains_key`.
    ContainsKey,
    /// `get_many`.
    GetMany,
    /// `set_many`.
    SetMany,
    /// `delete_many`.
    DeleteMany,
    /// `clear_store`.
    ClearStore,
    /// `list_keys`.
    ListKeys,
    /// `store_exists`.
    StoreExists,
    /// `key_count`.
    KeyCount,
    /// `sync`.
    Sync,
    /// `compare_and_set`.
    CompareAndSet,
    /// `compare_and_delete`.
    CompareAndDelete,
    /// `transaction`.
    Transaction,
    /// `scan`.
    Scan,
    /// `list_stores`.
    ListStores,
    /// `history`.
    History,
    /// `get_version`.
    GetVersion,
    /// `change_head`.
    ChangeHead,
    /// `wait_changes`.
    WaitChanges,
    /// `expiries`.
    Expiries,
}

impl Operation {
    /// The snake_case method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Open => "open",
            Operation::Get => "get",
            Operation::GetEntry => "get_entry",
            Operation::Write => "write",
            Operation::Set => "set",
            Operation::Delete => "delete",
            Operation::ContainsKey => "contains_key",
            Operation::GetMany => "get_many",
            Operation::SetMany => "set_many",
            Operation::DeleteMany => "delete_many",
            Operation::ClearStore => "clear_store",
            Operation::ListKeys => "list_keys",
            Operation::StoreExists => "store_exists",
            Operation::KeyCount => "key_count",
            Operation::Sync => "sync",
            Operation::CompareAndSet => "compare_and_set",
            Operation::CompareAndDelete => "compare_and_delete",
            Operation::Transaction => "transaction",
            Operation::Scan => "scan",
            Operation::ListStores => "list_stores",
            Operation::History => "history",
            Operation::GetVersion => "get_version",
            Operation::ChangeHead => "change_head",
            Operation::WaitChanges => "wait_changes",
            Operation::Expiries => "expiries",
        }
    }

    /// Whether the operation changes stored data.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Operation::Write
                | Operation::Set
                | Operation::Delete
                | Operation::SetMany
                | Operation::DeleteMany
                | Operation::ClearStore
                | Operation::Sync
                | Operation::CompareAndSet
                | Operation::CompareAndDelete
                | Operation::Transaction
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
