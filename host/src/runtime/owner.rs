//! Who owns a plugin's store, and the fence every checkpoint write carries.
//!
//! Invariant: a host runs a plugin only after it has written the plugin's
//! owner record (key [`OWNER_KEY`] in the plugin's own store) with a
//! compare-and-set that raises the epoch by one, and every checkpoint write
//! it makes for that plugin checks, in the same atomic transaction, that the
//! record still has the version that write gave it. A later owner's takeover
//! changes the version, so every commit of the superseded instance fails
//! with a version conflict and writes nothing. No clock takes part: only the
//! store's own versions decide.

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{
    metrics::{count_ownership, PLUGIN_FENCED, PLUGIN_TAKEOVERS},
    PluginKind,
};
use crate::{
    ops::time::{format_unix_ms, now_unix_ms},
    plugin::PluginError,
    store::{ErrorKind, Expected, Operation, ScopedStore, StoreError, StoreResult, TxnOp},
};

/// The key of the owner record in every plugin's own store.
pub const OWNER_KEY: &str = "$owner";

/// How many times a takeover re-reads the record when another host wrote
/// it in between (two hosts starting the same plugin at once).
const TAKEOVER_ATTEMPTS: u32 = 16;

/// The owner record: which host instance runs a plugin, since when, and the
/// epoch that grows by one with every takeover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRecord {
    /// The owner's host name (see `HostBuilder::host_name`).
    pub host: String,
    /// The owner's process id.
    pub pid: u32,
    /// When the owner took over, in milliseconds since the Unix epoch
    /// (for people; fencing never reads it).
    pub since_ms: u64,
    /// 1 for the first owner, one more for each takeover.
    pub epoch: u64,
}

impl OwnerRecord {
    /// The record stored under [`OWNER_KEY`], if `bytes` is one.
    pub fn parse(bytes: &[u8]) -> Option<OwnerRecord> {
        serde_json::from_slice(bytes).ok()
    }
}

impl fmt::Display for OwnerRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pid {} at {} (epoch {})",
            self.host,
            self.pid,
            format_unix_ms(self.since_ms),
            self.epoch
        )
    }
}

/// A plugin instance found that another instance took its store over.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} {plugin} was taken over by {}; this instance stops", kind_name(*.kind), .by.as_ref().map(|b| b.to_string()).unwrap_or_else(|| "another instance (its owner record is gone or unreadable)".to_string()))]
pub struct Fenced {
    /// The plugin.
    pub plugin: String,
    /// Source or reaction.
    pub kind: PluginKind,
    /// The new owner, as its record reads (`None` if it was removed or is
    /// not a record).
    pub by: Option<OwnerRecord>,
}

fn kind_name(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Source => "source",
        PluginKind::Reaction => "reaction",
    }
}

/// One plugin's ownership by this host instance.
pub(crate) struct Ownership {
    store: ScopedStore,
    kind: PluginKind,
    /// The version of the owner record this instance wrote.
    version: u64,
    fenced: watch::Sender<Option<Arc<Fenced>>>,
}

impl fmt::Debug for Ownership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ownership")
            .field("store_id", &self.store.store_id())
            .field("version", &self.version)
            .finish()
    }
}

impl Ownership {
    /// Takes `store` over for `host`: writes an owner record one epoch past
    /// the current one, conditional on the record it read.
    pub(crate) async fn take(
        store: ScopedStore,
        kind: PluginKind,
        host: &str,
    ) -> StoreResult<Self> {
        let mut last_conflict = None;
        for _ in 0..TAKEOVER_ATTEMPTS {
            let current = store.get_entry(OWNER_KEY).await?;
            let (expected, epoch) = match &current {
                Some(entry) => (
                    Expected::Version(entry.version),
                    OwnerRecord::parse(&entry.value).map_or(0, |r| r.epoch),
                ),
                None => (Expected::Absent, 0),
            };
            let record = OwnerRecord {
                host: host.to_string(),
                pid: std::process::id(),
                since_ms: now_unix_ms(),
                epoch: epoch + 1,
            };
            let bytes = serde_json::to_vec(&record).map_err(|e| {
                StoreError::host(
                    Operation::CompareAndSet,
                    "host",
                    store.store_id(),
                    ErrorKind::INTERNAL,
                    format!("cannot encode the owner record: {e}"),
                )
            })?;
            let written = match store.compare_and_set(OWNER_KEY, expected, bytes).await {
                // The answer was lost: the record says whether it landed
                // (host, pid, time and epoch together name this attempt).
                Err(e) if e.kind() == ErrorKind::OUTCOME_UNKNOWN => {
                    match store.get_entry(OWNER_KEY).await? {
                        Some(entry)
                            if OwnerRecord::parse(&entry.value).as_ref() == Some(&record) =>
                        {
                            Ok(entry.version)
                        }
                        _ => Err(e),
                    }
                }
                other => other,
            };
            match written {
                Ok(version) => {
                    if let Some(previous) = current.and_then(|e| OwnerRecord::parse(&e.value)) {
                        tracing::info!(plugin = %store.store_id(), previous = %previous,
                            epoch = record.epoch, "took the plugin's store over");
                        count_ownership(PLUGIN_TAKEOVERS, store.store_id(), kind_name(kind));
                    }
                    let (fenced, _) = watch::channel(None);
                    return Ok(Ownership {
                        store,
                        kind,
                        version,
                        fenced,
                    });
                }
                Err(e) if e.is_conflict() || e.kind() == ErrorKind::OUTCOME_UNKNOWN => {
                    last_conflict = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        let mut error = last_conflict.unwrap_or_else(|| {
            StoreError::host(
                Operation::CompareAndSet,
                "host",
                store.store_id(),
                ErrorKind::VERSION_CONFLICT,
                "",
            )
        });
        error.message = format!(
            "cannot take plugin {:?} over: its owner record changed on each of {TAKEOVER_ATTEMPTS} attempts \
             (another host is starting it too); start it on one host: {}",
            store.store_id(),
            error.message
        );
        Err(error)
    }

    /// The check that makes a write conditional on this instance still
    /// owning the store; put it in the same transaction as the write.
    pub(crate) fn check(&self) -> TxnOp {
        TxnOp::check(OWNER_KEY, Expected::Version(self.version))
    }

    /// What a conditional write's `error` means: [`PluginError::Fenced`]
    /// when the owner record has moved on (this instance is then marked
    /// fenced), else the error itself.
    pub(crate) async fn explain(&self, error: StoreError) -> PluginError {
        if !error.is_conflict() {
            return error.into();
        }
        match self.still_owned().await {
            Ok(true) | Err(_) => error.into(),
            Ok(false) => PluginError::Fenced(Box::new((*self.fence_now().await).clone())),
        }
    }

    /// Whether the owner record still has the version this instance wrote.
    pub(crate) async fn still_owned(&self) -> StoreResult<bool> {
        Ok(self
            .store
            .get_entry(OWNER_KEY)
            .await?
            .is_some_and(|e| e.version == self.version))
    }

    /// Marks this instance fenced, naming the owner the record names now.
    pub(crate) async fn fence_now(&self) -> Arc<Fenced> {
        if let Some(f) = self.fenced() {
            return f;
        }
        let by = match self.store.get_entry(OWNER_KEY).await {
            Ok(entry) => entry.and_then(|e| OwnerRecord::parse(&e.value)),
            Err(_) => None,
        };
        let fenced = Arc::new(Fenced {
            plugin: self.store.store_id().to_string(),
            kind: self.kind,
            by,
        });
        tracing::error!(error = %fenced, "plugin fenced");
        count_ownership(PLUGIN_FENCED, &fenced.plugin, kind_name(self.kind));
        self.fenced.send_replace(Some(Arc::clone(&fenced)));
        fenced
    }

    /// The fencing this instance found, if it found one.
    pub(crate) fn fenced(&self) -> Option<Arc<Fenced>> {
        self.fenced.borrow().clone()
    }

    /// Resolves once this instance is found fenced.
    pub(crate) async fn wait_fenced(&self) {
        let mut rx = self.fenced.subscribe();
        // The sender lives as long as `self`, so this ends only when fenced.
        let _ = rx.wait_for(Option::is_some).await;
    }
}

/// The host name of [`HostBuilder::host_name`]'s default.
pub(crate) fn default_host_name() -> String {
    ["STATEPLUG_HOST_NAME", "HOSTNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_string())
}
