//! Database paths the redb provider cannot use, through its loaded `.so`:
//! a file of random bytes, a truncated database, a path under a regular
//! file, a path under /proc, a directory, a read-only file system. Each is
//! refused with an error that names the path, never a panic, and the same
//! library keeps opening good files afterwards. A file that opens but holds
//! a damaged key fails the scans that reach it, with an error, not a panic.
//!
//! (A file in use by another process is covered by `host/cli/tests/cli.rs`,
//! a second open in this process by `loader.rs`.)

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use stateplug::{ErrorKind, LoadError, ProviderLibrary};
use stateplug_tests::load;

fn library() -> ProviderLibrary {
    load("stateplug-provider-redb")
}

/// Opening `file` fails: returns the provider's error kind and the whole
/// message, after checking that it names `file` and is not a panic.
fn refused(library: &ProviderLibrary, file: &Path) -> (ErrorKind, String) {
    let config = serde_json::json!({ "path": file });
    let err = match library.open(&config) {
        Ok(_) => panic!("{} was opened", file.display()),
        Err(e) => e,
    };
    let kind = match &err {
        LoadError::OpenFailed { error, .. } => error.kind(),
        LoadError::ConfigRejected { .. } => ErrorKind::INVALID_ARGUMENT,
        other => panic!("expected the provider to refuse opening, got {other:?}"),
    };
    let text = err.to_string();
    println!("{}: {text}", file.display());
    assert_ne!(kind, ErrorKind::PANIC, "a panic, not an error: {text}");
    assert!(
        text.contains(&file.display().to_string()),
        "the error names the path {}: {text}",
        file.display()
    );
    assert!(
        text.lines().count() <= 3,
        "a short message, not a dump: {text}"
    );
    (kind, text)
}

/// The library still opens a good file and reads back what it writes.
async fn still_works(library: &ProviderLibrary) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = library
        .open(&serde_json::json!({ "path": dir.path().join("good.redb") }))
        .expect("the library still opens good files");
    store.set("s", "k", b"v".to_vec()).await.expect("set");
    assert_eq!(
        store.get("s", "k").await.expect("get").as_deref(),
        Some(&b"v"[..])
    );
}

/// A database file with a few committed keys, closed.
async fn valid_database(library: &ProviderLibrary, file: &Path) {
    let store = library
        .open(&serde_json::json!({ "path": file }))
        .expect("create");
    for i in 0..200 {
        store
            .set("s", &format!("k{i}"), vec![i as u8; 500])
            .await
            .expect("set");
    }
}

#[tokio::test]
async fn a_file_of_random_bytes_is_refused_as_corrupt() {
    let library = library();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("state.redb");
    let noise: Vec<u8> = (0..64 * 1024).map(|_| rand::random::<u8>()).collect();
    std::fs::write(&file, &noise).expect("write noise");
    let (kind, text) = refused(&library, &file);
    assert_eq!(kind, ErrorKind::STORAGE);
    assert!(text.contains("Not a redb database"), "says why: {text}");
    assert_eq!(
        std::fs::read(&file).expect("read"),
        noise,
        "the file is left as it was"
    );
    still_works(&library).await;
}

/// A key in the file whose bytes are not UTF-8 (bit rot under the key
/// area): the redb provider hands scan rows over unchecked and the host
/// checks every key, so the page fails with an error and nothing else.
#[tokio::test]
async fn a_damaged_key_fails_the_scan_page_with_an_error() {
    // The provider's entry layout: key `[u16 BE store_id length][store_id][key]`,
    // value `[u64 LE version][value]`.
    const ENTRIES: redb::TableDefinition<&[u8], &[u8]> =
        redb::TableDefinition::new("stateplug_entries");
    let library = library();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("state.redb");
    valid_database(&library, &file).await;
    {
        let db = redb::Database::open(&file).expect("open with redb");
        let txn = db.begin_write().expect("write");
        {
            let mut entries = txn.open_table(ENTRIES).expect("entries");
            let key = [&[0, 1][..], b"s", b"k\xff"].concat();
            let value = [&7u64.to_le_bytes()[..], b"v"].concat();
            entries.insert(&key[..], &value[..]).expect("insert");
        }
        txn.commit().expect("commit");
    }
    let store = library
        .open(&serde_json::json!({ "path": file }))
        .expect("the file opens");
    let err = store
        .scan_rows("s", &stateplug::Scan::prefix("").limit(1_000))
        .await
        .expect_err("a page holding the damaged key");
    assert_ne!(err.kind, ErrorKind::PANIC, "{err}");
    assert!(err.to_string().contains("not UTF-8"), "says what: {err}");
    assert_eq!(
        store.get("s", "k1").await.expect("get").as_deref(),
        Some(&[1u8; 500][..]),
        "the rest of the file still reads"
    );
    still_works(&library).await;
}

#[tokio::test]
async fn a_truncated_database_is_refused() {
    let library = library();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("state.redb");
    valid_database(&library, &file).await;
    let len = std::fs::metadata(&file).expect("stat").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    let (kind, text) = refused(&library, &file);
    assert_eq!(kind, ErrorKind::STORAGE, "{text}");
    assert!(
        text.contains("corrupt, restore from backup"),
        "says what to do: {text}"
    );
    still_works(&library).await;
}

#[tokio::test]
async fn a_path_under_a_regular_file_is_refused() {
    let library = library();
    let dir = tempfile::tempdir().expect("temp dir");
    let regular = dir.path().join("plain");
    std::fs::write(&regular, b"not a folder").expect("write");
    let (kind, text) = refused(&library, &regular.join("state.redb"));
    assert_eq!(kind, ErrorKind::STORAGE, "{text}");
    assert!(text.contains("is a file, not a folder"), "says why: {text}");
    still_works(&library).await;
}

#[tokio::test]
async fn a_path_under_proc_is_refused() {
    let library = library();
    for file in [
        PathBuf::from("/proc/stateplug-test/state.redb"),
        PathBuf::from("/proc/state.redb"),
    ] {
        let (kind, _) = refused(&library, &file);
        assert_eq!(kind, ErrorKind::STORAGE);
    }
    still_works(&library).await;
}

#[tokio::test]
async fn a_directory_as_the_path_is_refused() {
    let library = library();
    let dir = tempfile::tempdir().expect("temp dir");
    let (kind, text) = refused(&library, dir.path());
    assert_eq!(kind, ErrorKind::STORAGE, "{text}");
    assert!(text.contains("directory"), "says why: {text}");
    still_works(&library).await;
}

/// A tmpfs mounted read-only; unmounted when dropped.
struct ReadOnlyMount(PathBuf);

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

fn mount(args: &[&str], dir: &Path) -> Result<(), String> {
    let out = Command::new("mount")
        .args(args)
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[tokio::test]
async fn a_read_only_file_system_is_refused() {
    let library = library();
    let dir = tempfile::tempdir().expect("temp dir");
    if let Err(why) = mount(&["-t", "tmpfs", "-o", "size=4M", "tmpfs"], dir.path()) {
        println!(
            "SKIPPED a_read_only_file_system_is_refused: cannot mount a tmpfs (needs root): {why}"
        );
        return;
    }
    let guard = ReadOnlyMount(dir.path().to_path_buf());
    let existing = dir.path().join("state.redb");
    valid_database(&library, &existing).await;
    mount(&["-o", "remount,ro"], dir.path()).expect("remount read-only");

    let (kind, text) = refused(&library, &existing);
    assert_eq!(kind, ErrorKind::STORAGE, "{text}");
    assert!(text.contains("Read-only file system"), "says why: {text}");
    let (kind, text) = refused(&library, &dir.path().join("new.redb"));
    assert_eq!(kind, ErrorKind::STORAGE, "{text}");
    assert!(text.contains("Read-only file system"), "says why: {text}");
    still_works(&library).await;
    drop(guard);
}
