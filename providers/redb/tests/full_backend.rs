//! A full disk without mounting anything: the provider on an in-memory
//! storage backend with a fixed capacity, whose writes past it fail with
//! ENOSPC as a file system's would. Runs everywhere (`tests/tests/disk_full.rs`
//! does the same on a real tmpfs where mounting is permitted).

use std::{
    io,
    sync::{Arc, Mutex, MutexGuard},
};

use redb::StorageBackend;
use stateplug_provider_api::{ErrorKind, Provider};
use stateplug_provider_redb::{open_with_backend, RedbConfig};

/// Linux's "no space left on device".
const ENOSPC: i32 = 28;

#[derive(Debug, Default)]
struct Space {
    bytes: Vec<u8>,
    capacity: usize,
}

/// An in-memory disk of `capacity` bytes.
#[derive(Debug, Clone, Default)]
struct SmallDisk {
    space: Arc<Mutex<Space>>,
}

impl SmallDisk {
    fn lock(&self) -> MutexGuard<'_, Space> {
        self.space.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fits(space: &Space, len: usize) -> io::Result<()> {
        if len > space.capacity {
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
        Ok(())
    }
}

impl StorageBackend for SmallDisk {
    fn len(&self) -> io::Result<u64> {
        Ok(self.lock().bytes.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let space = self.lock();
        let (start, end) = (offset as usize, offset as usize + out.len());
        let data = space
            .bytes
            .get(start..end)
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(data);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut space = self.lock();
        Self::fits(&space, len as usize)?;
        space.bytes.resize(len as usize, 0);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut space = self.lock();
        let end = offset as usize + data.len();
        Self::fits(&space, end)?;
        if space.bytes.len() < end {
            space.bytes.resize(end, 0);
        }
        space.bytes[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
}

#[test]
fn a_full_backend_fails_writes_as_storage_and_keeps_acknowledged_ones() {
    let config = RedbConfig::parse(r#"{"path": "/data/small.redb"}"#).unwrap();
    let disk = SmallDisk::default();
    disk.lock().capacity = 4 << 20;
    let p = open_with_backend(&config, disk.clone()).expect("open");

    let mut acknowledged = Vec::new();
    let err = loop {
        let i = acknowledged.len();
        assert!(i < 10_000, "the 4 MiB disk never filled");
        let value = vec![i as u8; 40 * 1024];
        match p.set("s", &format!("k{i:05}"), &value) {
            Ok(_) => acknowledged.push(value),
            Err(e) => break e,
        }
    };
    println!("full after {} writes: {err}", acknowledged.len());
    assert!(!acknowledged.is_empty());
    assert_eq!(err.kind(), ErrorKind::STORAGE, "{err}");
    assert!(
        err.message().contains("/data/small.redb")
            && err.message().contains("no space left on device")
            && err.message().contains("free disk space"),
        "{err}"
    );
    drop(p);

    // Space freed: the same bytes, a bigger disk.
    disk.lock().capacity = 64 << 20;
    let p = open_with_backend(&config, disk.clone()).expect("reopens once space is free");
    for (i, value) in acknowledged.iter().enumerate() {
        assert_eq!(
            p.get("s", &format!("k{i:05}")).unwrap().as_ref(),
            Some(value),
            "acknowledged write k{i:05}"
        );
    }
    assert_eq!(p.key_count("s").unwrap(), acknowledged.len() as u64);
    p.set("s", "after", b"space again")
        .expect("writes work again");
}
