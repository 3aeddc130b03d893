//! `stateplug run <config>`.

use std::{net::SocketAddr, path::Path};

use stateplug::{
    config::PipelineConfig,
    plugin::PluginRegistry,
    runtime::{HostProgress, RunReport, StopSignal},
    PluginKind,
};

use crate::{exit, metrics_server, output::outln, Failure};

/// How `stateplug run` is asked to run.
pub(crate) struct RunOptions {
    /// Load libraries other users could replace.
    pub(crate) allow_writable_library: bool,
    /// Serve `/metrics` here (overrides `[host] metrics_addr`).
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// Print the report as JSON.
    pub(crate) json: bool,
}

/// Runs the pipeline until Ctrl-C, SIGTERM or a plugin failure, logging
/// progress; prints every plugin's figures after a graceful stop. A run a
/// signal stopped ends with 130 (SIGINT) or 143 (SIGTERM). With a metrics
/// address, serves `/metrics` from before the host is built until it stops.
pub(crate) async fn run(path: &Path, options: RunOptions) -> Result<(), Failure> {
    let mut config = PipelineConfig::load(path).map_err(Failure::usage)?;
    if options.allow_writable_library {
        config.allow_writable_libraries();
    }
    let metrics_addr = options.metrics_addr.or(config.metrics_addr());
    if let Some(addr) = metrics_addr {
        metrics_server::serve(addr).await?;
    }
    let mut registry = PluginRegistry::new();
    stateplug_plugins_example::register(&mut registry);
    let host = config
        .builder(&registry)
        .map_err(Failure::usage)?
        .record_metrics(metrics_addr.is_some())
        .build()
        .map_err(|e| match exit::of_build(&e) {
            exit::USAGE => Failure::usage(format!("configuration {}: {e}", path.display())),
            code => Failure::new(code, format!("storage ({}): {e}", path.display())),
        })?;
    let info = host.store().info().clone();
    tracing::info!(config = %path.display(), provider = %info.name, version = %info.version, "starting pipeline");
    let running = host
        .start()
        .await
        .map_err(|e| Failure::new(exit::of_host(&e), e))?;
    let progress = tokio::spawn(log_progress(
        running.progress_handle(),
        config.progress_interval(),
    ));
    let outcome = running.run_until_shutdown().await;
    progress.abort();
    let report = outcome.map_err(|e| Failure::new(exit::of_host(&e), e))?;
    let printed = if options.json {
        outln!("{}", report_json(&report))
    } else {
        report.plugins.iter().try_for_each(|plugin| {
            outln!(
                "{:<9} {:<24} events {:>12}   last checkpoint {}",
                kind_name(plugin.kind),
                plugin.id,
                plugin.events,
                plugin.last_checkpoint
            )
        })
    };
    // The signal decides the code, whether or not anybody read the figures.
    match report.stopped_by {
        Some(signal) => Err(Failure::quiet(exit::of_signal(signal))),
        None => printed,
    }
}

/// The run report as one JSON object: `plugins` (id, kind, events,
/// checkpoints, last_checkpoint) and `stopped_by` (`"SIGINT"`, `"SIGTERM"`
/// or null).
fn report_json(report: &RunReport) -> serde_json::Value {
    let plugins: Vec<serde_json::Value> = report
        .plugins
        .iter()
        .map(|p| {
            serde_json::json!({
                "id": p.id,
                "kind": kind_name(p.kind),
                "events": p.events,
                "checkpoints": p.checkpoints,
                "last_checkpoint": p.last_checkpoint,
            })
        })
        .collect();
    let stopped_by = report.stopped_by.map(|s| match s {
        StopSignal::Interrupt => "SIGINT",
        StopSignal::Terminate => "SIGTERM",
    });
    serde_json::json!({ "plugins": plugins, "stopped_by": stopped_by })
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
