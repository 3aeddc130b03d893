//! `Host` and `RunningHost`: start order, graceful stop, reports.
//!
//! Start: the provider is open; checkpoints are read; bootstrap snapshots
//! are taken; reactions start, then sources. Stop: sources are asked to
//! stop and finish; reactions drain what was emitted and commit; source
//! checkpoints are persisted; the provider is synced.

use std::{collections::HashMap, sync::Arc};

use tokio::{
    sync::{mpsc, watch, Mutex},
    task::JoinHandle,
};

use super::{
    builder::Settings,
    checkpoint::{persist_watermarks, read_position, spawn_checkpointer},
    owner::{default_host_name, Ownership},
    progress::{reaction_checkpoint_key, PluginStats, SourceProgress, SOURCE_CHECKPOINT_KEY},
    report::{HostError, PluginFailure, PluginKind, PluginReport, RunReport, StopSignal},
    routes::Routes,
    supervise::{spawn_reaction, spawn_source, Finished},
    FailurePolicy, HostBuilder,
};
use crate::{
    layers::Watcher,
    plugin::{BootstrapProvider, Reaction, ReactionContext, Source},
    store::{CapabilityFlags, ErrorKind, Operation, ScopedStore, StateStore, StoreError},
};

/// How long a stop waits for the plugins it aborted to be dropped (a
/// plugin stuck in a blocking call is dropped only when the call returns).
const ABORTED_DROP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) type SourceEntry = (Arc<dyn Source>, FailurePolicy);

/// A configured host, not yet running.
pub struct Host {
    routes: Routes,
    sources: Vec<SourceEntry>,
    reactions: Vec<Arc<dyn Reaction>>,
    bootstraps: Vec<Arc<dyn BootstrapProvider>>,
    settings: Settings,
}

impl Host {
    /// A builder.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    pub(crate) fn new(
        routes: Routes,
        sources: Vec<SourceEntry>,
        reactions: Vec<Arc<dyn Reaction>>,
        bootstraps: Vec<Arc<dyn BootstrapProvider>>,
        settings: Settings,
    ) -> Self {
        Host {
            routes,
            sources,
            reactions,
            bootstraps,
            settings,
        }
    }

    /// The state store of the default provider: the one every plugin's
    /// `ScopedStore` uses unless the plugin is routed to another provider.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.routes.default_route().store
    }

    /// The state store holding `plugin_id`'s state (the default provider's
    /// for an id no plugin is routed with).
    pub fn store_for(&self, plugin_id: &str) -> &Arc<dyn StateStore> {
        &self.routes.route(plugin_id).store
    }

    /// The name of the provider holding `plugin_id`'s state.
    pub fn provider_of(&self, plugin_id: &str) -> &str {
        &self.routes.route(plugin_id).name
    }

    /// Every provider by name, the default first.
    pub fn providers(&self) -> Vec<(&str, &Arc<dyn StateStore>)> {
        self.routes
            .all()
            .iter()
            .map(|r| (r.name.as_str(), &r.store))
            .collect()
    }

    /// Change events of one store_id under `prefix` (every write passes
    /// through the host, so this works for every provider).
    pub fn watch(&self, store_id: &str, prefix: &str) -> Watcher {
        self.routes
            .route(store_id)
            .watch
            .layer()
            .watch(store_id, prefix)
    }

    /// Reads checkpoints, takes bootstrap snapshots, and starts reactions then sources.
    pub async fn start(self) -> Result<RunningHost, HostError> {
        let Host {
            routes,
            sources,
            reactions,
            bootstraps,
            settings,
        } = self;
        // Each plugin's store (and with it its checkpoints) lives in its provider.
        let scoped =
            |id: &str| -> Result<ScopedStore, HostError> {
                let route = routes.route(id);
                Ok(ScopedStore::new(Arc::clone(&route.store), id)?
                    .with_watch(Arc::clone(&route.watch)))
            };

        // Every plugin's store is taken over before its checkpoint is read:
        // a superseded instance commits nothing after that read.
        let host_name = settings.host_name.clone().unwrap_or_else(default_host_name);
        let mut owners: HashMap<String, Arc<Ownership>> = HashMap::new();
        let plugins = sources
            .iter()
            .map(|(s, _)| (s.id(), PluginKind::Source))
            .chain(reactions.iter().map(|r| (r.id(), PluginKind::Reaction)));
        for (id, kind) in plugins {
            let route = routes.route(id);
            let needed = [
                (CapabilityFlags::COMPARE_AND_SET, "compare-and-set"),
                (CapabilityFlags::TRANSACTIONS, "transactions"),
            ];
            let flags = route.store.capabilities().flags;
            let missing: Vec<&str> = needed
                .iter()
                .filter(|(flag, _)| !flags.contains(*flag))
                .map(|(_, name)| *name)
                .collect();
            if !missing.is_empty() {
                return Err(HostError::CannotFence {
                    plugin: id.to_string(),
                    provider: route.name.clone(),
                    missing: missing.join(" and "),
                });
            }
            let owner = Ownership::take(scoped(id)?.with_host_records(), kind, &host_name).await?;
            owners.insert(id.to_string(), Arc::new(owner));
        }

        // Where each source stands, from its own checkpoint.
        let mut stored = HashMap::new();
        for (source, _) in &sources {
            let at = read_position(&scoped(source.id())?, SOURCE_CHECKPOINT_KEY)
                .await?
                .unwrap_or(0);
            stored.insert(source.id().to_string(), at);
        }
        // Where each reaction stands for each of its sources; bootstrap snapshots for new subscriptions.
        let mut acks: HashMap<String, Vec<(Arc<str>, u64)>> = HashMap::new();
        let mut prepared = Vec::new();
        for reaction in &reactions {
            let store = scoped(reaction.id())?;
            let mut seen = HashMap::new();
            let mut snapshots = Vec::new();
            for source in reaction.subscriptions() {
                let source_at = stored.get(&source).copied().unwrap_or(0);
                let committed = read_position(&store, &reaction_checkpoint_key(&source)).await?;
                let (ack, seen_at) = match committed {
                    Some(c) => (c, c),
                    None => match bootstraps.iter().find(|b| b.source_id() == source) {
                        Some(b) => {
                            let snapshot =
                                b.snapshot().await.map_err(|error| HostError::Bootstrap {
                                    source_id: source.clone(),
                                    error,
                                })?;
                            let at = snapshot.position;
                            snapshots.push((Arc::<str>::from(source.as_str()), snapshot));
                            (at.min(source_at), at)
                        }
                        None => (source_at, source_at),
                    },
                };
                seen.insert(Arc::<str>::from(source.as_str()), seen_at);
                acks.entry(source)
                    .or_default()
                    .push((Arc::from(reaction.id()), ack));
            }
            prepared.push((Arc::clone(reaction), store, seen, snapshots));
        }
        let progress: HashMap<String, Arc<SourceProgress>> = sources
            .iter()
            .map(|(s, _)| {
                let subscribers = acks.remove(s.id()).unwrap_or_default();
                let at = stored[s.id()];
                (
                    s.id().to_string(),
                    Arc::new(SourceProgress::new(Arc::from(s.id()), subscribers, at)),
                )
            })
            .collect();

        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut outputs: HashMap<String, Vec<mpsc::Sender<crate::plugin::Event>>> = HashMap::new();
        let mut tasks = Vec::new();
        let mut stats = Vec::new();

        // Reactions first, so that nothing a source emits waits for a reader that does not exist.
        for (reaction, store, seen, snapshots) in prepared {
            let (tx, rx) = mpsc::channel(settings.channel_capacity);
            for source in reaction.subscriptions() {
                outputs.entry(source).or_default().push(tx.clone());
            }
            let plugin_stats = Arc::new(PluginStats::new(reaction.id(), "reaction"));
            let ctx = ReactionContext {
                store,
                input: Arc::new(Mutex::new(rx)),
                snapshots: std::sync::Mutex::new(snapshots),
                seen: std::sync::Mutex::new(seen),
                progress: reaction
                    .subscriptions()
                    .iter()
                    .filter_map(|s| {
                        progress
                            .get(s)
                            .map(|p| (Arc::<str>::from(s.as_str()), Arc::clone(p)))
                    })
                    .collect(),
                stats: Arc::clone(&plugin_stats),
                owner: Arc::clone(&owners[reaction.id()]),
            };
            stats.push((
                reaction.id().to_string(),
                PluginKind::Reaction,
                plugin_stats,
            ));
            tasks.push((
                reaction.id().to_string(),
                PluginKind::Reaction,
                spawn_reaction(reaction, ctx, finished_tx.clone()),
            ));
        }
        for (source, policy) in sources {
            let plugin_stats = Arc::new(PluginStats::new(source.id(), "source"));
            plugin_stats.set_checkpoint(stored[source.id()]);
            stats.push((
                source.id().to_string(),
                PluginKind::Source,
                Arc::clone(&plugin_stats),
            ));
            let progress = Arc::clone(&progress[source.id()]);
            let outputs = outputs.remove(source.id()).unwrap_or_default();
            let store = scoped(source.id())?;
            let id = source.id().to_string();
            let task = spawn_source(
                source,
                policy,
                store,
                outputs,
                progress,
                plugin_stats,
                stop_rx.clone(),
                Arc::clone(&owners[&id]),
                finished_tx.clone(),
            );
            tasks.push((id, PluginKind::Source, task));
        }
        let checkpointer = spawn_checkpointer(
            routes.clone(),
            progress.values().cloned().collect(),
            owners.clone(),
            settings.checkpoint_interval,
            stats.clone(),
        );
        tracing::info!(plugins = tasks.len(), provider = %routes.default_route().store.info().name,
            providers = routes.all().len(), "host started");
        Ok(RunningHost {
            routes,
            tasks,
            stats,
            progress: progress.into_values().collect(),
            stop_tx,
            finished: finished_rx,
            failures: Vec::new(),
            running: 0,
            checkpointer,
            settings,
            owners,
        }
        .counted())
    }
}

/// Reads a running host's figures; cheap to clone.
#[derive(Clone)]
pub struct HostProgress {
    stats: Vec<(String, PluginKind, Arc<PluginStats>)>,
}

impl HostProgress {
    /// Every plugin's figures so far.
    pub fn report(&self) -> Vec<PluginReport> {
        use std::sync::atomic::Ordering::Relaxed;
        self.stats
            .iter()
            .map(|(id, kind, s)| PluginReport {
                id: id.clone(),
                kind: *kind,
                events: s.events.load(Relaxed),
                checkpoints: s.checkpoints.load(Relaxed),
                last_checkpoint: s.last_checkpoint.load(Relaxed),
            })
            .collect()
    }
}

/// A running host. Dropping it without [`RunningHost::stop`] aborts every
/// plugin, as a crash would: what was committed stays, and the sources
/// resume from their last persisted checkpoints on the next start.
pub struct RunningHost {
    routes: Routes,
    tasks: Vec<(String, PluginKind, JoinHandle<()>)>,
    stats: Vec<(String, PluginKind, Arc<PluginStats>)>,
    progress: Vec<Arc<SourceProgress>>,
    stop_tx: watch::Sender<bool>,
    finished: mpsc::UnboundedReceiver<Finished>,
    failures: Vec<(PluginFailure, bool)>,
    running: usize,
    checkpointer: JoinHandle<HashMap<Arc<str>, u64>>,
    settings: Settings,
    /// This instance's ownership of every plugin's store.
    owners: HashMap<String, Arc<Ownership>>,
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        // After a stop every task has ended already, and this changes nothing.
        for (_, _, task) in &self.tasks {
            task.abort();
        }
        self.checkpointer.abort();
    }
}

impl RunningHost {
    fn counted(mut self) -> Self {
        self.running = self.tasks.len();
        self
    }

    /// The state store of the default provider (see [`Host::store`]).
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.routes.default_route().store
    }

    /// The state store holding `plugin_id`'s state.
    pub fn store_for(&self, plugin_id: &str) -> &Arc<dyn StateStore> {
        &self.routes.route(plugin_id).store
    }

    /// Every plugin's figures so far.
    pub fn report(&self) -> Vec<PluginReport> {
        self.progress_handle().report()
    }

    /// Change events of one store_id under `prefix`.
    pub fn watch(&self, store_id: &str, prefix: &str) -> Watcher {
        self.routes
            .route(store_id)
            .watch
            .layer()
            .watch(store_id, prefix)
    }

    /// A handle that reads the plugins' figures while the host runs (for progress logs).
    pub fn progress_handle(&self) -> HostProgress {
        HostProgress {
            stats: self.stats.clone(),
        }
    }

    fn record(&mut self, finished: Finished) {
        self.running = self.running.saturating_sub(1);
        if let Some(failure) = finished.failure {
            tracing::error!(plugin = %failure.id, kind = ?failure.kind, error = %failure.message,
                "plugin failed");
            self.failures.push((failure, finished.readers_gone));
        }
    }

    /// The failures to report: a source that lost its readers is left out
    /// when a reaction failed, since that failure caused it.
    fn root_failures(&mut self) -> Vec<PluginFailure> {
        let failures = std::mem::take(&mut self.failures);
        let reaction_failed = failures.iter().any(|(f, _)| f.kind == PluginKind::Reaction);
        failures
            .into_iter()
            .filter(|(_, readers_gone)| !(reaction_failed && *readers_gone))
            .map(|(failure, _)| failure)
            .collect()
    }

    /// Adds a fenced failure for every plugin whose store another instance
    /// took over and that has not reported it yet (a reaction that had
    /// nothing to commit, a source that finished): every superseded
    /// instance says so.
    async fn report_fenced(&mut self) {
        let mut ids: Vec<&String> = self.owners.keys().collect();
        ids.sort();
        for id in ids {
            let owner = &self.owners[id];
            let fenced = match owner.fenced() {
                Some(f) => Some(f),
                None => match owner.still_owned().await {
                    Ok(false) => Some(owner.fence_now().await),
                    _ => None,
                },
            };
            let Some(fenced) = fenced else { continue };
            if self.failures.iter().any(|(f, _)| f.id == *id && f.fenced) {
                continue;
            }
            self.failures.retain(|(f, _)| f.id != *id);
            self.failures.push((
                PluginFailure {
                    id: id.clone(),
                    kind: fenced.kind,
                    message: fenced.to_string(),
                    temporary: false,
                    fenced: true,
                },
                false,
            ));
        }
    }

    /// Waits until a plugin fails or every plugin has finished on its own.
    pub async fn wait(&mut self) {
        while self.running > 0 && self.failures.is_empty() {
            match self.finished.recv().await {
                Some(f) => self.record(f),
                None => return,
            }
        }
    }

    /// Runs until SIGINT or SIGTERM, a plugin failure, or every plugin
    /// finishing; then stops gracefully. The report says which signal, if
    /// any, stopped it.
    pub async fn run_until_shutdown(mut self) -> Result<RunReport, HostError> {
        let terminate = async {
            #[cfg(unix)]
            {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            }
            #[cfg(not(unix))]
            std::future::pending::<()>().await
        };
        let signal = tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted: stopping");
                Some(StopSignal::Interrupt)
            }
            _ = terminate => {
                tracing::info!("terminated: stopping");
                Some(StopSignal::Terminate)
            }
            _ = self.wait() => None,
        };
        let mut report = self.stop().await?;
        report.stopped_by = signal;
        Ok(report)
    }

    /// The stop's last steps: every source's checkpoint persisted, fenced
    /// plugins reported, every provider synced. `persisted` receives each
    /// checkpoint as it is written.
    async fn persist_and_sync(
        &mut self,
        persisted: &mut HashMap<Arc<str>, u64>,
    ) -> Result<(), HostError> {
        persist_watermarks(
            &self.routes,
            &self.progress,
            &self.owners,
            persisted,
            &self.stats,
        )
        .await?;
        self.report_fenced().await;
        for route in self.routes.all() {
            route.store.sync().await?;
        }
        Ok(())
    }

    /// The error of a stop whose last steps did not finish within the stop
    /// timeout: it names the first source whose checkpoint was not written
    /// (or, all written, the sync) and what that costs.
    fn unfinished(&self, persisted: &HashMap<Arc<str>, u64>) -> StoreError {
        let timeout = self.settings.stop_timeout;
        let unwritten = self.progress.iter().find(|p| {
            let fenced = self
                .owners
                .get(&*p.source)
                .is_some_and(|o| o.fenced().is_some());
            !fenced && p.watermark() > persisted.get(&p.source).copied().unwrap_or(0)
        });
        let mut err = match unwritten {
            Some(p) => StoreError::host(
                Operation::Transaction,
                &self.routes.route(&p.source).name,
                &p.source,
                ErrorKind::UNAVAILABLE,
                format!(
                    "the provider did not persist the checkpoint of source {:?} (position {}) \
                     within the stop timeout ({timeout:?}); the source resumes from its last \
                     persisted checkpoint and emits what followed it again",
                    p.source,
                    p.watermark()
                ),
            ),
            None => StoreError::host(
                Operation::Sync,
                &self.routes.default_route().name,
                "",
                ErrorKind::UNAVAILABLE,
                format!(
                    "the checkpoints are written but the providers did not finish syncing \
                     within the stop timeout ({timeout:?})"
                ),
            ),
        };
        err.temporary = true;
        err
    }

    /// Stops gracefully: sources stop, reactions drain and commit, source
    /// checkpoints are persisted, the provider is synced. Returns the run's
    /// report, or the plugin failures that ended it.
    pub async fn stop(mut self) -> Result<RunReport, HostError> {
        let _ = self.stop_tx.send(true);
        let deadline = tokio::time::Instant::now() + self.settings.stop_timeout;
        let mut aborted = Vec::new();
        for kind in [PluginKind::Source, PluginKind::Reaction] {
            for (i, (id, k, task)) in self.tasks.iter_mut().enumerate() {
                if *k != kind {
                    continue;
                }
                if tokio::time::timeout_at(deadline, &mut *task).await.is_err() {
                    task.abort();
                    aborted.push(i);
                    let message = format!(
                        "did not stop within {:?}; aborted",
                        self.settings.stop_timeout
                    );
                    self.failures.push((
                        PluginFailure {
                            id: id.clone(),
                            kind,
                            message,
                            temporary: false,
                            fenced: false,
                        },
                        false,
                    ));
                }
            }
        }
        // Wait for the aborted plugins to be dropped: they hold the store,
        // which a caller may reopen right after `stop`.
        let dropped_by = tokio::time::Instant::now() + ABORTED_DROP_WAIT;
        for i in aborted {
            let _ = tokio::time::timeout_at(dropped_by, &mut self.tasks[i].2).await;
        }
        while let Ok(f) = self.finished.try_recv() {
            self.record(f);
        }
        // Wait for the aborted task to be dropped: it holds the store, and a
        // caller reopening the same file right after `stop` must find it closed.
        self.checkpointer.abort();
        let _ = (&mut self.checkpointer).await;
        // A provider that stops answering must not hold the stop: the last
        // checkpoints and the sync get a stop timeout of their own.
        let finish = tokio::time::Instant::now() + self.settings.stop_timeout;
        let mut persisted = HashMap::new();
        match tokio::time::timeout_at(finish, self.persist_and_sync(&mut persisted)).await {
            Ok(finished) => finished?,
            Err(_) => return Err(self.unfinished(&persisted).into()),
        }
        let report = RunReport {
            plugins: self.report(),
            failures: self.root_failures(),
            stopped_by: None,
        };
        tracing::info!(
            plugins = report.plugins.len(),
            failures = report.failures.len(),
            "host stopped"
        );
        if report.failures.is_empty() {
            Ok(report)
        } else {
            Err(HostError::PluginsFailed(report.failures))
        }
    }
}
