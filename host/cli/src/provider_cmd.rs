//! `stateplug provider info`, `check` and `list`.

use std::{path::Path, sync::Arc};

use stateplug::{
    config::PipelineConfig, conformance, provider::LibraryCache, runtime::DEFAULT_PROVIDER_NAME,
    ProviderLibrary, StateStore,
};

use crate::{exit, output::outln, Failure};

/// A library that failed to load or open (`context` names the file that
/// named it), with the code its cause deserves: configuration (2), or
/// storage (1, or 75 when temporary).
pub(crate) fn load_failure(
    context: impl std::fmt::Display,
    error: stateplug::LoadError,
) -> Failure {
    match exit::of_load(&error) {
        exit::USAGE => Failure::usage(format!("{context}: {error}")),
        code => Failure::new(code, format!("storage ({context}): {error}")),
    }
}

/// Prints a library's name, versions and capabilities.
pub(crate) fn info(
    path: &Path,
    json: bool,
    options: &stateplug::LoadOptions,
) -> Result<(), Failure> {
    let path = &resolve_library_arg(path)?;
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
        outln!("{value:#}")?;
        return Ok(());
    }
    outln!("library            {}", path.display())?;
    outln!("provider           {} {}", info.name, info.version)?;
    outln!("interface version  {}", info.interface_version)?;
    outln!("capabilities")?;
    for (flag, name) in stateplug::CapabilityFlags::each() {
        outln!("  [{}] {name}", if caps.has(flag) { "x" } else { " " })?;
    }
    outln!("limits")?;
    outln!("  max_store_id_bytes  {}", limits.max_store_id_bytes)?;
    outln!("  max_key_bytes       {}", limits.max_key_bytes)?;
    outln!("  max_value_bytes     {}", limits.max_value_bytes)?;
    outln!("  max_batch_ops       {}", limits.max_batch_ops)?;
    outln!("  max_scan_limit      {}", limits.max_scan_limit)?;
    Ok(())
}

/// Runs the conformance suite against a library and prints a table; fails
/// naming every broken behaviour.
pub(crate) async fn check(
    path: &Path,
    config: &str,
    json: bool,
    options: &stateplug::LoadOptions,
) -> Result<(), Failure> {
    let path = &resolve_library_arg(path)?;
    let library = ProviderLibrary::load_with(path, options).map_err(Failure::usage)?;
    let tmp = tempfile::tempdir()
        .map_err(|e| Failure::usage(format!("cannot create a temporary folder: {e}")))?;
    let config_text = config.replace("{tmp}", &tmp.path().display().to_string());
    let config: serde_json::Value = serde_json::from_str(&config_text)
        .map_err(|e| Failure::usage(format!("--config is not valid JSON ({e}): {config_text}")))?;
    let store = library
        .open(&config)
        .map_err(|e| Failure::new(exit::of_load(&e), e))?;
    let info = store.info().clone();
    if !json {
        outln!(
            "checking {} {} ({})",
            info.name,
            info.version,
            path.display()
        )?;
    }

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
    let mut cases = Vec::new();
    for (name, outcome) in &report {
        let (label, reason) = match outcome {
            conformance::Outcome::Passed => {
                passed += 1;
                ("pass", None)
            }
            conformance::Outcome::Skipped(why) => {
                skipped += 1;
                ("skip", Some(why.to_string()))
            }
            conformance::Outcome::Failed(why) => {
                failed.push(*name);
                ("fail", Some(why.to_string()))
            }
        };
        if json {
            cases.push(serde_json::json!({ "name": name, "outcome": label, "reason": reason }));
            continue;
        }
        let first_line = reason
            .as_deref()
            .and_then(|r| r.lines().next())
            .unwrap_or("");
        match label {
            "pass" => outln!("  pass  {name:<width$}")?,
            "skip" => outln!("  skip  {name:<width$}  {first_line}")?,
            _ => outln!("  FAIL  {name:<width$}  {first_line}")?,
        }
    }
    if json {
        let value = serde_json::json!({
            "library": path,
            "name": info.name,
            "version": info.version,
            "cases": cases,
            "passed": passed,
            "failed": failed.len(),
            "skipped": skipped,
        });
        outln!("{value:#}")?;
    } else {
        outln!(
            "{passed} passed, {} failed, {skipped} skipped",
            failed.len()
        )?;
    }
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
pub(crate) fn list(
    path: &Path,
    open: bool,
    json: bool,
    allow_writable_library: bool,
) -> Result<(), Failure> {
    let mut config = PipelineConfig::load(path).map_err(Failure::usage)?;
    if allow_writable_library {
        config.allow_writable_libraries();
    }
    let providers = config.providers().map_err(Failure::usage)?;
    let default = providers
        .first()
        .map_or(DEFAULT_PROVIDER_NAME.to_string(), |p| p.name.clone());
    let mut rows = Vec::with_capacity(providers.len());
    for provider in &providers {
        let library_path = config.library_path(provider).map_err(Failure::usage)?;
        let options = provider.options();
        let library = LibraryCache::global()
            .load_with(&library_path, &options.load)
            .map_err(|e| load_failure(path.display(), e))?;
        let caps = if open {
            // Only to see the capabilities: create nothing.
            let read_only = stateplug::OpenOptions {
                read_only: true,
                ..options.open.clone()
            };
            library
                .open_with(&provider.config_json(), &read_only)
                .map_err(|e| load_failure(path.display(), e))?
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
        outln!("{}", serde_json::Value::Array(list))?;
        return Ok(());
    }
    for (p, lib, info, caps, plugins) in rows {
        outln!(
            "{}{}  {} {}  {}",
            p.name,
            if p.name == default { " (default)" } else { "" },
            info.name,
            info.version,
            lib.display()
        )?;
        outln!("  capabilities: {}", caps.flags.names().join(", "))?;
        outln!(
            "  plugins: {}",
            if plugins.is_empty() {
                "none".to_string()
            } else {
                plugins.join(", ")
            }
        )?;
    }
    if !open {
        outln!("(capabilities as the libraries declare them; --open shows the opened instances')")?;
    }
    Ok(())
}

/// The library a `provider` command names: a path, or a provider name
/// looked up as configuration files do (`redb` finds the redb library).
fn resolve_library_arg(name_or_path: &Path) -> Result<std::path::PathBuf, Failure> {
    match name_or_path.to_str() {
        Some(name) => stateplug::provider::resolve_library(name, None).map_err(|looked| {
            Failure::usage(format!(
                "no provider library named {name:?}: looked for {looked}; build it (cargo build) \
                 or give its path"
            ))
        }),
        None => Ok(name_or_path.to_path_buf()),
    }
}
