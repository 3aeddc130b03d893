//! `stateplug state dump`, `restore` and `migrate`.

use std::{
    io::{BufWriter, IsTerminal, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use stateplug::{
    ops::{self, DumpSummary, LockRequest, MigrateOptions, RestoreOptions},
    StateStore,
};

use crate::{
    output::{self, note, outln},
    state::interrupt::Interrupt,
    state::progress::CliProgress,
    state::show::escaped,
    state::target::{ops_failure, Configured},
    Failure,
};

/// Progress on standard error for `operation`: a bar when it is a
/// terminal (and the output is not JSON), else a line every `every`.
fn progress(operation: &'static str, every: Duration, json: bool) -> Result<CliProgress, Failure> {
    let interrupt = Interrupt::catch(operation)?;
    let terminal = std::io::stderr().is_terminal() && !json;
    Ok(CliProgress::new(operation, terminal, every, interrupt))
}

/// Writes a dump to `output` (via a `.partial` file renamed when complete,
/// and removed on any failure or interruption) or to standard output.
pub(crate) async fn dump(
    store: &Arc<dyn StateStore>,
    stores: &[String],
    output: Option<PathBuf>,
    every: Duration,
    json: bool,
) -> Result<(), Failure> {
    let progress = progress("dump", every, json)?;
    let outcome = match &output {
        None => {
            let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout());
            match ops::dump(store, stores, &mut out, &progress).await {
                // The reader went away (`| head`): stop quietly, as coreutils do.
                Err(ops::OpsError::Io { error, .. }) if output::is_closed(&error) => {
                    return Err(Failure::stdout_closed())
                }
                outcome => outcome,
            }
        }
        Some(path) => dump_to_file(store, stores, path, &progress).await?,
    };
    progress.finish();
    let summary = outcome.map_err(|e| progress.failure(e))?;
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

/// The file a dump is written to until it is complete: removed when
/// dropped unless [`Partial::finish`] renamed it into place.
struct Partial {
    path: PathBuf,
    finished: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Partial {
    /// Renames the file to `target`.
    fn finish(mut self, target: &Path) -> Result<(), ops::OpsError> {
        std::fs::rename(&self.path, target).map_err(|e| {
            ops::OpsError::io(
                format!(
                    "cannot rename {} to {}",
                    self.path.display(),
                    target.display()
                ),
                e,
            )
        })?;
        self.finished = true;
        Ok(())
    }
}

/// Writes a dump to `path` through `path.partial`. The outer error is a
/// target refused before anything is written; the inner, the dump's own.
async fn dump_to_file(
    store: &Arc<dyn StateStore>,
    stores: &[String],
    path: &Path,
    progress: &CliProgress,
) -> Result<Result<DumpSummary, ops::OpsError>, Failure> {
    if path.is_dir() {
        return Err(Failure::usage(format!(
            "dump target {} is a folder; give the dump file's name, e.g. --output {}",
            path.display(),
            path.join("state.dump").display()
        )));
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    let partial = Partial {
        path: PathBuf::from(name),
        finished: false,
    };
    let file = std::fs::File::create(&partial.path).map_err(|e| {
        Failure::usage(format!(
            "cannot create dump file {}: {e}",
            partial.path.display()
        ))
    })?;
    let mut out = BufWriter::new(file);
    let shown = partial.path.display().to_string();
    let written = async {
        let summary = ops::dump(store, stores, &mut out, progress).await?;
        let file = out
            .into_inner()
            .map_err(|e| ops::OpsError::io("cannot write the dump", e.into_error()))?;
        file.sync_all()
            .map_err(|e| ops::OpsError::io("cannot write the dump", e))?;
        partial.finish(path)?;
        Ok(summary)
    };
    // `partial` is dropped (the file removed) unless it was renamed into place.
    Ok(written.await.map_err(|e| match e {
        ops::OpsError::Stopped { operation, done } => ops::OpsError::Stopped {
            operation,
            done: format!("{done} (the unfinished {shown} is removed)"),
        },
        other => other,
    }))
}

/// The arguments of `stateplug state restore`.
pub(crate) struct RestoreArgs {
    pub(crate) input: Option<PathBuf>,
    pub(crate) merge: bool,
    pub(crate) batch: usize,
    pub(crate) reason: String,
    pub(crate) progress_interval: Duration,
}

/// Restores from `input` or standard input (spooled to a temporary file).
pub(crate) async fn restore(
    store: &Arc<dyn StateStore>,
    args: RestoreArgs,
    json: bool,
) -> Result<(), Failure> {
    let spooled;
    let path = match args.input {
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
        merge: args.merge,
        batch_keys: args.batch,
        lock: LockRequest::new("restore").reason(args.reason),
    };
    let progress = progress("restore", args.progress_interval, json)?;
    let outcome = ops::restore_file(store, &path, &options, &progress).await;
    progress.finish();
    let report = outcome.map_err(|e| progress.failure(e))?;
    if json {
        let stores: Vec<_> = report
            .stores
            .iter()
            .map(|(s, cleared, written)| {
                serde_json::json!({ "store": s, "removed_before": cleared, "entries": written })
            })
            .collect();
        return outln!(
            "{}",
            serde_json::json!({ "entries": report.entries, "sha256": report.sha256, "stores": stores })
        );
    }
    for (s, cleared, written) in &report.stores {
        outln!(
            "{:<24} {written:>10} entries restored ({cleared} keys removed first)",
            escaped(s)
        )?;
    }
    outln!(
        "restored {} entries into {} stores (dump sha256 {})",
        report.entries,
        report.stores.len(),
        report.sha256
    )
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
    let from = Configured::load(&args.from, args.from_provider.as_deref(), allow)?;
    let to = Configured::load(&args.to, args.to_provider.as_deref(), allow)?;
    if let (Some(file), Some(same)) = (from.state_file(), to.state_file()) {
        if file == same {
            return Err(Failure::usage(format!(
                "source and target are the same: --from {} and --to {} both keep their state \
                 in {}; migrate copies from one place to another, so give --to a configuration \
                 whose provider keeps its state elsewhere (another file)",
                args.from.display(),
                args.to.display(),
                file.display()
            )));
        }
    }
    let (from, to) = (from.open(false)?, to.open(false)?);
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
    let progress = progress("migrate", args.progress_interval, json)?;
    let outcome = ops::migrate(&from, &to, &options, &progress).await;
    progress.finish();
    let report = outcome.map_err(|e| progress.failure(e))?;
    let bad: Vec<String> = report
        .stores
        .iter()
        .filter(|s| !s.verified())
        .map(|s| format!("{:?}", s.store_id))
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
            .map(|s| escaped(&s.store_id).chars().count())
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
                escaped(&s.store_id),
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
