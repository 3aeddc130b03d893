//! Simulated power loss below the process: the provider runs on an
//! in-memory redb storage backend that records every write and sync and
//! can lose power at any backend call. Then every call fails, and the
//! surviving image holds only what a sync made durable (as in redb's own
//! `crash_consistency` test) — or, in the harsher mode, also an arbitrary
//! subset of the writes issued since the last sync, as a disk cache may
//! persist them in any order.
//!
//! Each cycle opens the provider on the image the previous cycle left,
//! runs random writes (single keys, batches, transactions, clears, large
//! values that grow the file) until power fails at a random backend call,
//! then reopens the surviving image and checks that
//! - the file opens, and redb's integrity check passes;
//! - every write acknowledged before the cut is there, with its version;
//! - the call cut short is either wholly applied or not at all;
//! - key counts and the list of stores agree with the keys;
//! - versions given after the restart exceed every version seen before.
//!
//! `STATEPLUG_POWER_CUTS` sets the cycles per mode (default 100) and
//! `STATEPLUG_POWER_SEED` replays a run (its seed is printed).

use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    sync::{Arc, Mutex, MutexGuard},
};

use redb::StorageBackend;
use stateplug_provider_api::{ErrorKind, Expected, Provider, TxnOpRef};
use stateplug_provider_redb::{open_with_backend, open_with_backends, RedbConfig, RedbProvider};

// ---------------------------------------------------------------- randomness

/// splitmix64: small, seedable, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

// ----------------------------------------------------------- the backend

/// What happens to the writes issued since the last sync when power fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// Every unsynced write is lost.
    AllUnsynced,
    /// Each unsynced write (and length change) survives or not, at random:
    /// per cut, each survives with probability 0, 1/2, 7/8 or 1 (the disk
    /// wrote everything, only the sync did not return).
    RandomSubset,
}

#[derive(Debug, Clone)]
enum Change {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

impl Change {
    fn apply(&self, image: &mut Vec<u8>) {
        match self {
            Change::Write(offset, data) => {
                let offset = *offset as usize;
                if image.len() < offset + data.len() {
                    image.resize(offset + data.len(), 0);
                }
                image[offset..offset + data.len()].copy_from_slice(data);
            }
            Change::SetLen(len) => image.resize(*len as usize, 0),
        }
    }
}

#[derive(Debug, Default)]
struct Disk {
    /// What reads see: every write applied at once.
    live: Vec<u8>,
    /// What a sync made durable.
    durable: Vec<u8>,
    /// Changes since the last sync, in order.
    unsynced: Vec<Change>,
    syncs: u64,
    /// A surviving unsynced write may survive only in part (a torn write).
    torn_writes: bool,
}

/// The power supply of one machine: every disk on it fails at once.
#[derive(Debug, Default)]
struct Power {
    /// Writes, length changes and syncs so far, on every disk.
    calls: u64,
    /// Power fails at this call (counted from 1).
    cut_at: Option<u64>,
    /// Power has failed: every call errs.
    off: bool,
}

/// An in-memory storage backend that can lose power.
#[derive(Debug, Clone, Default)]
struct PowerBackend {
    disk: Arc<Mutex<Disk>>,
    power: Arc<Mutex<Power>>,
}

fn power_off() -> io::Error {
    io::Error::other("simulated power loss")
}

impl PowerBackend {
    /// A disk holding `image`, all of it durable.
    fn with_image(image: Vec<u8>) -> Self {
        let backend = PowerBackend::default();
        {
            let mut disk = backend.lock();
            disk.live = image.clone();
            disk.durable = image;
        }
        backend
    }

    /// A second disk holding `image`, on the same power supply as `self`;
    /// writes to it that survive a cut may be torn.
    fn sibling(&self, image: Vec<u8>) -> Self {
        let backend = PowerBackend::with_image(image);
        backend.lock().torn_writes = true;
        PowerBackend {
            disk: backend.disk,
            power: Arc::clone(&self.power),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        self.disk.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn power(&self) -> MutexGuard<'_, Power> {
        self.power.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Power fails at the `n`th write, length change or sync from now.
    fn cut_after(&self, n: u64) {
        let mut power = self.power();
        power.cut_at = Some(power.calls + n);
    }

    /// Power fails now.
    fn cut_now(&self) {
        self.power().off = true;
    }

    fn is_off(&self) -> bool {
        self.power().off
    }

    fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// Counts a mutating call; errs if power is (or just went) off.
    fn call(&self) -> io::Result<()> {
        let mut power = self.power();
        if power.off {
            return Err(power_off());
        }
        power.calls += 1;
        if power.cut_at.is_some_and(|at| power.calls >= at) {
            power.off = true;
            return Err(power_off());
        }
        Ok(())
    }

    /// The image that survives the power loss.
    fn surviving_image(&self, loss: Loss, rng: &mut Rng) -> Vec<u8> {
        let disk = self.lock();
        let mut image = disk.durable.clone();
        if loss == Loss::RandomSubset {
            let survive_in_8 = [0, 4, 7, 8][rng.below(4) as usize];
            for change in &disk.unsynced {
                if rng.below(8) >= survive_in_8 {
                    continue;
                }
                match change {
                    // A torn write: only a prefix reached the platter, and
                    // sometimes a bit of it is flipped.
                    Change::Write(offset, data) if disk.torn_writes && rng.chance(3) => {
                        let mut part = data[..rng.below(data.len() as u64 + 1) as usize].to_vec();
                        if !part.is_empty() && rng.chance(2) {
                            let at = rng.below(part.len() as u64) as usize;
                            part[at] ^= 1 << rng.below(8);
                        }
                        Change::Write(*offset, part).apply(&mut image);
                    }
                    _ => change.apply(&mut image),
                }
            }
        }
        image
    }

    /// The durable image after a clean close.
    fn durable_image(&self) -> Vec<u8> {
        let disk = self.lock();
        assert!(
            disk.unsynced.is_empty(),
            "a clean close leaves nothing unsynced"
        );
        disk.durable.clone()
    }
}

impl StorageBackend for PowerBackend {
    fn len(&self) -> io::Result<u64> {
        if self.is_off() {
            return Err(power_off());
        }
        let disk = self.lock();
        Ok(disk.live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        if self.is_off() {
            return Err(power_off());
        }
        let disk = self.lock();
        let offset = offset as usize;
        let end = offset + out.len();
        if end > disk.live.len() {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        out.copy_from_slice(&disk.live[offset..end]);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.call()?;
        let mut disk = self.lock();
        let change = Change::SetLen(len);
        change.apply(&mut disk.live);
        disk.unsynced.push(change);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.call()?;
        let mut disk = self.lock();
        let Disk {
            durable, unsynced, ..
        } = &mut *disk;
        for change in unsynced.drain(..) {
            change.apply(durable);
        }
        disk.syncs += 1;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.call()?;
        let mut disk = self.lock();
        let change = Change::Write(offset, data.to_vec());
        change.apply(&mut disk.live);
        disk.unsynced.push(change);
        Ok(())
    }
}

// ------------------------------------------------------------ the workload

const STORES: [&str; 3] = ["s0", "s1", "s2"];

/// `(store_id, key) -> (value, version)`.
type State = BTreeMap<(String, String), (Vec<u8>, u64)>;

/// One write call.
#[derive(Debug, Clone)]
enum Op {
    Set(usize, String, Vec<u8>),
    SetMany(usize, Vec<(String, Vec<u8>)>),
    Delete(usize, String),
    DeleteMany(usize, Vec<String>),
    Clear(usize),
    /// Compare-and-set against the version the model holds (so it applies).
    Cas(usize, String, Vec<u8>),
    /// Puts (`Some`) and deletes, guarded by a check of the first key's
    /// current state (so it applies).
    Txn(usize, Vec<(String, Option<Vec<u8>>)>),
}

fn value(rng: &mut Rng) -> Vec<u8> {
    // Mostly small; sometimes several pages, so commits allocate and the
    // file grows.
    let len = if rng.chance(10) {
        2_000 + rng.below(20_000) as usize
    } else {
        rng.below(64) as usize
    };
    rng.bytes(len)
}

fn key(rng: &mut Rng) -> String {
    format!("k{}", rng.below(16))
}

fn random_op(rng: &mut Rng) -> Op {
    let s = rng.below(STORES.len() as u64) as usize;
    match rng.below(20) {
        0..=5 => Op::Set(s, key(rng), value(rng)),
        6..=8 => {
            let n = if rng.chance(8) {
                // A big batch: hundreds of keys in one commit.
                100 + rng.below(300)
            } else {
                1 + rng.below(6)
            };
            let pairs = (0..n)
                .map(|i| {
                    let k = if n > 50 { format!("b{i}") } else { key(rng) };
                    let len = rng.below(200) as usize;
                    (k, rng.bytes(len))
                })
                .collect();
            Op::SetMany(s, pairs)
        }
        9..=10 => Op::Delete(s, key(rng)),
        11..=12 => Op::DeleteMany(s, (0..1 + rng.below(5)).map(|_| key(rng)).collect()),
        13 => Op::Clear(s),
        14..=16 => Op::Cas(s, key(rng), value(rng)),
        _ => {
            let writes = (0..1 + rng.below(6))
                .map(|_| (key(rng), (!rng.chance(4)).then(|| value(rng))))
                .collect();
            Op::Txn(s, writes)
        }
    }
}

/// Runs `op` on the provider; returns the version its puts got (0 if none).
fn run(p: &RedbProvider, state: &State, op: &Op) -> Result<u64, String> {
    let current = |s: usize, k: &str| {
        state
            .get(&(STORES[s].to_string(), k.to_string()))
            .map(|(_, v)| *v)
    };
    let result = match op {
        Op::Set(s, k, v) => p.set(STORES[*s], k, v),
        Op::SetMany(s, pairs) => {
            let refs: Vec<(&str, &[u8])> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_slice()))
                .collect();
            p.set_many(STORES[*s], &refs)
        }
        Op::Delete(s, k) => p.delete(STORES[*s], k).map(|_| 0),
        Op::DeleteMany(s, keys) => {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            p.delete_many(STORES[*s], &refs).map(|_| 0)
        }
        Op::Clear(s) => p.clear_store(STORES[*s]).map(|_| 0),
        Op::Cas(s, k, v) => {
            let expected = current(*s, k).map_or(Expected::Absent, Expected::Version);
            p.compare_and_set(STORES[*s], k, expected, v)
        }
        Op::Txn(s, writes) => {
            let guard = &writes[0].0;
            let mut ops = vec![TxnOpRef::Check {
                key: guard,
                expected: current(*s, guard).map_or(Expected::Absent, Expected::Version),
            }];
            for (k, w) in writes {
                ops.push(match w {
                    Some(v) => TxnOpRef::Put { key: k, value: v },
                    None => TxnOpRef::Delete { key: k },
                });
            }
            p.transaction(STORES[*s], &ops)
        }
    };
    result.map_err(|e| {
        assert_ne!(e.kind(), ErrorKind::PANIC, "{op:?} panicked: {e}");
        e.to_string()
    })
}

/// The state after `op`, its puts versioned `version`; and the keys it put.
fn applied(state: &State, op: &Op, version: u64) -> (State, BTreeSet<(String, String)>) {
    let mut next = state.clone();
    let mut put = BTreeSet::new();
    let id = |s: &usize, k: &str| (STORES[*s].to_string(), k.to_string());
    let mut write = |key: (String, String), v: Option<&Vec<u8>>| match v {
        Some(v) => {
            put.insert(key.clone());
            next.insert(key, (v.clone(), version));
        }
        None => {
            put.remove(&key);
            next.remove(&key);
        }
    };
    match op {
        Op::Set(s, k, v) | Op::Cas(s, k, v) => write(id(s, k), Some(v)),
        Op::SetMany(s, pairs) => {
            for (k, v) in pairs {
                write(id(s, k), Some(v));
            }
        }
        Op::Delete(s, k) => write(id(s, k), None),
        Op::DeleteMany(s, keys) => {
            for k in keys {
                write(id(s, k), None);
            }
        }
        Op::Clear(s) => {
            let keys: Vec<_> = state
                .keys()
                .filter(|(store, _)| store == STORES[*s])
                .cloned()
                .collect();
            for key in keys {
                write(key, None);
            }
        }
        Op::Txn(s, writes) => {
            for (k, w) in writes {
                write(id(s, k), w.as_ref());
            }
        }
    }
    (next, put)
}

/// Everything the provider holds, checking that counts and listings agree.
fn read_all(p: &RedbProvider) -> State {
    let mut state = State::new();
    let listed = p.list_stores().expect("list_stores");
    let mut with_keys = Vec::new();
    for s in STORES {
        let keys = p.list_keys(s).expect("list_keys");
        assert_eq!(
            p.key_count(s).expect("key_count"),
            keys.len() as u64,
            "store {s}: key_count agrees with list_keys"
        );
        if !keys.is_empty() {
            with_keys.push(s.to_string());
        }
        for k in keys {
            let entry = p.get_entry(s, &k).expect("get_entry").expect("listed key");
            state.insert((s.to_string(), k), (entry.value, entry.version));
        }
    }
    assert_eq!(listed, with_keys, "list_stores names the stores with keys");
    state
}

fn max_version(state: &State) -> u64 {
    state.values().map(|(_, v)| *v).max().unwrap_or(0)
}

/// Checks the reopened `actual` against the acknowledged `model` and the
/// call cut short (`in_flight`): either nothing of it or all of it, with a
/// version above `highest`, the last version acknowledged.
fn check(actual: &State, model: &State, highest: u64, in_flight: Option<&Op>, what: &str) {
    if actual == model {
        return;
    }
    let Some(op) = in_flight else {
        panic!("{what}: acknowledged state lost\n{}", diff(model, actual));
    };
    // Wholly applied: the values match, unwritten keys keep their
    // versions, and every key it put carries the same new version.
    let (after, put) = applied(model, op, 0);
    let values = |s: &State| -> BTreeMap<(String, String), Vec<u8>> {
        s.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect()
    };
    assert!(
        values(actual) == values(&after),
        "{what}: the call cut short ({op:?}) is half-applied or acknowledged \
         writes are lost\n{}",
        diff(&after, actual)
    );
    let mut new_versions = BTreeSet::new();
    for (key, (_, version)) in actual {
        if put.contains(key) {
            new_versions.insert(*version);
        } else {
            assert_eq!(
                Some(version),
                model.get(key).map(|(_, v)| v),
                "{what}: {key:?} not written by {op:?} changed version"
            );
        }
    }
    assert!(
        new_versions.len() <= 1,
        "{what}: one call's puts share one version: {new_versions:?}"
    );
    if let Some(v) = new_versions.first() {
        assert!(
            *v > highest,
            "{what}: the new version {v} does not exceed every acknowledged one ({highest})"
        );
    }
}

fn diff(expected: &State, actual: &State) -> String {
    let mut out = String::new();
    for (k, v) in expected {
        match actual.get(k) {
            None => out += &format!("  missing {k:?} (version {})\n", v.1),
            Some(a) if a != v => {
                out += &format!(
                    "  {k:?}: expected version {} ({} bytes), found version {} ({} bytes)\n",
                    v.1,
                    v.0.len(),
                    a.1,
                    a.0.len()
                )
            }
            Some(_) => {}
        }
    }
    for (k, a) in actual {
        if !expected.contains_key(k) {
            out += &format!("  unexpected {k:?} (version {})\n", a.1);
        }
    }
    out
}

fn config() -> RedbConfig {
    RedbConfig::parse(r#"{"path": "power-loss.redb", "journal": false}"#).expect("config")
}

/// A journal small enough to checkpoint every few writes and to wrap.
fn journal_config() -> RedbConfig {
    RedbConfig::parse(
        r#"{"path": "power-loss.redb", "journal_bytes": 65536, "checkpoint_bytes": 16384}"#,
    )
    .expect("config")
}

/// Opens redb itself on a copy of `image` and runs its integrity check.
fn assert_integrity(image: &[u8], what: &str) {
    let backend = PowerBackend::with_image(image.to_vec());
    let mut db = redb::Database::builder()
        .create_with_backend(backend)
        .unwrap_or_else(|e| panic!("{what}: redb cannot open the surviving image: {e}"));
    assert!(
        db.check_integrity()
            .unwrap_or_else(|e| panic!("{what}: integrity check failed: {e}")),
        "{what}: the integrity check repaired the file"
    );
}

#[derive(Debug, Default)]
struct Figures {
    cut_while_opening: u32,
    cut_during_a_call: u32,
    cut_after_the_calls: u32,
    acknowledged: u64,
    in_flight_applied: u32,
    in_flight_lost: u32,
    cut_during_replay: u32,
    /// Group commits that went to the journal.
    journal_appends: u64,
    /// Group commits that were durable redb commits (all of them without
    /// the journal; checkpoints with it).
    checkpoints: u64,
}

/// The disks of one machine: the database file's, and the journal's when
/// the provider runs with one.
#[derive(Clone)]
struct Disks {
    db: PowerBackend,
    journal: Option<PowerBackend>,
}

/// What survives on the disks of one machine.
#[derive(Clone)]
struct Images {
    db: Vec<u8>,
    journal: Option<Vec<u8>>,
}

impl Disks {
    fn with_images(images: &Images) -> Self {
        let db = PowerBackend::with_image(images.db.clone());
        let journal = images.journal.clone().map(|j| db.sibling(j));
        Disks { db, journal }
    }

    fn open(
        &self,
        config: &RedbConfig,
    ) -> Result<RedbProvider, stateplug_provider_api::ProviderError> {
        match &self.journal {
            Some(journal) => open_with_backends(config, self.db.clone(), journal.clone()),
            None => open_with_backend(config, self.db.clone()),
        }
    }

    fn surviving(&self, loss: Loss, rng: &mut Rng) -> Images {
        Images {
            db: self.db.surviving_image(loss, rng),
            journal: self.journal.as_ref().map(|j| j.surviving_image(loss, rng)),
        }
    }

    fn durable(&self) -> Images {
        Images {
            db: self.db.durable_image(),
            journal: self.journal.as_ref().map(PowerBackend::durable_image),
        }
    }

    fn syncs(&self) -> u64 {
        self.db.syncs() + self.journal.as_ref().map_or(0, PowerBackend::syncs)
    }
}

fn power_loss_cycles(loss: Loss, journal: bool) {
    let cuts: u32 = std::env::var("STATEPLUG_POWER_CUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let seed: u64 = std::env::var("STATEPLUG_POWER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("power loss ({loss:?}, journal {journal}): {cuts} cuts, STATEPLUG_POWER_SEED={seed}");
    let mut rng = Rng(seed);
    let config = if journal { journal_config() } else { config() };

    // A new database, closed cleanly: the provider creates files
    // atomically, so a crash never leaves a half-created one.
    let disks = Disks::with_images(&Images {
        db: Vec::new(),
        journal: journal.then(Vec::new),
    });
    drop(disks.open(&config).expect("create"));
    let mut images = disks.durable();

    let mut model = State::new();
    let mut highest = 0u64;
    let mut figures = Figures::default();
    for cycle in 0..cuts {
        let what = format!("cycle {cycle} (seed {seed}, {loss:?}, journal {journal})");
        let disks = Disks::with_images(&images);
        disks.db.cut_after(1 + rng.below(400));
        let mut in_flight = None;
        match disks.open(&config) {
            Err(e) => {
                assert!(disks.db.is_off(), "{what}: open failed with power on: {e}");
                assert_ne!(e.kind(), ErrorKind::PANIC, "{what}: {e}");
                figures.cut_while_opening += 1;
            }
            Ok(p) => {
                for _ in 0..30 {
                    let op = random_op(&mut rng);
                    match run(&p, &model, &op) {
                        Ok(version) => {
                            if version > 0 {
                                assert!(version > highest, "{what}: {op:?} reused a version");
                                highest = version;
                            }
                            model = applied(&model, &op, version).0;
                            figures.acknowledged += 1;
                        }
                        Err(e) => {
                            assert!(
                                disks.db.is_off(),
                                "{what}: {op:?} failed with power on: {e}"
                            );
                            in_flight = Some(op);
                            break;
                        }
                    }
                }
                if disks.db.is_off() {
                    figures.cut_during_a_call += 1;
                } else {
                    disks.db.cut_now();
                    figures.cut_after_the_calls += 1;
                }
                figures.journal_appends += p.journal_appends();
                // An append whose redb commit then failed counts as an append only.
                figures.checkpoints += p.commits().saturating_sub(p.journal_appends());
                // Closing on a dead disk must fail quietly, not panic.
                drop(p);
            }
        }
        images = disks.surviving(loss, &mut rng);
        if journal && rng.chance(2) {
            // Power fails again while the next open replays the journal.
            let replaying = Disks::with_images(&images);
            replaying.db.cut_after(1 + rng.below(6));
            if let Ok(p) = replaying.open(&config) {
                drop(p);
            } else {
                figures.cut_during_replay += 1;
            }
            images = replaying.surviving(loss, &mut rng);
        }
        assert_integrity(&images.db, &what);

        let survivor = Disks::with_images(&images);
        let p = survivor
            .open(&config)
            .unwrap_or_else(|e| panic!("{what}: the surviving image does not open: {e}"));
        let actual = read_all(&p);
        check(&actual, &model, highest, in_flight.as_ref(), &what);
        if in_flight.is_some() {
            if actual == model {
                figures.in_flight_lost += 1;
            } else {
                figures.in_flight_applied += 1;
            }
        }
        model = actual;
        highest = highest.max(max_version(&model));
        // Numbering continues past everything given before the cut.
        let v = p
            .set("s0", "probe", b"after the cut")
            .expect("write after reopen");
        assert!(
            v > highest,
            "{what}: version {v} after the restart is not new"
        );
        highest = v;
        model.insert(
            ("s0".into(), "probe".into()),
            (b"after the cut".to_vec(), v),
        );
        drop(p);
        assert!(survivor.syncs() > 0);
        images = survivor.durable();
    }
    println!(
        "power loss ({loss:?}, journal {journal}): {figures:?}, {} keys at the end",
        model.len()
    );
    assert!(figures.cut_during_a_call > 0, "some cuts land inside calls");
    assert!(figures.acknowledged > 0);
    if journal {
        assert!(figures.journal_appends > 0, "writes went to the journal");
        assert!(figures.checkpoints > 0, "some writes were checkpoints");
    } else {
        assert_eq!(figures.journal_appends, 0, "no journal");
    }
}

#[test]
fn acknowledged_writes_survive_losing_every_unsynced_write() {
    power_loss_cycles(Loss::AllUnsynced, false);
}

#[test]
fn acknowledged_writes_survive_any_subset_of_unsynced_writes() {
    power_loss_cycles(Loss::RandomSubset, false);
}

/// With the journal: cuts between a record's append and its sync, inside
/// checkpoints (a small journal checkpoints every few writes and wraps),
/// and during the replay at the next open.
#[test]
fn journaled_writes_survive_losing_every_unsynced_write() {
    power_loss_cycles(Loss::AllUnsynced, true);
}

/// With the journal, and unsynced journal writes that survive whole, torn
/// (a prefix of a record), or torn with a flipped bit.
#[test]
fn journaled_writes_survive_torn_and_bit_flipped_records() {
    power_loss_cycles(Loss::RandomSubset, true);
}
