//! A full disk: the redb provider, loaded from its `.so`, on a small tmpfs
//! mounted by the test. Writes fail with a STORAGE error that names the
//! file and says the disk is full; once space is freed, the file reopens
//! with every acknowledged write.
//!
//! Mounting needs root (or CAP_SYS_ADMIN); without it the test prints one
//! line saying it is skipped and why.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use stateplug::ErrorKind;
use stateplug_tests::load;

/// A tmpfs mounted on a folder; unmounted when dropped, also when the test
/// fails.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount` reads it: `2M`) on `dir`, or
    /// says why it cannot.
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.dir)
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df's figure")
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds a file open (a failing test's store):
            // detach now, the kernel frees it when the last file closes.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_clearly_and_keeps_acknowledged_ones() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mount = match Tmpfs::mount(tmp.path(), "4M") {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED a_full_disk_...: cannot mount a tmpfs (needs root): {why}");
            return;
        }
    };
    // Space set aside now, freed after the disk fills.
    let filler = mount.dir.join("filler");
    std::fs::write(&filler, vec![7u8; 1 << 20]).expect("write the filler file");
    let file = mount.dir.join("state.redb");
    let library = load("stateplug-provider-redb");
    // The journal takes disk space of its own, up to `journal_bytes`: on a
    // 4 MiB disk it gets 256 KiB, so that the 1 MiB freed below is enough
    // for the reopen to replay what the journal holds.
    let config = serde_json::json!({
        "path": file,
        "journal_bytes": 256 * 1024,
        "checkpoint_bytes": 128 * 1024,
    });

    let store = library.open(&config).expect("open redb on the tmpfs");
    let mut acknowledged = Vec::new();
    let error = loop {
        let i = acknowledged.len();
        assert!(i < 10_000, "the 4 MiB disk never filled");
        let value: Vec<u8> = (0..48 * 1024).map(|b| (b + i) as u8).collect();
        match store
            .set("filling", &format!("k{i:05}"), value.clone())
            .await
        {
            Ok(_) => acknowledged.push(value),
            Err(e) => break e,
        }
    };
    println!(
        "disk full after {} acknowledged writes of 48 KiB; {} bytes free; error: {error}",
        acknowledged.len(),
        mount.free_bytes()
    );
    assert!(!acknowledged.is_empty(), "some writes fit");
    assert_eq!(error.kind(), ErrorKind::STORAGE, "{error}");
    assert!(
        error.message.contains(&file.display().to_string()),
        "names the file: {error}"
    );
    assert!(
        error.message.contains("no space left on device"),
        "says the disk is full: {error}"
    );
    assert!(
        error.message.contains("free disk space"),
        "says what to do: {error}"
    );
    // Reads still answer; no later write can succeed on a full disk.
    assert_eq!(
        store
            .get("filling", "k00000")
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some(acknowledged[0].as_slice())
    );
    drop(store);

    std::fs::remove_file(&filler).expect("free space");
    let store = library
        .open(&config)
        .expect("the file reopens once space is free");
    for (i, value) in acknowledged.iter().enumerate() {
        let got = store
            .get("filling", &format!("k{i:05}"))
            .await
            .expect("read after reopening");
        assert_eq!(
            got.as_deref(),
            Some(value.as_slice()),
            "acknowledged write k{i:05} survives the full disk"
        );
    }
    assert_eq!(
        store.key_count("filling").await.expect("key_count"),
        acknowledged.len() as u64,
        "nothing of the failed write is visible"
    );
    store
        .set("filling", "after", b"space again".to_vec())
        .await
        .expect("writes succeed once space is free");
    drop(store);
    drop(mount);
}
