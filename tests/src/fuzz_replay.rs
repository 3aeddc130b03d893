//! The body of the `replay_redb` fuzz target (and of its bounded property
//! test in `tests/tests/fuzz_like.rs`): arbitrary bytes decoded into
//! operations ([`crate::fuzz_input::decode_ops`]) run on a journaled redb
//! store whose journal is small and checkpointed every few KiB, so inputs
//! cross checkpoints and the journal's wrap back to its start. At every
//! scan step and at the end of an input, the files as they are on disk (a
//! crash image: what a SIGKILL leaves, the page cache included) are copied
//! and opened, which replays the journal, and the copy must hold exactly
//! what the live store holds: every key, value and version. The copy is
//! then opened again (its first open replayed and checkpointed) and must
//! still hold the same: replay never applies a record twice.
//!
//! The live store's own answers are checked against a model by the
//! `model_redb` target; this one checks what survives.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use stateplug::conformance::ModelOp;
use stateplug::{Expected, Scan, StateStore, TxnOp};
use tempfile::TempDir;

use crate::fuzz_input::decode_ops;

/// Opens a store on the redb file at the path given, with the
/// configuration given (`path` included).
pub type Opener = Box<dyn Fn(&serde_json::Value) -> Arc<dyn StateStore> + Send + Sync>;

/// The stores the operations write to.
const STORES: [&str; 2] = ["replay0", "replay1"];

/// What a store holds: `(store, key)` → `(version, value)`.
type Contents = BTreeMap<(usize, String), (u64, Vec<u8>)>;

/// A journaled redb store kept for the life of the process, beside the
/// folder its crash images are opened in.
pub struct ReplayTarget {
    runtime: tokio::runtime::Runtime,
    dir: TempDir,
    open: Opener,
    store: Arc<dyn StateStore>,
}

/// The live file's name in the target's folder.
const LIVE: &str = "live.redb";
/// The crash image's name.
const IMAGE: &str = "image.redb";

/// The configuration of a file in `dir` named `name`: a journal of the
/// smallest size and a checkpoint every 4 KiB journaled, so checkpoints
/// come every few inputs.
pub fn replay_config(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::json!({
        "path": dir.join(name),
        "journal": true,
        "journal_bytes": 64 << 10,
        "checkpoint_bytes": 4 << 10,
    })
}

impl ReplayTarget {
    /// A target on a fresh file in `dir`, opened with `open`.
    pub fn new(dir: TempDir, open: Opener) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            // Only a process out of resources fails here; nothing useful
            // can be fuzzed then.
            .unwrap_or_else(|e| panic!("cannot build a tokio runtime: {e}"));
        let store = open(&replay_config(dir.path(), LIVE));
        ReplayTarget {
            runtime,
            dir,
            open,
            store,
        }
    }

    /// Runs the operations `data` decodes to, checking a crash image at
    /// every scan step and at the end; panics on the first difference.
    pub fn run(&self, data: &[u8]) {
        let ops = decode_ops(data);
        self.runtime.block_on(async {
            for op in &ops {
                if matches!(op, ModelOp::Scan { .. }) {
                    self.check_image().await;
                } else {
                    write(&self.store, op).await;
                }
            }
            self.check_image().await;
        });
    }

    /// Copies the live files as they are, opens the copy twice and
    /// compares it with the live store each time.
    async fn check_image(&self) {
        let live = contents(&self.store).await;
        let (from, to) = (self.dir.path().join(LIVE), self.dir.path().join(IMAGE));
        for (from, to) in [(from.clone(), to.clone()), (journal(&from), journal(&to))] {
            if from.exists() {
                std::fs::copy(&from, &to)
                    .unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
            } else {
                let _ = std::fs::remove_file(&to);
            }
        }
        for open in ["replaying", "after the replay"] {
            let image = (self.open)(&replay_config(self.dir.path(), IMAGE));
            let got = contents(&image).await;
            drop(image);
            assert!(
                got == live,
                "the crash image, opened {open}, differs from the live store:\n  image {got:?}\n  live  {live:?}"
            );
        }
    }
}

/// `<path>.journal`.
fn journal(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

fn key_name(key: u8) -> String {
    format!("k{}", key % 8)
}

/// Applies `op` to `store`; refused writes are part of the input (they
/// must leave nothing behind), so answers are not checked here.
async fn write(store: &Arc<dyn StateStore>, op: &ModelOp) {
    let id = |s: &u8| STORES[usize::from(*s) % STORES.len()];
    match op {
        ModelOp::Set {
            store: s,
            key,
            value,
        } => {
            let _ = store.set(id(s), &key_name(*key), value.clone()).await;
        }
        ModelOp::Delete { store: s, key } => {
            let _ = store.delete(id(s), &key_name(*key)).await;
        }
        ModelOp::SetMany { store: s, pairs } => {
            let entries = pairs.iter().map(|(k, v)| (key_name(*k), v.clone()));
            let _ = store.set_many(id(s), entries.collect()).await;
        }
        ModelOp::DeleteMany { store: s, keys } => {
            let names: Vec<String> = keys.iter().map(|k| key_name(*k)).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let _ = store.delete_many(id(s), &refs).await;
        }
        ModelOp::Clear { store: s } => {
            let _ = store.clear_store(id(s)).await;
        }
        ModelOp::Cas {
            store: s,
            key,
            value,
            stale,
        } => {
            let key = key_name(*key);
            let expected = expected_for(store, id(s), &key, *stale).await;
            let _ = store
                .compare_and_set(id(s), &key, expected, value.clone())
                .await;
        }
        ModelOp::Cad {
            store: s,
            key,
            stale,
        } => {
            let key = key_name(*key);
            if let Expected::Version(v) = expected_for(store, id(s), &key, *stale).await {
                let _ = store.compare_and_delete(id(s), &key, v).await;
            }
        }
        ModelOp::Txn {
            store: s,
            writes,
            guard,
            stale,
        } => {
            let guard = key_name(*guard);
            let mut ops = vec![TxnOp::Check {
                key: guard.clone(),
                expected: expected_for(store, id(s), &guard, *stale).await,
            }];
            ops.extend(writes.iter().map(|(k, v)| match v {
                Some(value) => TxnOp::Put {
                    key: key_name(*k),
                    value: value.clone(),
                },
                None => TxnOp::Delete { key: key_name(*k) },
            }));
            let _ = store.transaction(id(s), ops).await;
        }
        ModelOp::Scan { .. } => {}
    }
}

/// The condition that holds for `key` now, or (when `stale`) one that does not.
async fn expected_for(store: &Arc<dyn StateStore>, id: &str, key: &str, stale: bool) -> Expected {
    let current = store.get_entry(id, key).await.ok().flatten();
    match (current, stale) {
        (Some(e), false) => Expected::Version(e.version),
        (None, false) => Expected::Absent,
        (Some(e), true) => Expected::Version(e.version + 1_000_000),
        (None, true) => Expected::Version(1),
    }
}

/// Every key, version and value of the [`STORES`].
async fn contents(store: &Arc<dyn StateStore>) -> Contents {
    let mut all = Contents::new();
    for (s, id) in STORES.iter().enumerate() {
        let mut scan = Scan::prefix("").limit(1_000);
        loop {
            let page = store
                .scan(id, &scan)
                .await
                .unwrap_or_else(|e| panic!("scan {id}: {e}"));
            for e in page.entries {
                all.insert((s, e.key), (e.version, e.value));
            }
            match page.next {
                Some(next) => scan = scan.after(next),
                None => break,
            }
        }
    }
    all
}
