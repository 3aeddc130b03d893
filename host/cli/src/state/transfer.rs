//! `stateplug state dump`, `restore` and `migrate`.

use std::{
    io::{BufWriter, IsTerminal, Write},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use stateplug::{
    ops::{self, LockRequest, MigrateOptions, RestoreOptions},
    StateStore,
};

use crate::{
    output::{self, note, outln},
    state::progress::CliProgress,
    state::target::{open_configured, ops_failure},
    Failure,
};

/// Writes a dump to `output` (via a `.partial` file renamed when complete)
/// or to standard output.
pub(crate) async fn dump(
    store: &Arc<dyn StateStore>,
    stores: &[String],
    output: Option<PathBuf>,
    json: bool,
) -> Result<(), Failure> {
    let summary = match &output {
        None => {
            let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout());
            ops::dump(store, stores, &mut out)
                .await
                .map_err(|e| match &e {
                    ops::OpsError::Io { error, .. } if output::is_closed(error) => {
                        Failure::stdout_closed()
                    }
                    _ => ops_failure(e),
                })?
        }
        Some(path) => {
            let mut partial = path.as_os_str().to_owned();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            let file = std::fs::File::create(&partial).map_err(|e| {
                Failure::usage(format!(
                    "cannot create dump file {}: {e}",
                    partial.display()
                ))
            })?;
            let mut out = BufWriter::new(file);
            let written = ops::dump(store, stores, &mut out).await;
            let finished = written.and_then(|summary| {
                out.into_inner()
                    .map_err(|e| ops::OpsError::io("cannot write the dump", e.into_error()))
                    .and_then(|file| {
                        file.sync_all()
                            .map_err(|e| ops::OpsError::io("cannot write the dump", e))
                    })
                    .map(|()| summary)
            });
            let summary = match finished {
                Ok(summary) => summary,
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(ops_failure(e));
                }
            };
            std::fs::rename(&partial, path).map_err(|e| {
                Failure::failed(format!(
                    "cannot rename {} to {}: {e}",
                    partial.display(),
                    path.display()
                ))
            })?;
            summary
        }
    };
    let stores_json: Vec<_> = summary
        .stores
        .iter()
        .map(|(s, n)| serde_json::json!({ "store": s, "entries": n }))
        .collect();
    if json && output.is_some() {
        outln!(
            "{}",
            serde_json::json!({
                "output": output,
                "entries": summary.entries,
                "bytes": summary.bytes,
                "sha256": summary.sha256,
                "stores": stores_json,
            })
        )?;
    } else {
        let to = output.map_or_else(
            || "standard output".to_string(),
            |p| p.display().to_string(),
        );
        note!(
            "dumped {} entries of {} stores to {to} ({} bytes, sha256 {})",
            summary.entries,
            summary.stores.len(),
            summary.bytes,
            summary.sha256
        );
    }
    Ok(())
}

/// Restores from `input` or standard input (spooled to a temporary file).
pub(crate) async fn restore(
    store: &Arc<dyn StateStore>,
    input: Option<PathBuf>,
    merge: bool,
    batch: usize,
    reason: &str,
    json: bool,
) -> Result<(), Failure> {
    let spooled;
    let path = match input {
        Some(path) => path,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(Failure::usage(
                    "give the dump: `stateplug state restore --input <file>` or pipe it into \
                     standard input",
                ));
            }
            spooled = ops::spool(&mut stdin.lock()).map_err(ops_failure)?;
            spooled.path().to_path_buf()
        }
    };
    let options = RestoreOptions {
        merge,
        batch_keys: batch,
        lock: LockRequest::new("restore").reason(reason),
    };
    let report = ops::restore_file(store, &path, &options)
        .await
        .map_err(ops_failure)?;
    if json {
        let stores: Vec<_> = report
            .stores
            .iter()
            .map(|(s, cleared, written)| {
                serde_json::json!({ "store": s, "removed_before": cleared, "entries": written })
            })
            .collect();
        outln!(
            "{}",
            serde_json::json!({ "entries": report.entries, "sha256": report.sha256, "stores": stores })
        )?;
        return Ok(());
    }
    for (s, cleared, written) in &report.stores {
        outln!("{s:<24} {written:>10} entries restored ({cleared} keys removed first)")?;
    }
    outln!(
        "restored {} entries into {} stores (dump sha256 {})",
        report.entries,
        report.stores.len(),
        report.sha256
    )?;
    Ok(())
}

/// The arguments of `stateplug state migrate`.
pub(crate) struct MigrateArgs {
    pub(crate) from: PathBuf,
    pub(crate) to: PathBuf,
    pub(crate) from_provider: Option<String>,
    pub(crate) to_provider: Option<String>,
    pub(crate) stores: Vec<String>,
    pub(crate) batch: usize,
    pub(crate) reason: String,
    pub(crate) progress_interval: Duration,
    pub(crate) allow_writable_library: bool,
}

/// Copies stores between two configured providers, then reports the verification.
pub(crate) async fn migrate(args: MigrateArgs, json: bool) -> Result<(), Failure> {
    let allow = args.allow_writable_library;
    let from = open_configured(&args.from, args.from_provider.as_deref(), allow)?;
    let to = open_configured(&args.to, args.to_provider.as_deref(), allow)?;
    let reason = if args.reason.is_empty() {
        format!("migrate {} -> {}", args.from.display(), args.to.display())
    } else {
        args.reason
    };
    let options = MigrateOptions {
        stores: args.stores,
        batch_keys: args.batch,
        lock: LockRequest::new("migrate").reason(reason),
    };
    let progress = CliProgress::new(
        std::io::stderr().is_terminal() && !json,
        args.progress_interval,
    );
    let outcome = ops::migrate(&from, &to, &options, &progress).await;
    progress.finish();
    let report = outcome.map_err(ops_failure)?;
    let bad: Vec<&str> = report
        .stores
        .iter()
        .filter(|s| !s.verified())
        .map(|s| s.store_id.as_str())
        .collect();
    // A store that differs is reported whether or not anybody reads the output.
    let differ = || {
        Failure::failed(format!(
            "stores {} differ after copying (was the source written meanwhile?); stop the \
             writers and run the same migrate again",
            bad.join(", ")
        ))
    };
    if json {
        let stores: Vec<_> = report
            .stores
            .iter()
            .map(|s| {
                serde_json::json!({
                    "store": s.store_id,
                    "verified": s.verified(),
                    "written": s.written,
                    "deleted": s.deleted,
                    "unchanged": s.unchanged,
                    "source_keys": s.source_keys,
                    "target_keys": s.target_keys,
                    "source_sha256": s.source_sha256,
                    "target_sha256": s.target_sha256,
                })
            })
            .collect();
        let printed = outln!(
            "{}",
            serde_json::json!({ "verified": report.verified(), "stores": stores })
        );
        return if bad.is_empty() {
            printed
        } else {
            Err(differ())
        };
    } else {
        let mut out = std::io::stdout().lock();
        let width = report
            .stores
            .iter()
            .map(|s| s.store_id.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            out,
            "{:<width$}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  verified",
            "store", "source", "target", "written", "deleted", "unchanged"
        );
        for s in &report.stores {
            let _ = writeln!(
                out,
                "{:<width$}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {}",
                s.store_id,
                s.source_keys,
                s.target_keys,
                s.written,
                s.deleted,
                s.unchanged,
                if s.verified() { "yes" } else { "NO" }
            );
        }
    }
    if !bad.is_empty() {
        return Err(differ());
    }
    outln!(
        "migrated {} stores from {} to {}; every store verified equal (key count and \
         content hash)",
        report.stores.len(),
        args.from.display(),
        args.to.display()
    )
}
