//! Running one plugin in its own task and reporting how it ended; a panic
//! is caught and reported like an error. The plugin's future lives in that
//! task, so aborting the task drops the plugin and what it holds.

use std::{panic::AssertUnwindSafe, sync::Arc};

use futures::FutureExt;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use super::{
    owner::Ownership,
    progress::{PluginStats, SourceProgress},
    FailurePolicy, PluginFailure, PluginKind,
};
use crate::{
    plugin::{Event, PluginError, PluginResult, Reaction, ReactionContext, Source, SourceContext},
    store::ScopedStore,
};

/// A plugin task's end.
pub(crate) struct Finished {
    pub(crate) failure: Option<PluginFailure>,
    /// The failure is a source finding every reader gone: a consequence of
    /// a reaction's failure when there is one.
    pub(crate) readers_gone: bool,
}

const CLEAN: Finished = Finished {
    failure: None,
    readers_gone: false,
};

/// How a contained plugin run failed.
struct Failed {
    message: String,
    readers_gone: bool,
    /// A store error its provider marked temporary.
    temporary: bool,
    /// Another host instance took the plugin over.
    fenced: bool,
}

impl Failed {
    fn new(message: String) -> Self {
        Failed {
            message,
            readers_gone: false,
            temporary: false,
            fenced: false,
        }
    }
}

/// Runs `fut` in the calling task, so that aborting that task drops the
/// plugin with it; an error or a panic becomes a message.
async fn contained(
    fut: impl std::future::Future<Output = PluginResult<()>> + Send,
) -> Result<(), Failed> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failed {
            readers_gone: matches!(e, PluginError::Closed(_)),
            temporary: matches!(&e, PluginError::Store(store) if store.temporary),
            fenced: matches!(e, PluginError::Fenced(_)),
            message: e.to_string(),
        }),
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-text panic payload".to_string());
            Err(Failed::new(format!("panicked: {text}")))
        }
    }
}

fn failure(id: &str, kind: PluginKind, failed: Failed) -> Finished {
    Finished {
        failure: Some(PluginFailure {
            id: id.to_string(),
            kind,
            message: failed.message,
            temporary: failed.temporary,
            fenced: failed.fenced,
        }),
        readers_gone: failed.readers_gone,
    }
}

/// Runs a reaction once; its end is reported on `finished`.
pub(crate) fn spawn_reaction(
    reaction: Arc<dyn Reaction>,
    ctx: ReactionContext,
    finished: mpsc::UnboundedSender<Finished>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let id = reaction.id().to_string();
        let runner = Arc::clone(&reaction);
        let end = match contained(async move { runner.run(ctx).await }).await {
            Ok(()) => CLEAN,
            Err(failed) => failure(&id, PluginKind::Reaction, failed),
        };
        let _ = finished.send(end);
    })
}

/// Runs a source, restarting it per `policy`; its end is reported on `finished`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_source(
    source: Arc<dyn Source>,
    policy: FailurePolicy,
    store: ScopedStore,
    outputs: Vec<mpsc::Sender<Event>>,
    progress: Arc<SourceProgress>,
    stats: Arc<PluginStats>,
    stop: watch::Receiver<bool>,
    owner: Arc<Ownership>,
    finished: mpsc::UnboundedSender<Finished>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let id = source.id().to_string();
        let mut restarts = 0u32;
        let end = loop {
            // Resume from what every subscriber has committed: nothing is skipped.
            let ctx = SourceContext {
                store: store.clone(),
                outputs: outputs.clone(),
                progress: Arc::clone(&progress),
                stats: Arc::clone(&stats),
                stop: stop.clone(),
                resume: progress.watermark(),
                owner: Arc::clone(&owner),
            };
            let runner = Arc::clone(&source);
            let failed = match contained(async move { runner.run(ctx).await }).await {
                Ok(()) => break CLEAN,
                Err(failed) => failed,
            };
            // A fenced source stops for good: another instance runs it now.
            if failed.fenced || owner.fenced().is_some() {
                let fenced = owner.fence_now().await;
                break failure(
                    &id,
                    PluginKind::Source,
                    Failed {
                        message: fenced.to_string(),
                        fenced: true,
                        ..failed
                    },
                );
            }
            match policy {
                FailurePolicy::Restart {
                    max_restarts,
                    backoff,
                } if restarts < max_restarts && !*stop.borrow() => {
                    restarts += 1;
                    tracing::warn!(plugin = %id, error = %failed.message, restart = restarts,
                        of = max_restarts, "source failed; restarting");
                    tokio::time::sleep(backoff).await;
                }
                _ => break failure(&id, PluginKind::Source, failed),
            }
        };
        // Dropping the outputs here lets the reactions see the end of input.
        drop(outputs);
        let _ = finished.send(end);
    })
}
