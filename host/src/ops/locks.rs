//! Named locks with owner, operation, reason and expiry, on compare-and-set.
//!
//! A lock is a JSON record under its id in the reserved store
//! [`LOCKS_STORE`]. It is taken with a create-if-absent write; an expired
//! lock is taken over with a compare-and-set on the version read, so two
//! operators racing for it cannot both win; it is released with a
//! compare-and-delete on the version written, so releasing never removes a
//! lock someone else took meanwhile. A long operation renews its locks
//! ([`LockSet::keep_alive`]) so they do not expire while it runs.
//!
//! Locks are advisory: they keep operators' commands (`migrate`, `restore`,
//! `clear`) apart. Pipelines do not check them. A lock left behind by a
//! process that died stays until it expires or is removed with
//! `stateplug state force-unlock <id>`; the same operation run again on the
//! same host takes over its own dead predecessor's lock (a rerun of an
//! interrupted `migrate` resumes), any other operation is refused.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::store::{CapabilityFlags, Expected, StateStore};

use super::{
    time::{format_unix_ms, now_unix_ms},
    OpsError, StoreWalk,
};

/// The reserved store_id that holds the locks.
pub const LOCKS_STORE: &str = "$locks";

/// How long a lock lasts unless renewed, by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// One lock, as stored (JSON) under its id in [`LOCKS_STORE`]. Times are
/// milliseconds since the Unix epoch, so a lock is never taken over before
/// its whole lifetime has passed (a record written by stateplug 0.1.0, in
/// whole seconds, is read as the milliseconds it stands for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, from = "StoredLock")]
pub struct LockInfo {
    /// What is locked: a store_id.
    pub id: String,
    /// Who holds it: `user@host`.
    pub owner: String,
    /// The operation holding it (`migrate`, `restore`, `clear`, ...).
    pub operation: String,
    /// Why, as the operator said (may be empty).
    #[serde(default)]
    pub reason: String,
    /// When it was taken, milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// When it expires unless renewed, milliseconds since the Unix epoch.
    pub expires_unix_ms: u64,
    /// The host of the holding process.
    pub host: String,
    /// The holding process.
    pub pid: u32,
    /// The holding process's start time (Linux clock ticks since boot), to
    /// tell it from a later process with the same pid.
    #[serde(default)]
    pub pid_start: Option<u64>,
}

/// A lock record as stored: this version's, or one of stateplug 0.1.0
/// (times in whole seconds, under other names).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredLock {
    id: String,
    owner: String,
    operation: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    created_unix_ms: Option<u64>,
    #[serde(default)]
    expires_unix_ms: Option<u64>,
    #[serde(default)]
    created_unix: Option<u64>,
    #[serde(default)]
    expires_unix: Option<u64>,
    host: String,
    pid: u32,
    #[serde(default)]
    pid_start: Option<u64>,
}

impl From<StoredLock> for LockInfo {
    fn from(s: StoredLock) -> Self {
        let ms = |ms: Option<u64>, secs: Option<u64>| {
            ms.or_else(|| secs.map(|s| s.saturating_mul(1000)))
                .unwrap_or(0)
        };
        LockInfo {
            id: s.id,
            owner: s.owner,
            operation: s.operation,
            reason: s.reason,
            created_unix_ms: ms(s.created_unix_ms, s.created_unix),
            expires_unix_ms: ms(s.expires_unix_ms, s.expires_unix),
            host: s.host,
            pid: s.pid,
            pid_start: s.pid_start,
        }
    }
}

impl LockInfo {
    /// When it was taken, RFC 3339.
    pub fn created(&self) -> String {
        format_unix_ms(self.created_unix_ms)
    }

    /// When it expires, RFC 3339.
    pub fn expires(&self) -> String {
        format_unix_ms(self.expires_unix_ms)
    }

    /// Whether it has expired at `now_ms` (milliseconds since the epoch).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_unix_ms
    }

    /// Whether it has expired by now.
    pub fn is_expired_now(&self) -> bool {
        self.is_expired(now_unix_ms())
    }

    /// Whether the holding process is known to have ended: it ran on this
    /// host and no process with its pid and start time exists. `false` when
    /// that cannot be known (another host, no `/proc`).
    pub fn holder_has_ended(&self) -> bool {
        if self.host != hostname() || !std::path::Path::new("/proc/self/stat").exists() {
            return false;
        }
        match process_start(self.pid) {
            None => true,
            Some(start) => self.pid_start.is_some_and(|s| s != start),
        }
    }
}

/// What a lock is taken for.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// The operation (`migrate`, `restore`, `clear`, ...).
    pub operation: String,
    /// Why (shown to whoever finds the lock).
    pub reason: String,
    /// How long the lock lasts unless renewed.
    pub ttl: Duration,
    /// Who holds it; default `$USER@host`.
    pub owner: Option<String>,
}

impl LockRequest {
    /// A request for `operation` with no reason and the default expiry.
    pub fn new(operation: impl Into<String>) -> Self {
        LockRequest {
            operation: operation.into(),
            reason: String::new(),
            ttl: DEFAULT_TTL,
            owner: None,
        }
    }

    /// The same request with a reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// The same request with another expiry (at least a millisecond).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The same request on behalf of `owner`.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    fn record(&self, id: &str) -> LockInfo {
        let now = now_unix_ms();
        let host = hostname();
        LockInfo {
            id: id.to_string(),
            owner: self.owner.clone().unwrap_or_else(|| {
                let user = std::env::var("USER")
                    .or_else(|_| std::env::var("LOGNAME"))
                    .unwrap_or_else(|_| "unknown".to_string());
                format!("{user}@{host}")
            }),
            operation: self.operation.clone(),
            reason: self.reason.clone(),
            created_unix_ms: now,
            expires_unix_ms: now.saturating_add(ttl_ms(self.ttl)),
            host,
            pid: std::process::id(),
            pid_start: process_start(std::process::id()),
        }
    }
}

/// Locks held together by one operation; release them with
/// [`LockSet::release`] (dropping the set leaves them until they expire).
pub struct LockSet {
    store: Arc<dyn StateStore>,
    request: LockRequest,
    held: Vec<(LockInfo, u64)>,
    renewed: Instant,
}

impl std::fmt::Debug for LockSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockSet")
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

/// Refuses a provider that cannot hold locks.
/// A lock's lifetime in whole milliseconds, rounded up so it never
/// expires early.
fn ttl_ms(ttl: Duration) -> u64 {
    let ms = ttl.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).max(1)
}

fn require_cas(store: &Arc<dyn StateStore>, operation: &str) -> Result<(), OpsError> {
    if store.capabilities().has(CapabilityFlags::COMPARE_AND_SET) {
        return Ok(());
    }
    Err(OpsError::LocksUnsupported {
        provider: store.info().name.clone(),
        operation: operation.to_string(),
    })
}

fn parse(id: &str, bytes: &[u8]) -> Result<LockInfo, OpsError> {
    serde_json::from_slice(bytes).map_err(|e| OpsError::BadLock {
        id: id.to_string(),
        problem: e.to_string(),
    })
}

fn encode(info: &LockInfo) -> Vec<u8> {
    // A struct of strings and integers always serialises.
    serde_json::to_vec(info).unwrap_or_default()
}

impl LockSet {
    /// Takes the locks `ids` (in sorted order, so two operations wanting
    /// overlapping sets cannot deadlock) or none of them.
    ///
    /// - A free id is taken (create-if-absent).
    /// - An expired lock, or one whose holder ran the same operation on
    ///   this host and has ended, is taken over (compare-and-set on the
    ///   version read).
    /// - Otherwise [`OpsError::Locked`] names the holder, and the locks
    ///   already taken are released.
    /// - A provider without `COMPARE_AND_SET` is refused.
    pub async fn acquire(
        store: &Arc<dyn StateStore>,
        ids: &[String],
        request: &LockRequest,
    ) -> Result<LockSet, OpsError> {
        require_cas(store, &request.operation)?;
        let mut sorted: Vec<&String> = ids.iter().collect();
        sorted.sort();
        sorted.dedup();
        let mut set = LockSet {
            store: Arc::clone(store),
            request: request.clone(),
            held: Vec::new(),
            renewed: Instant::now(),
        };
        for id in sorted {
            match set.take(id).await {
                Ok(held) => set.held.push(held),
                Err(e) => {
                    if let Err(release) = set.release_all().await {
                        tracing::warn!(error = %release, "could not release locks after a refusal");
                    }
                    return Err(e);
                }
            }
        }
        Ok(set)
    }

    async fn take(&self, id: &str) -> Result<(LockInfo, u64), OpsError> {
        // A lost race re-reads and decides again; a few rounds settle it.
        for _ in 0..5 {
            let mine = self.request.record(id);
            let expected = match self.store.get_entry(LOCKS_STORE, id).await? {
                None => Expected::Absent,
                Some(entry) => {
                    let theirs = parse(id, &entry.value)?;
                    let taken_over = theirs.is_expired_now()
                        || (theirs.operation == self.request.operation
                            && theirs.holder_has_ended());
                    if !taken_over {
                        return Err(OpsError::Locked {
                            info: Box::new(theirs),
                        });
                    }
                    tracing::warn!(lock = %id, owner = %theirs.owner, operation = %theirs.operation,
                        since = %theirs.created(), "taking over a lock whose holder expired or ended");
                    Expected::Version(entry.version)
                }
            };
            match self
                .store
                .compare_and_set(LOCKS_STORE, id, expected, encode(&mine))
                .await
            {
                Ok(version) => return Ok((mine, version)),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        match self.store.get_entry(LOCKS_STORE, id).await? {
            Some(entry) => Err(OpsError::Locked {
                info: Box::new(parse(id, &entry.value)?),
            }),
            None => Err(OpsError::Invalid(format!(
                "lock {id:?} is contended; try again"
            ))),
        }
    }

    /// The locks held.
    pub fn held(&self) -> impl Iterator<Item = &LockInfo> {
        self.held.iter().map(|(info, _)| info)
    }

    /// Whether `other` holds the very records this set wrote: then `other`
    /// and the store this set locked are the same storage (one file, one
    /// table), however differently they were configured.
    pub async fn is_held_in(&self, other: &Arc<dyn StateStore>) -> Result<bool, OpsError> {
        let Some((mine, _)) = self.held.first() else {
            return Ok(false);
        };
        Ok(match other.get_entry(LOCKS_STORE, &mine.id).await? {
            Some(entry) => parse(&mine.id, &entry.value).is_ok_and(|theirs| theirs == *mine),
            None => false,
        })
    }

    /// Renews every lock if a third of its lifetime has passed since the
    /// last renewal; call it often during a long operation. A lock taken
    /// away meanwhile is [`OpsError::LockLost`]: stop the operation.
    pub async fn keep_alive(&mut self) -> Result<(), OpsError> {
        if self.renewed.elapsed() < self.request.ttl / 3 {
            return Ok(());
        }
        let expires = now_unix_ms().saturating_add(ttl_ms(self.request.ttl));
        for (info, version) in &mut self.held {
            let mut renewed = info.clone();
            renewed.expires_unix_ms = expires;
            match self
                .store
                .compare_and_set(
                    LOCKS_STORE,
                    &info.id,
                    Expected::Version(*version),
                    encode(&renewed),
                )
                .await
            {
                Ok(v) => {
                    *info = renewed;
                    *version = v;
                }
                Err(e) if e.is_conflict() => {
                    return Err(OpsError::LockLost {
                        id: info.id.clone(),
                        operation: info.operation.clone(),
                    })
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.renewed = Instant::now();
        Ok(())
    }

    /// Releases every lock (compare-and-delete on the version this set
    /// wrote; a lock someone else holds by now is left alone).
    pub async fn release(mut self) -> Result<(), OpsError> {
        self.release_all().await
    }

    async fn release_all(&mut self) -> Result<(), OpsError> {
        let mut first_error = None;
        for (info, version) in self.held.drain(..) {
            match self
                .store
                .compare_and_delete(LOCKS_STORE, &info.id, version)
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_conflict() => {
                    tracing::warn!(lock = %info.id, "lock was taken away before release; left as is");
                }
                Err(e) => {
                    first_error.get_or_insert(OpsError::from(e));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The answer of an operation that held locks, given the outcome of
/// releasing them: the operation's own error wins (a failed release is then
/// logged), except a stop, which promises released locks, so a failed
/// release is answered instead.
pub(crate) fn after_release<T>(
    outcome: Result<T, OpsError>,
    released: Result<(), OpsError>,
) -> Result<T, OpsError> {
    match (outcome, released) {
        (outcome, Ok(())) => outcome,
        (Err(e), Err(release)) if !e.is_stopped() => {
            tracing::warn!(error = %release, "could not release the locks after a failure");
            Err(e)
        }
        (_, Err(release)) => Err(release),
    }
}

/// Every lock in `store`, by id.
pub async fn list_locks(store: &Arc<dyn StateStore>) -> Result<Vec<LockInfo>, OpsError> {
    let mut out = Vec::new();
    let mut walk = StoreWalk::new(store, LOCKS_STORE, "");
    while let Some(page) = walk.next_page().await? {
        for entry in page {
            out.push(parse(&entry.key, &entry.value)?);
        }
    }
    Ok(out)
}

/// Removes lock `id` whoever holds it; returns what it was (`None` if
/// there was no such lock). Also removes a record that is not a readable lock.
pub async fn force_unlock(
    store: &Arc<dyn StateStore>,
    id: &str,
) -> Result<Option<LockInfo>, OpsError> {
    let Some(entry) = store.get_entry(LOCKS_STORE, id).await? else {
        return Ok(None);
    };
    let info = parse(id, &entry.value).ok();
    if store.capabilities().has(CapabilityFlags::COMPARE_AND_SET) {
        match store
            .compare_and_delete(LOCKS_STORE, id, entry.version)
            .await
        {
            Ok(()) => {}
            // Changed meanwhile (renewed or retaken): remove what is there now.
            Err(e) if e.is_conflict() => {
                store.delete(LOCKS_STORE, id).await?;
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        store.delete(LOCKS_STORE, id).await?;
    }
    Ok(Some(info.unwrap_or(LockInfo {
        id: id.to_string(),
        owner: "unknown".to_string(),
        operation: "unknown".to_string(),
        reason: "the record was not a readable lock".to_string(),
        created_unix_ms: 0,
        expires_unix_ms: 0,
        host: String::new(),
        pid: 0,
        pid_start: None,
    })))
}

/// This host's name.
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The start time of process `pid` (field 22 of `/proc/<pid>/stat`), or
/// `None` if no such process exists or `/proc` is not there.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces;
    // fields after the last ')' start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_missing_one_has_ended() {
        let mine = LockRequest::new("test").record("s");
        assert!(!mine.holder_has_ended(), "{mine:?}");
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(mine.pid_start.is_some());
            let ghost = LockInfo {
                pid: u32::MAX - 7,
                ..mine.clone()
            };
            assert!(ghost.holder_has_ended());
            let reused = LockInfo {
                pid_start: mine.pid_start.map(|s| s + 1),
                ..mine.clone()
            };
            assert!(reused.holder_has_ended(), "same pid, another start time");
            let elsewhere = LockInfo {
                host: "another-host".into(),
                pid: u32::MAX - 7,
                ..mine
            };
            assert!(
                !elsewhere.holder_has_ended(),
                "cannot know for another host"
            );
        }
    }

    #[test]
    fn a_lock_lasts_its_whole_lifetime_to_the_millisecond() {
        for ttl in [
            Duration::from_millis(1300),
            Duration::from_secs(1),
            Duration::from_micros(1500),
        ] {
            let info = LockRequest::new("clear").ttl(ttl).record("s");
            let lifetime = info.expires_unix_ms - info.created_unix_ms;
            assert!(
                Duration::from_millis(lifetime) >= ttl,
                "{ttl:?}: {lifetime} ms"
            );
            assert!(
                !info.is_expired(info.created_unix_ms + lifetime - 1),
                "{ttl:?}"
            );
            assert!(info.is_expired(info.created_unix_ms + lifetime), "{ttl:?}");
        }
    }

    #[test]
    fn a_record_of_stateplug_0_1_is_read_in_milliseconds() {
        let old = br#"{"id":"s","owner":"a@b","operation":"clear","reason":"","created_unix":10,"expires_unix":12,"host":"b","pid":1,"pid_start":null}"#;
        let info = parse("s", old).unwrap();
        assert_eq!(
            (info.created_unix_ms, info.expires_unix_ms),
            (10_000, 12_000)
        );
        assert!(!info.is_expired(11_999) && info.is_expired(12_000));
    }

    #[test]
    fn a_lock_record_round_trips_and_shows_its_times() {
        let info = LockRequest::new("migrate")
            .reason("moving to redb")
            .owner("alice@box")
            .ttl(Duration::from_secs(60))
            .record("orders");
        assert_eq!(info.expires_unix_ms - info.created_unix_ms, 60_000);
        assert_eq!(parse("orders", &encode(&info)).unwrap(), info);
        assert!(info.created().ends_with('Z'));
        let err = parse("orders", b"{}").unwrap_err().to_string();
        assert!(err.contains("force-unlock orders"), "{err}");
    }
}
