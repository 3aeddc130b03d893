//! Many distinct store_ids: writing one key to each and deleting them all
//! leaves nothing behind, per store_id, in either shipped provider.
//!
//! - memory (its `.so`), 100,000 store_ids a round: resident memory after
//!   a second round (as many store_ids, other names) is no higher than after the first (what the
//!   allocator and the store map's table keep after round one is reused in
//!   round two, so nothing grows per store_id), and no store is listed
//!   afterwards;
//! - redb (its `.so`), 600 store_ids a round with 1 KiB values, one call at
//!   a time: no store is listed (no `STORES` row is left), and a second
//!   identical round leaves the file no larger than the first (freed pages
//!   are reused);
//! - redb, 100,000 store_ids a round with calls in parallel (group
//!   commits): no store is listed, and a second round with other names
//!   grows the file by less than a row per store_id would.
//!
//! The two tests run one at a time: resident memory is per process.

use std::{sync::Arc, time::Instant};

use stateplug::StateStore;
use stateplug_tests::load;

/// Serialises the tests of this file, so one does not disturb the other's
/// memory figures.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Store_ids per round on the memory provider.
const STORE_IDS: usize = 100_000;

/// Store_ids per round on redb: each write is a durable commit, made one at
/// a time so that the file's growth is deterministic; fewer keep the test
/// to seconds.
const REDB_STORE_IDS: usize = 600;

/// Store_ids per round in the large redb test.
const REDB_MANY_STORE_IDS: usize = 100_000;

/// A redb store in a fresh folder, with its journal or without, on tmpfs
/// when there is one: hundreds of thousands of durable commits on a disk
/// would take minutes; the file's behaviour is the same.
fn redb_on_tmpfs(journal: bool) -> (Arc<dyn StateStore>, tempfile::TempDir, std::path::PathBuf) {
    let dir = stateplug_tests::tmpfs_tempdir();
    let file = dir.path().join("state.redb");
    let store = load("stateplug-provider-redb")
        .open(&serde_json::json!({ "path": file, "journal": journal }))
        .expect("open redb");
    (store, dir, file)
}

/// The process's resident memory, in bytes (VmRSS).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

#[cfg(target_env = "gnu")]
extern "C" {
    /// glibc: gives free heap memory back to the system.
    fn malloc_trim(pad: usize) -> std::ffi::c_int;
}

/// Resident memory once the allocator has given back what it holds free
/// (glibc keeps freed memory in its arenas; `malloc_trim` returns it), so
/// what remains is memory still allocated.
fn resident_after_trim() -> u64 {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes no pointer and only walks glibc's own free
    // lists, under glibc's locks; any thread may call it at any time.
    unsafe {
        malloc_trim(0);
    }
    resident_bytes()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn store_id(i: usize) -> String {
    format!("tenant-{i:06}")
}

/// Writes one key of `value_len` bytes to each of `count` store_ids
/// numbered from `first`, then deletes every one, with `parallel` calls in
/// flight.
async fn round(
    store: &Arc<dyn StateStore>,
    first: usize,
    count: usize,
    value_len: usize,
    parallel: usize,
) {
    let chunk = count.div_ceil(parallel);
    for phase in ["set", "delete"] {
        let tasks: Vec<_> = (0..parallel)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in t * chunk..((t + 1) * chunk).min(count) {
                        let id = store_id(first + i);
                        if phase == "set" {
                            store
                                .set(&id, "checkpoint", vec![i as u8; value_len])
                                .await
                                .expect("set");
                        } else {
                            assert!(store.delete(&id, "checkpoint").await.expect("delete"));
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
    }
}

async fn assert_nothing_left(store: &Arc<dyn StateStore>, first: usize, count: usize, what: &str) {
    assert!(
        store.list_stores().await.expect("list_stores").is_empty(),
        "{what}: no store is listed after deleting every key"
    );
    for i in [first, first + count / 2, first + count - 1] {
        assert!(!store.store_exists(&store_id(i)).await.expect("exists"));
        assert_eq!(store.key_count(&store_id(i)).await.expect("count"), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_across_100k_store_ids() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (store, ()) = stateplug_tests::memory_so();
    // Warm up the runtime, the adapter and the allocator's arenas.
    store.set("warm", "k", b"v".to_vec()).await.unwrap();
    store.delete("warm", "k").await.unwrap();
    let start = resident_after_trim();
    let t = Instant::now();
    round(&store, 0, STORE_IDS, 8, 4).await;
    assert_nothing_left(&store, 0, STORE_IDS, "round 1").await;
    let (held_one, after_one) = (resident_bytes(), resident_after_trim());
    // Other names: memory kept per name would show here too.
    round(&store, STORE_IDS, STORE_IDS, 8, 4).await;
    assert_nothing_left(&store, STORE_IDS, STORE_IDS, "round 2").await;
    let (held_two, after_two) = (resident_bytes(), resident_after_trim());
    println!(
        "memory, {STORE_IDS} store_ids: resident {:.1} MiB at start; after round 1 {:.1} MiB \
         ({:.1} MiB before the allocator gave back its free memory); after round 2 {:.1} MiB \
         ({:.1} MiB); {:.1?} for both",
        mib(start),
        mib(after_one),
        mib(held_one),
        mib(after_two),
        mib(held_two),
        t.elapsed()
    );
    // A leak per store_id would add as much again in a second round with
    // other names: what the allocator holds after round one is reused.
    assert!(
        held_two <= held_one + (4 << 20),
        "resident memory grew in a second identical round ({:.1} -> {:.1} MiB): something \
         leaks per store_id",
        mib(held_one),
        mib(held_two)
    );
    // After deleting everything, the store map keeps its table (hash maps
    // do not shrink: about 100 bytes a slot at the peak of 100,000 stores)
    // and the heap some fragments: bounded by the peak, not by the names.
    for (round, after) in [(1, after_one), (2, after_two)] {
        assert!(
            after <= start + (48 << 20),
            "{:.1} MiB still allocated after deleting every store_id of round {round}",
            mib(after.saturating_sub(start))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_leaves_no_rows_and_reuses_space_per_store_id() {
    let _serial = ONE_AT_A_TIME.lock().await;
    // Without the journal every group is a durable redb commit, after
    // which redb reuses the pages it freed. (With the journal, the
    // applier's non-durable commits come in batches that follow timing,
    // and freed pages wait for the next checkpoint: the size after a round
    // then varies by hundreds of KiB from run to run. The rows, which this
    // test is about, are the same either way.)
    let (store, _dir, file) = redb_on_tmpfs(false);
    let size = || std::fs::metadata(&file).expect("stat").len();
    let t = Instant::now();
    // One call at a time: the same calls then allocate the same pages and
    // the sizes compare exactly (concurrent calls group into commits of
    // varying size and move the file's size by hundreds of KiB).
    let mut sizes = Vec::new();
    for r in 0..2 {
        round(&store, r * REDB_STORE_IDS, REDB_STORE_IDS, 1024, 1).await;
        assert_nothing_left(&store, r * REDB_STORE_IDS, REDB_STORE_IDS, "redb").await;
        sizes.push(size());
    }
    println!(
        "redb, {REDB_STORE_IDS} store_ids a round: file {:?} KiB after each round ({:.1?} in all)",
        sizes.iter().map(|s| s / 1024).collect::<Vec<_>>(),
        t.elapsed()
    );
    // A row left per store_id would add 600 KiB a round (1 KiB values).
    assert!(
        sizes[1] <= sizes[0],
        "the file grew in a second identical round: {sizes:?} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_leaves_no_rows_after_100k_store_ids() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (store, dir, file) = redb_on_tmpfs(true);
    let t = Instant::now();
    for r in 0..2 {
        let first = r * REDB_MANY_STORE_IDS;
        round(&store, first, REDB_MANY_STORE_IDS, 64, 32).await;
        assert_nothing_left(&store, first, REDB_MANY_STORE_IDS, "redb").await;
    }
    drop(store);
    // Concurrent calls group into commits of varying size, which moves the
    // file's high-water mark (redb grows a file by doubling it), so the
    // file's size says nothing here (the one-call-at-a-time test above
    // compares sizes). The tables themselves must hold no row at all.
    let rows = rows_left(&file);
    println!(
        "redb, {REDB_MANY_STORE_IDS} store_ids a round, 32 calls in flight: {rows:?} rows \
         left after both rounds ({:.1?} in all)",
        t.elapsed()
    );
    assert!(
        rows.iter().all(|(_, n)| *n == 0),
        "rows are kept per store_id: {rows:?}"
    );
    drop(dir);
}

/// The rows of each of the provider's tables in `file`, read with redb itself.
fn rows_left(file: &std::path::Path) -> Vec<(&'static str, u64)> {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    let db = redb::Database::open(file).expect("open with redb");
    let txn = db.begin_read().expect("read");
    let entries: redb::TableDefinition<&[u8], &[u8]> =
        redb::TableDefinition::new("stateplug_entries");
    let stores: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("stateplug_stores");
    vec![
        (
            "entries",
            txn.open_table(entries)
                .expect("entries")
                .len()
                .expect("len"),
        ),
        (
            "stores",
            txn.open_table(stores).expect("stores").len().expect("len"),
        ),
    ]
}
