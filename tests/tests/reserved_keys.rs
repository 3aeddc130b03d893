//! A plugin cannot change the host's records in its own store (`$owner`,
//! `$checkpoint...`), on which fencing and exactly-once rest: every write
//! naming one is refused and changes nothing, and `clear` keeps them, so a
//! reaction that resets its state goes on owning its store from its
//! checkpoint. Walks of its keys (listing, count, scans) do not show them.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{sync::Arc, time::Duration};

use stateplug::{
    async_trait,
    runtime::{OwnerRecord, OWNER_KEY},
    ErrorKind, Expected, Host, PluginError, PluginResult, Reaction, ReactionContext, Scan,
    StateStore, TxnOp,
};
use stateplug_plugins_example::Generator;

const LINES: u64 = 300;

/// Each batch: tries every way of changing a `$` key, then clears its
/// store and commits how many batches it has seen since the last clear.
struct Resetter;

fn refused<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, impl Into<PluginError>>,
) -> PluginResult<()> {
    match result.map_err(Into::into) {
        Err(PluginError::Store(e)) if e.kind() == ErrorKind::INVALID_ARGUMENT => {
            assert!(
                e.message.contains("reserved for the host's records"),
                "{what}: {e}"
            );
            Ok(())
        }
        other => panic!("{what} was not refused: {other:?}"),
    }
}

#[async_trait]
impl Reaction for Resetter {
    fn id(&self) -> &str {
        "resetter"
    }
    fn subscriptions(&self) -> Vec<String> {
        vec!["numbers".into()]
    }
    async fn run(&self, ctx: ReactionContext) -> PluginResult<()> {
        let store = ctx.store();
        while let Some(batch) = ctx.next_batch(50).await {
            refused("set", store.set(OWNER_KEY, b"mine".to_vec()).await)?;
            refused("delete", store.delete(OWNER_KEY).await)?;
            refused(
                "delete_many",
                store.delete_many(&["a", "$checkpoint/numbers"]).await,
            )?;
            refused(
                "set_many",
                store.set_many(vec![("$x".into(), b"1".to_vec())]).await,
            )?;
            refused(
                "compare_and_set",
                store
                    .compare_and_set(OWNER_KEY, Expected::Absent, b"1".to_vec())
                    .await,
            )?;
            refused(
                "compare_and_delete",
                store.compare_and_delete(OWNER_KEY, 1).await,
            )?;
            refused(
                "transaction",
                store
                    .transaction(vec![TxnOp::delete("$checkpoint/numbers")])
                    .await,
            )?;
            let ttl = std::time::Duration::from_secs(60);
            refused(
                "set_with_ttl",
                store.set_with_ttl(OWNER_KEY, b"1".to_vec(), ttl).await,
            )?;
            refused(
                "a transaction's put with a time to live",
                store
                    .transaction(vec![TxnOp::put_with_ttl("$x", b"1".to_vec(), ttl)])
                    .await,
            )?;
            refused(
                "commit",
                ctx.commit(
                    &batch,
                    vec![TxnOp::put("$checkpoint/numbers", b"0".to_vec())],
                )
                .await,
            )?;
            // A check may name them.
            let owner = store.get_entry(OWNER_KEY).await?.unwrap();
            store
                .transaction(vec![
                    TxnOp::check(OWNER_KEY, Expected::Version(owner.version)),
                    TxnOp::put("checked", b"1".to_vec()),
                ])
                .await?;
            store.set("scratch", b"x".to_vec()).await?;
            // Walks show the plugin's keys only ("last" from the batch
            // before, if any), though the host's are there.
            let keys = store.list_keys().await?;
            let mut mine = vec!["checked", "scratch"];
            if keys.iter().any(|k| k == "last") {
                mine.insert(1, "last");
            }
            assert_eq!(keys, mine);
            assert_eq!(store.key_count().await?, mine.len() as u64);
            let page = store.scan(&Scan::prefix("").limit(10)).await?;
            let scanned: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(scanned, mine);
            let first = store.scan(&Scan::prefix("").limit(1)).await?;
            assert_eq!(
                first.entries.len(),
                1,
                "the first page walks past the $ records"
            );
            assert_eq!(first.entries[0].key, mine[0]);
            let mut walked = Vec::new();
            let mut scan = Scan::prefix("").limit(1);
            loop {
                let rows = store.scan_rows(&scan).await?;
                assert!(
                    !rows.is_empty() || rows.next().is_none(),
                    "a page of $ records only is walked past, not handed out empty"
                );
                walked.extend(rows.iter().map(|r| r.key.to_string()));
                match rows.next() {
                    Some(next) => scan = scan.after(next),
                    None => break,
                }
            }
            assert_eq!(walked, mine, "a walk page by page");
            let removed = store.clear().await?;
            assert_eq!(
                removed,
                mine.len() as u64,
                "clear removes the plugin's keys"
            );
            assert_eq!(store.key_count().await?, 0);
            assert!(store.list_keys().await?.is_empty());
            let last = batch.last().unwrap().position;
            ctx.commit(
                &batch,
                vec![TxnOp::put("last", last.to_string().into_bytes())],
            )
            .await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_change_the_hosts_records_and_clear_keeps_them() {
    let (store, _dir): (Arc<dyn StateStore>, _) = stateplug_tests::redb_so();
    let running = Host::builder()
        .provider_store(Arc::clone(&store))
        .host_name("host-a")
        .source(Generator::new("numbers").count(LINES).rate(5000))
        .reaction(Resetter)
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let done =
            store.get("resetter", "last").await.unwrap() == Some(LINES.to_string().into_bytes());
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            running.report()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = running.stop().await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let owner =
        OwnerRecord::parse(&store.get("resetter", OWNER_KEY).await.unwrap().unwrap()).unwrap();
    assert_eq!(owner.host, "host-a");
    assert_eq!(
        store.get("resetter", "$checkpoint/numbers").await.unwrap(),
        Some(LINES.to_string().into_bytes()),
        "the checkpoint survives every clear"
    );
}
