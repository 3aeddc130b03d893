//! `stateplug run <config>`.

use std::path::Path;

use stateplug::{config::PipelineConfig, HostProgress, PluginKind, PluginRegistry};

use crate::Failure;

/// Runs the pipeline until Ctrl-C, SIGTERM or a plugin failure, logging progress.
pub(crate) async fn run(path: &Path) -> Result<(), Failure> {
    let config = PipelineConfig::load(path).map_err(Failure::usage)?;
    let mut registry = PluginRegistry::new();
    stateplug_plugins_example::register(&mut registry);
    let host = config
        .builder(&registry)
        .map_err(Failure::usage)?
        .build()
        .map_err(|e| Failure::usage(format!("configuration {}: {e}", path.display())))?;
    let info = host.store().info().clone();
    tracing::info!(config = %path.display(), provider = %info.name, version = %info.version, "starting pipeline");
    let running = host.start().await.map_err(Failure::failed)?;
    let progress = tokio::spawn(log_progress(
        running.progress_handle(),
        config.progress_interval(),
    ));
    let outcome = running.run_until_shutdown().await;
    progress.abort();
    let report = outcome.map_err(Failure::failed)?;
    for plugin in &report.plugins {
        println!(
            "{:<9} {:<24} events {:>12}   last checkpoint {}",
            kind_name(plugin.kind),
            plugin.id,
            plugin.events,
            plugin.last_checkpoint
        );
    }
    Ok(())
}

fn kind_name(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Source => "source",
        PluginKind::Reaction => "reaction",
    }
}

async fn log_progress(progress: HostProgress, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        for plugin in progress.report() {
            let verb = match plugin.kind {
                PluginKind::Source => "emitted",
                PluginKind::Reaction => "committed",
            };
            tracing::info!(plugin = %plugin.id, events = plugin.events, last_checkpoint = plugin.last_checkpoint, "{} {verb}", kind_name(plugin.kind));
        }
    }
}
