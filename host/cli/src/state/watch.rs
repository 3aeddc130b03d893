//! `stateplug state watch`: the changes of one store, printed as they are
//! committed, by this or any other host, until Ctrl-C or SIGTERM.
//!
//! Another process's writes reach this one only through the provider's
//! change feed, so the command needs a provider that declares one
//! (PostgreSQL); on any other it says so and ends. A watcher that falls
//! behind is told how many writes' changes it missed, on standard error,
//! and goes on with the next ones.

use std::sync::Arc;

use stateplug::{
    layers::{WatchEvent, WatchLayer},
    store::{CapabilityFlags, ChangeKind, ChangeRecord, StateStore},
};
use tokio::signal::unix::{signal, SignalKind};

use crate::{
    output::{note, outln},
    Failure,
};

/// Prints the changes of `store_id` under `prefix` until a signal stops it
/// (exit 130 for SIGINT, 143 for SIGTERM, as a shell reports them).
pub(crate) async fn watch(
    store: &Arc<dyn StateStore>,
    store_id: &str,
    prefix: &str,
    json: bool,
) -> Result<(), Failure> {
    let provider = store.info().name.clone();
    if !store.capabilities().has(CapabilityFlags::CHANGE_FEED) {
        return Err(Failure::failed(format!(
            "provider {provider} has no change feed, so this process cannot see the writes \
             of others; watch from the process that writes (Host::watch), or use a provider \
             with a change feed (postgres)"
        )));
    }
    let cannot =
        |e: std::io::Error| Failure::failed(format!("cannot catch Ctrl-C and SIGTERM: {e}"));
    let mut interrupt = signal(SignalKind::interrupt()).map_err(cannot)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(cannot)?;
    let layer = WatchLayer::new(store);
    let mut watcher = layer.watch(store_id, prefix);
    if !layer.follows_change_feed() || !layer.ready().await {
        return Err(Failure::failed(format!(
            "cannot follow the change feed of provider {provider}; check that it is reachable"
        )));
    }
    note!("watching store {store_id:?} (keys starting with {prefix:?}) on provider {provider}; Ctrl-C stops");
    loop {
        let event = tokio::select! {
            _ = interrupt.recv() => return Err(stopped(2, "SIGINT")),
            _ = terminate.recv() => return Err(stopped(15, "SIGTERM")),
            event = watcher.next() => event,
        };
        match event {
            Some(WatchEvent::Changes(changes)) => {
                for change in &changes {
                    print_change(change, json)?;
                }
            }
            Some(WatchEvent::Lagged { missed }) => note!(
                "fell behind: the changes of {missed} writes were dropped; \
                 re-read the keys (stateplug state keys) to catch up"
            ),
            Some(_) => {}
            None => return Err(Failure::failed("the change feed ended")),
        }
    }
}

fn stopped(number: u8, name: &str) -> Failure {
    note!("{name}: stopped watching");
    Failure::quiet(128 + number)
}

fn kind_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Created => "created",
        ChangeKind::Updated => "updated",
        ChangeKind::Deleted => "deleted",
        ChangeKind::Expired => "expired",
    }
}

/// One line per change: `version kind key` (the key escaped as `{:?}`), or
/// one JSON object with `--json`.
fn print_change(change: &ChangeRecord, json: bool) -> Result<(), Failure> {
    if json {
        let line = serde_json::json!({
            "store_id": change.store_id,
            "key": change.key,
            "kind": kind_name(change.kind),
            "version": change.version,
        });
        outln!("{line}")
    } else {
        outln!(
            "{} {} {:?}",
            change.version,
            kind_name(change.kind),
            change.key
        )
    }
}
