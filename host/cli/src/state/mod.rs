//! `stateplug state …`: inspect and change the state a provider holds.
//!
//! Every subcommand but `migrate` works on one provider, named by
//! `--config` or `--library` (see [`Target`]); `migrate` names two with
//! `--from` and `--to`. Output is for people unless `--json` is given; in
//! text, keys and store ids are shown escaped (see [`show`]).

mod interrupt;
mod progress;
mod show;
mod target;
mod transfer;
mod ttl;
mod watch;

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use stateplug::{
    ops::{self, LockInfo, LockRequest, StoreWalk},
    store::is_reserved_store_id,
    store::RESERVED_STORE_ID_REASON,
    CapabilityFlags, StateStore,
};

use self::{
    interrupt::Interrupt,
    show::{defused, escaped, json_value, merged, show, show_inline},
    target::{ops_failure, store_failure, Target},
};
use crate::{
    output::{self, note, outln},
    Failure,
};

/// `stateplug state` and its options.
#[derive(Debug, clap::Args)]
pub(crate) struct StateArgs {
    /// Print JSON for scripts instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: StateCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StateCommand {
    /// List the stores that hold keys, with their key counts.
    Stores {
        #[command(flatten)]
        target: Target,
    },
    /// List who owns each plugin's store (the host instance that took it
    /// over last), since when, and its epoch.
    Owners {
        #[command(flatten)]
        target: Target,
    },
    /// List the keys of a store in order (paged, so any size works).
    Keys {
        /// The store (a plugin id).
        store_id: String,
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        #[command(flatten)]
        target: Target,
    },
    /// Show a key's value (as text, or hex when it is not text) and version.
    Get {
        /// The store.
        store_id: String,
        /// The key.
        key: String,
        /// Write the value's bytes to standard output, nothing else.
        #[arg(long)]
        raw: bool,
        /// Show a past version instead (needs a provider with history).
        #[arg(long)]
        version: Option<u64>,
        #[command(flatten)]
        target: Target,
    },
    /// Write a value under a key.
    Put {
        /// The store.
        store_id: String,
        /// The key.
        key: String,
        /// The value (text); or use --file.
        value: Option<String>,
        /// Read the value's bytes from this file (`-` for standard input).
        #[arg(long, conflicts_with = "value")]
        file: Option<PathBuf>,
        /// Expire the key after this long (e.g. 30s, 10m, 1h30m, 7d); the
        /// provider must declare TTL. Without it the key never expires
        /// (and loses any expiry it had).
        #[arg(long, value_parser = ttl::parse_ttl)]
        ttl: Option<Duration>,
        #[command(flatten)]
        target: Target,
    },
    /// Remove a key.
    Delete {
        /// The store.
        store_id: String,
        /// The key.
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// Remove every key of a store (asks first; --yes to skip the question).
    Clear {
        /// The store.
        store_id: String,
        /// Do not ask; needed when standard input is not a terminal.
        #[arg(long)]
        yes: bool,
        /// Why, recorded in the store's lock while it runs.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        target: Target,
    },
    /// Write a dump of stores (default: all) to standard output or --output.
    Dump {
        /// A store to dump (repeat for several); default: every store.
        #[arg(long = "store", value_name = "STORE_ID")]
        stores: Vec<String>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// How often to print a progress line when standard error is not a terminal.
        #[arg(long, default_value_t = 2000, value_name = "MS")]
        progress_interval_ms: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Restore a dump from standard input or --input (checked whole first).
    Restore {
        /// Read this file instead of standard input.
        #[arg(long, short)]
        input: Option<PathBuf>,
        /// Keep keys the dump does not hold (default: each dumped store ends exactly as dumped).
        #[arg(long)]
        merge: bool,
        /// Keys per batch.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Why, recorded in the stores' locks while it runs.
        #[arg(long, default_value = "")]
        reason: String,
        /// How often to print a progress line when standard error is not a terminal.
        #[arg(long, default_value_t = 2000, value_name = "MS")]
        progress_interval_ms: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Copy stores from one pipeline's provider to another's, then verify them.
    Migrate {
        /// The pipeline configuration whose provider is copied from.
        #[arg(long, value_name = "PIPELINE.toml")]
        from: PathBuf,
        /// The pipeline configuration whose provider is copied to.
        #[arg(long, value_name = "PIPELINE.toml")]
        to: PathBuf,
        /// Which of --from's [[providers]] (default: the first).
        #[arg(long, value_name = "NAME")]
        from_provider: Option<String>,
        /// Which of --to's [[providers]] (default: the first).
        #[arg(long, value_name = "NAME")]
        to_provider: Option<String>,
        /// A store to copy (repeat for several); default: every store of the source.
        #[arg(long = "store", value_name = "STORE_ID")]
        stores: Vec<String>,
        /// Keys per batch.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Why, recorded in the stores' locks while it runs.
        #[arg(long, default_value = "")]
        reason: String,
        /// How often to print a progress line when standard error is not a terminal.
        #[arg(long, default_value_t = 2000, value_name = "MS")]
        progress_interval_ms: u64,
        /// Load the provider libraries even if other users could have replaced them.
        #[arg(long)]
        allow_writable_library: bool,
    },
    /// Print the changes of a store as they are committed, by this host or
    /// any other (needs a provider with a change feed: postgres), until Ctrl-C.
    Watch {
        /// The store (a plugin id).
        store_id: String,
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        #[command(flatten)]
        target: Target,
    },
    /// List the retained versions of a key, newest first (needs history).
    History {
        /// The store.
        store_id: String,
        /// The key.
        key: String,
        /// Most versions to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        target: Target,
    },
    /// Locks held on stores.
    #[command(subcommand)]
    Lock(LockCommand),
    /// Remove a lock whoever holds it (when its operation is no longer running).
    ForceUnlock {
        /// The lock id (the store_id it locks).
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, clap::Subcommand)]
enum LockCommand {
    /// List the locks, with owner, operation, times and reason.
    List {
        #[command(flatten)]
        target: Target,
    },
}

impl StateCommand {
    /// The provider the command works on; `None` for `migrate`, which names two.
    fn target(&self) -> Option<&Target> {
        match self {
            StateCommand::Stores { target }
            | StateCommand::Owners { target }
            | StateCommand::Keys { target, .. }
            | StateCommand::Get { target, .. }
            | StateCommand::Put { target, .. }
            | StateCommand::Delete { target, .. }
            | StateCommand::Clear { target, .. }
            | StateCommand::Dump { target, .. }
            | StateCommand::Restore { target, .. }
            | StateCommand::History { target, .. }
            | StateCommand::Watch { target, .. }
            | StateCommand::Lock(LockCommand::List { target })
            | StateCommand::ForceUnlock { target, .. } => Some(target),
            StateCommand::Migrate { .. } => None,
        }
    }

    /// Whether the command only reads: its provider is opened creating nothing.
    fn only_reads(&self) -> bool {
        matches!(
            self,
            StateCommand::Stores { .. }
                | StateCommand::Owners { .. }
                | StateCommand::Keys { .. }
                | StateCommand::Get { .. }
                | StateCommand::Dump { .. }
                | StateCommand::History { .. }
                | StateCommand::Watch { .. }
                | StateCommand::Lock(LockCommand::List { .. })
        )
    }
}

/// Runs a `stateplug state` subcommand. Whatever its error quotes (keys,
/// lock records, a provider's message) reaches the terminal [`defused`].
pub(crate) async fn run(args: StateArgs) -> Result<(), Failure> {
    run_command(args).await.map_err(|mut failure| {
        if let std::borrow::Cow::Owned(safe) = defused(&failure.message) {
            failure.message = safe;
        }
        failure
    })
}

async fn run_command(args: StateArgs) -> Result<(), Failure> {
    let json = args.json;
    match args.command {
        StateCommand::Migrate {
            from,
            to,
            from_provider,
            to_provider,
            stores,
            batch,
            reason,
            progress_interval_ms,
            allow_writable_library,
        } => {
            let options = transfer::MigrateArgs {
                from,
                to,
                from_provider,
                to_provider,
                stores,
                batch,
                reason,
                progress_interval: std::time::Duration::from_millis(progress_interval_ms),
                allow_writable_library,
            };
            transfer::migrate(options, json).await
        }
        command => {
            let store = match command.target() {
                Some(target) => target.open(command.only_reads())?,
                None => return Err(Failure::usage("migrate takes --from and --to")),
            };
            run_on(&store, command, json).await
        }
    }
}

/// Refuses to write a reserved store (see [`is_reserved_store_id`]).
fn writable(store_id: &str) -> Result<(), Failure> {
    if is_reserved_store_id(store_id) {
        return Err(Failure::usage(format!(
            "store {store_id:?} is refused: {RESERVED_STORE_ID_REASON}"
        )));
    }
    Ok(())
}

async fn run_on(
    store: &Arc<dyn StateStore>,
    command: StateCommand,
    json: bool,
) -> Result<(), Failure> {
    match command {
        StateCommand::Stores { .. } => stores(store, json).await,
        StateCommand::Watch {
            store_id, prefix, ..
        } => watch::watch(store, &store_id, &prefix, json).await,
        StateCommand::Owners { .. } => owners(store, json).await,
        StateCommand::Keys {
            store_id, prefix, ..
        } => keys(store, &store_id, &prefix, json).await,
        StateCommand::Get {
            store_id,
            key,
            raw,
            version,
            ..
        } => get(store, &store_id, &key, raw, version, json).await,
        StateCommand::Put {
            store_id,
            key,
            value,
            file,
            ttl,
            ..
        } => put(store, &store_id, &key, (value, file), ttl, json).await,
        StateCommand::Delete { store_id, key, .. } => {
            writable(&store_id)?;
            let existed = store.delete(&store_id, &key).await.map_err(store_failure)?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({ "store": store_id, "key": key, "existed": existed })
                )?;
            } else if existed {
                outln!("deleted {key:?} from store {store_id:?}")?;
            } else {
                outln!("store {store_id:?} has no key {key:?}; nothing deleted")?;
            }
            Ok(())
        }
        StateCommand::Clear {
            store_id,
            yes,
            reason,
            ..
        } => clear(store, &store_id, yes, &reason, json).await,
        StateCommand::Dump {
            stores,
            output,
            progress_interval_ms,
            ..
        } => {
            let every = std::time::Duration::from_millis(progress_interval_ms);
            transfer::dump(store, &stores, output, every, json).await
        }
        StateCommand::Restore {
            input,
            merge,
            batch,
            reason,
            progress_interval_ms,
            ..
        } => {
            let options = transfer::RestoreArgs {
                input,
                merge,
                batch,
                reason,
                progress_interval: std::time::Duration::from_millis(progress_interval_ms),
            };
            transfer::restore(store, options, json).await
        }
        StateCommand::History {
            store_id,
            key,
            limit,
            ..
        } => history(store, &store_id, &key, limit, json).await,
        StateCommand::Lock(LockCommand::List { .. }) => lock_list(store, json).await,
        StateCommand::ForceUnlock { id, .. } => force_unlock(store, &id, json).await,
        StateCommand::Migrate { .. } => Err(Failure::usage("migrate takes --from and --to")),
    }
}

async fn stores(store: &Arc<dyn StateStore>, json: bool) -> Result<(), Failure> {
    let ids = ops::select_stores(store, &[]).await.map_err(ops_failure)?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let keys = store.key_count(&id).await.map_err(store_failure)?;
        rows.push((id, keys));
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(id, keys)| serde_json::json!({ "store": id, "keys": keys }))
            .collect();
        outln!("{}", serde_json::Value::Array(list))?;
        return Ok(());
    }
    if rows.is_empty() {
        outln!("no stores hold keys in provider {}", store.info().name)?;
    }
    let shown: Vec<(String, u64)> = rows
        .into_iter()
        .map(|(id, keys)| (escaped(&id).into_owned(), keys))
        .collect();
    let width = shown
        .iter()
        .map(|(id, _)| id.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    for (id, keys) in shown {
        outln!("{id:<width$}  {keys:>10} keys")?;
    }
    Ok(())
}

/// Every store with an owner record, and what the record says.
async fn owners(store: &Arc<dyn StateStore>, json: bool) -> Result<(), Failure> {
    let ids = ops::select_stores(store, &[]).await.map_err(ops_failure)?;
    let mut rows = Vec::new();
    for id in ids {
        let Some(bytes) = store
            .get(&id, stateplug::runtime::OWNER_KEY)
            .await
            .map_err(store_failure)?
        else {
            continue;
        };
        rows.push((id, stateplug::runtime::OwnerRecord::parse(&bytes)));
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(id, record)| match record {
                Some(r) => serde_json::json!({ "store": id, "host": r.host, "pid": r.pid,
                    "since_ms": r.since_ms, "epoch": r.epoch }),
                None => serde_json::json!({ "store": id, "unreadable": true }),
            })
            .collect();
        outln!("{}", serde_json::Value::Array(list))?;
        return Ok(());
    }
    if rows.is_empty() {
        outln!(
            "no plugin has an owner record in provider {} (no host has run one)",
            store.info().name
        )?;
    }
    let width = rows
        .iter()
        .map(|(id, _)| escaped(id).chars().count())
        .max()
        .unwrap_or(0);
    for (id, record) in rows {
        let id = escaped(&id).into_owned();
        match record {
            Some(r) => outln!("{id:<width$}  owned by {r}")?,
            None => outln!(
                "{id:<width$}  owner record unreadable; the next host to start it takes it over"
            )?,
        }
    }
    Ok(())
}

async fn keys(
    store: &Arc<dyn StateStore>,
    store_id: &str,
    prefix: &str,
    json: bool,
) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let mut walk = StoreWalk::new(store, store_id, prefix);
    let mut first = true;
    let broken = output::write_failed;
    if json {
        write!(out, "[").map_err(broken)?;
    }
    while let Some(page) = walk.next_page().await.map_err(store_failure)? {
        for e in page {
            if json {
                let row = serde_json::json!({ "key": e.key, "version": e.version, "bytes": e.value.len() });
                write!(out, "{}{row}", if first { "" } else { "," }).map_err(broken)?;
            } else {
                writeln!(out, "{}", escaped(&e.key)).map_err(broken)?;
            }
            first = false;
        }
    }
    if json {
        writeln!(out, "]").map_err(broken)?;
    }
    out.flush().map_err(broken)
}

/// Refuses history reads on a provider instance that keeps none.
fn require_history(store: &Arc<dyn StateStore>) -> Result<(), Failure> {
    if store.capabilities().has(CapabilityFlags::HISTORY) {
        return Ok(());
    }
    Err(Failure::failed(format!(
        "provider {} keeps no version history here (it does not declare the history \
         capability); for redb, set `history_versions` (e.g. 10) in its configuration",
        store.info().name
    )))
}

async fn get(
    store: &Arc<dyn StateStore>,
    store_id: &str,
    key: &str,
    raw: bool,
    version: Option<u64>,
    json: bool,
) -> Result<(), Failure> {
    if version.is_some() {
        require_history(store)?;
    }
    let entry = match version {
        None => store.get_entry(store_id, key).await,
        Some(v) => store.get_version(store_id, key, v).await,
    }
    .map_err(store_failure)?;
    let Some(entry) = entry else {
        let what = version.map_or(String::new(), |v| format!(" at version {v}"));
        return Err(Failure::failed(format!(
            "store {store_id:?} has no key {key:?}{what}; `stateplug state keys {}` lists its keys",
            escaped(store_id)
        )));
    };
    if raw {
        return output::bytes(&entry.value);
    }
    if json {
        let head = serde_json::json!({ "store": store_id, "key": key, "version": entry.version });
        outln!("{}", merged(head, json_value(&entry.value)))?;
    } else {
        outln!("{}", show(&entry.value))?;
        note!("(version {}, {} bytes)", entry.version, entry.value.len());
    }
    Ok(())
}

async fn put(
    store: &Arc<dyn StateStore>,
    store_id: &str,
    key: &str,
    (value, file): (Option<String>, Option<PathBuf>),
    ttl: Option<Duration>,
    json: bool,
) -> Result<(), Failure> {
    let bytes =
        match (value, file) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(path)) if path.as_os_str() == "-" => {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                    .map_err(|e| Failure::failed(format!("cannot read standard input: {e}")))?;
                buf
            }
            (None, Some(path)) => std::fs::read(&path).map_err(|e| {
                Failure::usage(format!("cannot read value file {}: {e}", path.display()))
            })?,
            _ => return Err(Failure::usage(
                "give the value: `stateplug state put <store_id> <key> <value>` or --file <path>",
            )),
        };
    writable(store_id)?;
    let len = bytes.len();
    let written = match ttl {
        Some(ttl) => store.set_with_ttl(store_id, key, bytes, ttl).await,
        None => store.set(store_id, key, bytes).await,
    };
    let version = written.map_err(store_failure)?;
    let ttl_ms = ttl.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
    if json {
        outln!(
            "{}",
            serde_json::json!({ "store": store_id, "key": key, "version": version, "bytes": len, "ttl_ms": ttl_ms })
        )?;
    } else {
        let expiry = match ttl {
            Some(ttl) => format!(", expires in {}", ttl::show_ttl(ttl)),
            None => String::new(),
        };
        outln!("stored {key:?} in store {store_id:?} at version {version} ({len} bytes{expiry})")?;
    }
    Ok(())
}

async fn clear(
    store: &Arc<dyn StateStore>,
    store_id: &str,
    yes: bool,
    reason: &str,
    json: bool,
) -> Result<(), Failure> {
    writable(store_id)?;
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(Failure::usage(format!(
                "refusing to clear store {store_id:?} without confirmation: standard input is \
                 not a terminal; pass --yes"
            )));
        }
        let keys = store.key_count(store_id).await.map_err(store_failure)?;
        eprint!(
            "Remove all {keys} keys of store {store_id:?} in provider {}? [y/N] ",
            store.info().name
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        stdin
            .read_line(&mut answer)
            .map_err(|e| Failure::failed(format!("cannot read the answer: {e}")))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            return Err(Failure::failed(format!(
                "not confirmed; store {store_id:?} is unchanged"
            )));
        }
    }
    let lock = LockRequest::new("clear").reason(reason);
    let interrupt = Interrupt::catch("clear")?;
    let cleared = ops::clear_stores(store, &[store_id.to_string()], &lock, &interrupt)
        .await
        .map_err(|e| interrupt.failure(e))?;
    let removed = cleared.first().map_or(0, |(_, n)| *n);
    if json {
        outln!(
            "{}",
            serde_json::json!({ "store": store_id, "removed": removed })
        )?;
    } else {
        outln!("cleared store {store_id:?}: {removed} keys removed")?;
    }
    Ok(())
}

async fn history(
    store: &Arc<dyn StateStore>,
    store_id: &str,
    key: &str,
    limit: u32,
    json: bool,
) -> Result<(), Failure> {
    require_history(store)?;
    let versions = store
        .history(store_id, key, limit)
        .await
        .map_err(store_failure)?;
    if json {
        let rows: Vec<_> = versions
            .iter()
            .map(|h| {
                let head =
                    serde_json::json!({ "version": h.version, "deleted": h.value.is_none() });
                match &h.value {
                    Some(v) => merged(head, json_value(v)),
                    None => head,
                }
            })
            .collect();
        outln!("{}", serde_json::Value::Array(rows))?;
        return Ok(());
    }
    if versions.is_empty() {
        outln!("no retained versions of {key:?} in store {store_id:?}")?;
    }
    for h in versions {
        match h.value {
            Some(v) => outln!("{:>12}  {}", h.version, show_inline(&v)),
            None => outln!("{:>12}  (deleted)", h.version),
        }?;
    }
    Ok(())
}

fn lock_json(info: &LockInfo) -> serde_json::Value {
    let base = serde_json::to_value(info).unwrap_or_default();
    merged(
        base,
        serde_json::json!({ "created": info.created(), "expires": info.expires() }),
    )
}

async fn lock_list(store: &Arc<dyn StateStore>, json: bool) -> Result<(), Failure> {
    let locks = ops::list_locks(store).await.map_err(ops_failure)?;
    if json {
        let rows: Vec<_> = locks.iter().map(lock_json).collect();
        outln!("{}", serde_json::Value::Array(rows))?;
        return Ok(());
    }
    if locks.is_empty() {
        outln!("no locks")?;
    }
    for l in locks {
        let state = if l.is_expired_now() { "  EXPIRED" } else { "" };
        outln!(
            "{}  by {} ({}, pid {} on {})  since {}  expires {}{state}{}",
            escaped(&l.id),
            escaped(&l.owner),
            escaped(&l.operation),
            l.pid,
            escaped(&l.host),
            l.created(),
            l.expires(),
            if l.reason.is_empty() {
                String::new()
            } else {
                format!("  reason: {}", escaped(&l.reason))
            }
        )?;
    }
    Ok(())
}

async fn force_unlock(store: &Arc<dyn StateStore>, id: &str, json: bool) -> Result<(), Failure> {
    match ops::force_unlock(store, id).await.map_err(ops_failure)? {
        Some(info) => {
            if json {
                outln!("{}", lock_json(&info))?;
            } else {
                outln!(
                    "removed lock {id:?} held by {} ({}) since {}",
                    escaped(&info.owner),
                    escaped(&info.operation),
                    info.created()
                )?;
            }
            Ok(())
        }
        None => Err(Failure::failed(format!(
            "there is no lock {id:?}; `stateplug state lock list` shows the locks"
        ))),
    }
}
