//! Keys with a time to live through dumps, restores and migrations, with
//! the loaded `.so` providers on clocks the tests move: a copy keeps every
//! expiry, a target that cannot expire keys is refused, and a dump of the
//! format before expiries still restores.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{future::Future, io::Cursor, path::Path, sync::Arc, time::Duration};

use stateplug::{
    layers::{Call, Layer, Layered},
    ops::{self, migrate, restore_file, verify_dump, MigrateOptions, OpsError, RestoreOptions},
    store::{Operation, StoreResult},
    Clock, OpenOptions, StateStore,
};

const HOUR: Duration = Duration::from_secs(3_600);

/// The provider of crate `name` from its `.so`, with `config`, on `clock`.
fn open_on(name: &str, config: serde_json::Value, clock: &Clock) -> Arc<dyn StateStore> {
    stateplug_tests::load(name)
        .open_with_clock(&config, &OpenOptions::default(), clock)
        .unwrap()
}

fn memory_on(clock: &Clock) -> Arc<dyn StateStore> {
    open_on("stateplug-provider-memory", serde_json::json!({}), clock)
}

fn redb_on(dir: &Path, clock: &Clock) -> Arc<dyn StateStore> {
    open_on(
        "stateplug-provider-redb",
        stateplug_tests::redb_config(dir),
        clock,
    )
}

/// A source store `s` holding `expiring` (1 h to live) and `kept` (no expiry).
async fn source(clock: &Clock) -> Arc<dyn StateStore> {
    let store = memory_on(clock);
    store
        .set_with_ttl("s", "expiring", b"1", HOUR)
        .await
        .unwrap();
    store.set("s", "kept", b"2").await.unwrap();
    store
}

async fn dump(store: &Arc<dyn StateStore>) -> Vec<u8> {
    let mut out = Vec::new();
    ops::dump(store, &["s".to_string()], &mut out, &())
        .await
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_carries_each_expiry_and_a_restore_keeps_it() {
    let clock = Clock::system();
    let store = source(&clock).await;
    let expiry = store.expiries("s", &["expiring", "kept"]).await.unwrap();
    let at = expiry[0].expect("the TTL key has an expiry");
    assert_eq!(expiry[1], None);
    let bytes = dump(&store).await;
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with(r#"{"format":"stateplug-dump","version":2,"#),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#""key":"expiring","value_b64":"MQ==","version":1,"expires_at_ms":{at}}}"#
        )),
        "{text}"
    );
    assert!(
        !text.lines().nth(2).unwrap().contains("expires_at_ms"),
        "{text}"
    );
    assert_eq!(
        verify_dump(&mut Cursor::new(&bytes), None)
            .unwrap()
            .expiring,
        1
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.dump");
    std::fs::write(&path, &bytes).unwrap();
    let target_clock = Clock::system();
    let target = redb_on(dir.path(), &target_clock);
    restore_file(&target, &path, &RestoreOptions::default(), &())
        .await
        .unwrap();
    assert_eq!(
        target.expiries("s", &["expiring", "kept"]).await.unwrap(),
        [Some(at), None]
    );
    target_clock.advance(2 * HOUR);
    assert_eq!(target.list_keys("s").await.unwrap(), ["kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_with_expiries_is_refused_by_a_provider_without_ttl() {
    let bytes = dump(&source(&Clock::system()).await).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.dump");
    std::fs::write(&path, &bytes).unwrap();
    let target = stateplug_tests::frozen_memory_0_1()
        .open(&serde_json::json!({}))
        .unwrap();
    let err = restore_file(&target, &path, &RestoreOptions::default(), &())
        .await
        .unwrap_err();
    assert!(matches!(err, OpsError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("does not declare TTL"), "{err}");
    assert!(
        !target.store_exists("s").await.unwrap(),
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_of_format_version_1_still_restores() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dumps/version-1.dump");
    let target = memory_on(&Clock::system());
    let report = restore_file(&target, &path, &RestoreOptions::default(), &())
        .await
        .unwrap();
    assert_eq!(report.entries, 2);
    assert_eq!(
        target.get("lines", "checkpoint").await.unwrap(),
        Some(b"1024".to_vec())
    );
    assert_eq!(
        target.expiries("counts", &["count/hello"]).await.unwrap(),
        [None]
    );
    let forged = std::fs::read_to_string(&path)
        .unwrap()
        .replace(r#""version":9}"#, r#""version":9,"expires_at_ms":5}"#);
    let err = verify_dump(&mut Cursor::new(forged), None).unwrap_err();
    assert!(err.to_string().contains("does not carry"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_keeps_expiries_and_copies_a_changed_one() {
    let clock = Clock::system();
    let from = source(&clock).await;
    let dir = tempfile::tempdir().unwrap();
    let target_clock = Clock::system();
    let to = redb_on(dir.path(), &target_clock);
    let report = migrate(&from, &to, &MigrateOptions::default(), &())
        .await
        .unwrap();
    assert!(report.verified(), "{report:?}");
    let source_expiries = from.expiries("s", &["expiring", "kept"]).await.unwrap();
    assert_eq!(
        to.expiries("s", &["expiring", "kept"]).await.unwrap(),
        source_expiries
    );
    // The same value without its expiry in the source: the copy follows.
    from.set("s", "expiring", b"1").await.unwrap();
    let again = migrate(&from, &to, &MigrateOptions::default(), &())
        .await
        .unwrap();
    assert_eq!((again.stores[0].written, again.stores[0].unchanged), (1, 1));
    target_clock.advance(2 * HOUR);
    assert_eq!(to.list_keys("s").await.unwrap(), ["expiring", "kept"]);

    let refusing = stateplug_tests::frozen_memory_0_1()
        .open(&serde_json::json!({}))
        .unwrap();
    from.set_with_ttl("s", "expiring", b"1", HOUR)
        .await
        .unwrap();
    let err = migrate(&from, &refusing, &MigrateOptions::default(), &())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not declare TTL"), "{err}");
}

/// Before each `expiries` call: moves the clock past every expiry and waits
/// until the provider's background sweep has removed the key `expiring`, so
/// a key the dump's page read is gone by the time its expiry is asked.
struct SweepBeforeExpiries {
    inner: Arc<dyn StateStore>,
    clock: Clock,
}

impl Layer for SweepBeforeExpiries {
    async fn around<'a, T, F>(
        &'a self,
        call: Call<'a>,
        mut run: impl FnMut() -> F + Send + 'a,
    ) -> StoreResult<T>
    where
        T: Send + 'a,
        F: Future<Output = StoreResult<T>> + Send + 'a,
    {
        if call.operation == Operation::Expiries {
            self.clock.advance(2 * HOUR);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while self.inner.expiries(call.store_id, &["expiring"]).await?[0].is_some() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the sweeper did not remove the key"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        run().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_expires_while_it_is_dumped_is_not_copied_without_its_expiry() {
    let clock = Clock::system();
    let inner = open_on(
        "stateplug-provider-memory",
        serde_json::json!({ "sweep_interval_ms": 5 }),
        &clock,
    );
    inner
        .set_with_ttl("s", "expiring", b"1", HOUR)
        .await
        .unwrap();
    inner.set("s", "kept", b"2").await.unwrap();
    let store: Arc<dyn StateStore> = Arc::new(Layered::new(
        Arc::clone(&inner),
        SweepBeforeExpiries {
            inner: Arc::clone(&inner),
            clock: clock.clone(),
        },
    ));
    let text = String::from_utf8(dump(&store).await).unwrap();
    assert!(text.contains(r#""key":"kept""#), "{text}");
    assert!(
        !text.contains(r#""key":"expiring""#),
        "a key swept between the page read and its expiry is left out: {text}"
    );
}
