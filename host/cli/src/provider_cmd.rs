//! `stateplug provider info`, `check` and `list`.

use std::{path::Path, sync::Arc};

use stateplug::{
    config::{PipelineConfig, DEFAULT_PROVIDER},
    conformance, LibraryCache, ProviderLibrary, StateStore,
};

use crate::Failure;

/// Prints a library's name, versions and capabilities.
pub(crate) fn info(
    path: &Path,
    json: bool,
    options: &stateplug::LoadOptions,
) -> Result<(), Failure> {
    let library = ProviderLibrary::load_with(path, options).map_err(Failure::usage)?;
    let info = library.info();
    let caps = library.capabilities();
    let limits = caps.limits();
    if json {
        let value = serde_json::json!({
            "library": path,
            "name": info.name,
            "version": info.version,
            "interface_version": info.interface_version,
            "capabilities": caps.flags.names(),
            "limits": {
                "max_store_id_bytes": limits.max_store_id_bytes,
                "max_key_bytes": limits.max_key_bytes,
                "max_value_bytes": limits.max_value_bytes,
                "max_batch_ops": limits.max_batch_ops,
                "max_scan_limit": limits.max_scan_limit,
            },
        });
        println!("{value:#}");
        return Ok(());
    }
    println!("library            {}", path.display());
    println!("provider           {} {}", info.name, info.version);
    println!("interface version  {}", info.interface_version);
    println!("capabilities");
    for (flag, name) in stateplug::CapabilityFlags::each() {
        println!("  [{}] {name}", if caps.has(flag) { "x" } else { " " });
    }
    println!("limits");
    println!("  max_store_id_bytes  {}", limits.max_store_id_bytes);
    println!("  max_key_bytes       {}", limits.max_key_bytes);
    println!("  max_value_bytes     {}", limits.max_value_bytes);
    println!("  max_batch_ops       {}", limits.max_batch_ops);
    println!("  max_scan_limit      {}", limits.max_scan_limit);
    Ok(())
}

/// Runs the conformance suite against a library and prints a table; fails
/// naming every broken behaviour.
pub(crate) async fn check(
    path: &Path,
    config: &str,
    options: &stateplug::LoadOptions,
) -> Result<(), Failure> {
    let library = ProviderLibrary::load_with(path, options).map_err(Failure::usage)?;
    let tmp = tempfile::tempdir()
        .map_err(|e| Failure::usage(format!("cannot create a temporary folder: {e}")))?;
    let config_text = config.replace("{tmp}", &tmp.path().display().to_string());
    let config: serde_json::Value = serde_json::from_str(&config_text)
        .map_err(|e| Failure::usage(format!("--config is not valid JSON ({e}): {config_text}")))?;
    let store = library.open(&config).map_err(Failure::usage)?;
    let info = store.info().clone();
    println!(
        "checking {} {} ({})",
        info.name,
        info.version,
        path.display()
    );

    // Failures are reported in the table; keep the panics' own output quiet.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut report = conformance::run_all(Arc::clone(&store)).await;
    let durable = store.is_durable();
    drop(store);
    if durable {
        let outcome = tokio::spawn(conformance::reopen_preserves_data(move || {
            library
                .open(&config)
                .unwrap_or_else(|e| panic!("reopen failed: {e}")) as Arc<dyn StateStore>
        }))
        .await;
        report.push(("reopen_preserves_data", conformance::outcome_of(outcome)));
    }
    std::panic::set_hook(previous_hook);

    let width = report.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let (mut passed, mut skipped, mut failed) = (0, 0, Vec::new());
    for (name, outcome) in &report {
        match outcome {
            conformance::Outcome::Passed => {
                passed += 1;
                println!("  pass  {name:<width$}");
            }
            conformance::Outcome::Skipped(why) => {
                skipped += 1;
                println!("  skip  {name:<width$}  {why}");
            }
            conformance::Outcome::Failed(why) => {
                failed.push(*name);
                println!(
                    "  FAIL  {name:<width$}  {}",
                    why.lines().next().unwrap_or("")
                );
            }
        }
    }
    println!(
        "{passed} passed, {} failed, {skipped} skipped",
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "{} does not conform: {}",
            info.name,
            failed.join(", ")
        )))
    }
}

/// Lists the providers of a pipeline configuration: name, library,
/// provider and version, capabilities, and the plugins routed to each.
pub(crate) fn list(path: &Path, open: bool, json: bool) -> Result<(), Failure> {
    let config = PipelineConfig::load(path).map_err(Failure::usage)?;
    let providers = config.providers().map_err(Failure::usage)?;
    let default = providers
        .first()
        .map_or(DEFAULT_PROVIDER.to_string(), |p| p.name.clone());
    let mut rows = Vec::with_capacity(providers.len());
    for provider in &providers {
        let library_path = config.library_path(provider).map_err(Failure::usage)?;
        let library = LibraryCache::global()
            .load(&library_path)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        let caps = if open {
            library
                .open(&provider.config_json())
                .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?
                .capabilities()
        } else {
            library.capabilities()
        };
        let plugins: Vec<String> = config
            .sources
            .iter()
            .chain(&config.reactions)
            .map(|entry| entry.get_ref())
            .filter(|p| p.provider.as_deref().unwrap_or(&default) == provider.name)
            .filter_map(|p| p.id.clone())
            .collect();
        rows.push((
            provider,
            library_path,
            library.info().clone(),
            caps,
            plugins,
        ));
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(p, lib, info, caps, plugins)| {
                serde_json::json!({
                    "name": p.name,
                    "default": p.name == default,
                    "library": lib,
                    "provider": info.name,
                    "version": info.version,
                    "capabilities": caps.flags.names(),
                    "plugins": plugins,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    for (p, lib, info, caps, plugins) in rows {
        println!(
            "{}{}  {} {}  {}",
            p.name,
            if p.name == default { " (default)" } else { "" },
            info.name,
            info.version,
            lib.display()
        );
        println!("  capabilities: {}", caps.flags.names().join(", "));
        println!(
            "  plugins: {}",
            if plugins.is_empty() {
                "none".to_string()
            } else {
                plugins.join(", ")
            }
        );
    }
    if !open {
        println!(
            "(capabilities as the libraries declare them; --open shows the opened instances')"
        );
    }
    Ok(())
}
