//! Behaviour of the provider on real database files in temporary folders.

use std::path::Path;

use stateplug_provider_api::{ErrorKind, Expected, Page, Provider, ScanRef, TxnOpRef};
use tempfile::TempDir;

use crate::RedbProvider;

fn open(path: &Path) -> RedbProvider {
    let json = format!(r#"{{"path": {:?}}}"#, path.display().to_string());
    RedbProvider::open(&json).unwrap()
}

fn fresh() -> (TempDir, RedbProvider) {
    let dir = tempfile::tempdir().unwrap();
    let p = open(&dir.path().join("state.redb"));
    (dir, p)
}

#[test]
fn round_trip() {
    let (_dir, p) = fresh();
    assert_eq!(p.get("s", "k").unwrap(), None);
    let v1 = p.set("s", "k", b"one").unwrap();
    assert!(v1 >= 1);
    let e = p.get_entry("s", "k").unwrap().unwrap();
    assert_eq!((e.value.as_slice(), e.version), (&b"one"[..], v1));
    let v2 = p.set("s", "k", b"").unwrap();
    assert!(v2 > v1);
    assert_eq!(p.get("s", "k").unwrap(), Some(vec![]));
    assert!(p.contains_key("s", "k").unwrap());
    assert_eq!(p.get("other", "k").unwrap(), None, "stores are independent");
    assert!(p.delete("s", "k").unwrap());
    assert!(!p.delete("s", "k").unwrap());
    assert!(!p.store_exists("s").unwrap());
}

#[test]
fn batches_share_one_version_and_keep_counts() {
    let (_dir, p) = fresh();
    assert_eq!(p.set_many("s", &[]).unwrap(), 0);
    let v = p
        .set_many("s", &[("a", b"1"), ("b", b"2"), ("c", b"3")])
        .unwrap();
    let got = p.get_many("s", &["a", "x", "c"]).unwrap();
    assert_eq!(got[0].as_ref().unwrap().version, v);
    assert!(got[1].is_none());
    assert_eq!(got[2].as_ref().unwrap().version, v);
    assert_eq!(p.key_count("s").unwrap(), 3);
    assert_eq!(p.list_keys("s").unwrap(), ["a", "b", "c"]);
    assert_eq!(p.delete_many("s", &["a", "a", "zz"]).unwrap(), 1);
    assert_eq!(p.key_count("s").unwrap(), 2);
    assert_eq!(p.list_stores().unwrap(), ["s"]);
    assert_eq!(p.clear_store("s").unwrap(), 2);
    assert_eq!(p.key_count("s").unwrap(), 0);
    assert!(p.list_stores().unwrap().is_empty());
}

#[test]
fn stores_with_prefix_names_do_not_overlap() {
    let (_dir, p) = fresh();
    p.set("a", "k", b"1").unwrap();
    p.set("a\0", "k", b"2").unwrap();
    p.set("ab", "k", b"3").unwrap();
    assert_eq!(p.list_keys("a").unwrap(), ["k"]);
    assert_eq!(p.clear_store("a").unwrap(), 1);
    assert_eq!(p.get("a\0", "k").unwrap(), Some(b"2".to_vec()));
    assert_eq!(p.get("ab", "k").unwrap(), Some(b"3".to_vec()));
    assert_eq!(p.list_stores().unwrap(), ["a\0", "ab"]);
}

#[test]
fn reopen_preserves_data_and_versions_keep_increasing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let last = {
        let p = open(&path);
        p.set("s", "kept", b"v").unwrap();
        let v = p.set("s", "gone", b"v").unwrap();
        p.delete("s", "gone").unwrap();
        v
    };
    let p = open(&path);
    let kept = p.get_entry("s", "kept").unwrap().unwrap();
    assert_eq!(kept.value, b"v");
    assert!(kept.version < last);
    assert_eq!(p.key_count("s").unwrap(), 1);
    // The delete consumed a revision too; nothing is reused after reopen.
    let again = p.set("s", "gone", b"w").unwrap();
    assert!(again > last + 1, "{again} after {last}");
}

#[test]
fn versions_are_not_reused_after_clear() {
    let (_dir, p) = fresh();
    let v1 = p.set("s", "k", b"1").unwrap();
    p.clear_store("s").unwrap();
    let v2 = p.set("s", "k", b"1").unwrap();
    assert!(v2 > v1 + 1, "the clear consumed a revision: {v1} then {v2}");
}

#[test]
fn second_open_is_refused_with_the_in_use_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let first = open(&path);
    let json = format!(r#"{{"path": {:?}}}"#, path.display().to_string());
    let err = RedbProvider::open(&json).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::UNAVAILABLE, "{err}");
    assert!(err.message().contains("is in use"), "{err}");
    assert!(err.message().contains(&path.display().to_string()), "{err}");
    drop(first);
    open(&path);
}

#[test]
fn unknown_store_leaves_nothing_behind() {
    let (_dir, p) = fresh();
    assert_eq!(p.clear_store("ghost").unwrap(), 0);
    assert!(!p.delete("ghost", "k").unwrap());
    assert_eq!(p.delete_many("ghost", &["a", "b"]).unwrap(), 0);
    assert_eq!(
        p.transaction("ghost", &[TxnOpRef::Delete { key: "k" }])
            .unwrap(),
        0
    );
    assert_eq!(p.get("ghost", "k").unwrap(), None);
    assert_eq!(p.key_count("ghost").unwrap(), 0);
    assert!(!p.store_exists("ghost").unwrap());
    assert!(p.list_keys("ghost").unwrap().is_empty());
    assert!(p.list_stores().unwrap().is_empty(), "no STORES row");
    // Nothing consumed a revision either.
    assert_eq!(p.set("s", "k", b"v").unwrap(), 1);
}

#[test]
fn compare_and_set_and_delete_honour_their_condition() {
    let (_dir, p) = fresh();
    let v1 = p.compare_and_set("s", "k", Expected::Absent, b"1").unwrap();
    let err = p
        .compare_and_set("s", "k", Expected::Absent, b"2")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ALREADY_EXISTS);
    let err = p
        .compare_and_set("s", "k", Expected::Version(v1 + 5), b"2")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VERSION_CONFLICT);
    assert_eq!(p.get("s", "k").unwrap(), Some(b"1".to_vec()));
    let v2 = p
        .compare_and_set("s", "k", Expected::Version(v1), b"2")
        .unwrap();
    assert!(v2 > v1);
    let err = p.compare_and_delete("s", "k", v1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VERSION_CONFLICT);
    p.compare_and_delete("s", "k", v2).unwrap();
    assert!(!p.store_exists("s").unwrap());
    let err = p.compare_and_delete("s", "k", v2).unwrap_err();
    assert!(err.message().contains("no such key"), "{err}");
}

#[test]
fn transaction_with_a_failing_check_changes_nothing() {
    let (_dir, p) = fresh();
    let v = p.set("s", "a", b"1").unwrap();
    let ops = [
        TxnOpRef::Put {
            key: "b",
            value: b"2",
        },
        TxnOpRef::Delete { key: "a" },
        TxnOpRef::Check {
            key: "a",
            expected: Expected::Version(v),
        },
        TxnOpRef::Check {
            key: "c",
            expected: Expected::Version(1),
        },
    ];
    let err = p.transaction("s", &ops).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VERSION_CONFLICT);
    assert_eq!(p.list_keys("s").unwrap(), ["a"]);
    assert_eq!(p.get_entry("s", "a").unwrap().unwrap().version, v);
    // Nothing consumed a revision.
    assert_eq!(p.set("s", "x", b"").unwrap(), v + 1);
}

#[test]
fn transaction_applies_checks_then_ops_in_order() {
    let (_dir, p) = fresh();
    let v = p.set("s", "a", b"1").unwrap();
    let only_checks = [TxnOpRef::Check {
        key: "a",
        expected: Expected::Version(v),
    }];
    assert_eq!(p.transaction("s", &only_checks).unwrap(), 0);
    let ops = [
        TxnOpRef::Put {
            key: "b",
            value: b"2",
        },
        TxnOpRef::Delete { key: "b" },
        TxnOpRef::Put {
            key: "c",
            value: b"3",
        },
        TxnOpRef::Check {
            key: "b",
            expected: Expected::Absent,
        },
        TxnOpRef::Delete { key: "a" },
    ];
    let rev = p.transaction("s", &ops).unwrap();
    assert!(rev > v);
    assert_eq!(p.list_keys("s").unwrap(), ["c"]);
    assert_eq!(p.get_entry("s", "c").unwrap().unwrap().version, rev);
    assert_eq!(p.key_count("s").unwrap(), 1);
    let deletes = [TxnOpRef::Delete { key: "c" }];
    assert!(
        p.transaction("s", &deletes).unwrap() > rev,
        "a delete consumes a revision"
    );
}

fn walk(p: &RedbProvider, base: ScanRef<'_>) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page: Page = p
            .scan(
                "s",
                ScanRef {
                    after: after.as_deref(),
                    ..base
                },
            )
            .unwrap();
        pages.push(page.entries.iter().map(|e| e.key.clone()).collect());
        match page.next {
            Some(next) => after = Some(next),
            None => return pages,
        }
    }
}

#[test]
fn scans_walk_pages_in_both_directions() {
    let (_dir, p) = fresh();
    let keys = ["", "a", "a/1", "a/2", "a/3", "a0", "b"];
    let pairs: Vec<(&str, &[u8])> = keys.iter().map(|k| (*k, &b"v"[..])).collect();
    let v = p.set_many("s", &pairs).unwrap();
    p.set("r", "a/0", b"other store").unwrap();
    p.set("t", "a/9", b"other store").unwrap();

    let all = ScanRef {
        limit: 3,
        ..Default::default()
    };
    assert_eq!(
        walk(&p, all),
        [vec!["", "a", "a/1"], vec!["a/2", "a/3", "a0"], vec!["b"]]
    );
    let desc = ScanRef {
        descending: true,
        ..all
    };
    assert_eq!(
        walk(&p, desc),
        [vec!["b", "a0", "a/3"], vec!["a/2", "a/1", "a"], vec![""]]
    );

    let prefix = ScanRef {
        prefix: "a/",
        limit: 2,
        ..Default::default()
    };
    assert_eq!(walk(&p, prefix), [vec!["a/1", "a/2"], vec!["a/3"]]);
    assert_eq!(
        walk(
            &p,
            ScanRef {
                descending: true,
                ..prefix
            }
        ),
        [vec!["a/3", "a/2"], vec!["a/1"]]
    );
    let exact = ScanRef {
        prefix: "a/",
        limit: 3,
        ..Default::default()
    };
    assert_eq!(
        walk(&p, exact),
        [vec!["a/1", "a/2", "a/3"]],
        "no empty trailing page"
    );

    let range = ScanRef {
        start: Some("a/2"),
        end: Some("b"),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(walk(&p, range), [vec!["a/2", "a/3", "a0"]]);
    let empty = ScanRef {
        start: Some("b"),
        end: Some("a"),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(p.scan("s", empty).unwrap(), Page::default());
    assert_eq!(p.scan("ghost", all).unwrap(), Page::default());

    let page = p
        .scan(
            "s",
            ScanRef {
                prefix: "a/",
                limit: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (page.entries[0].value.as_slice(), page.entries[0].version),
        (&b"v"[..], v)
    );
}

#[test]
fn missing_parent_folder_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("state.redb");
    let p = open(&path);
    p.set("s", "k", b"v").unwrap();
    assert!(path.is_file());
    assert_eq!(p.path(), path);
}

#[test]
fn a_folder_as_path_is_a_storage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let json = format!(r#"{{"path": {:?}}}"#, dir.path().display().to_string());
    let err = RedbProvider::open(&json).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::STORAGE, "{err}");
    assert!(
        err.message().contains(&dir.path().display().to_string()),
        "{err}"
    );
}

#[test]
fn an_empty_file_is_refused_as_damage_unless_asked_to_initialise_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    std::fs::write(&path, b"").unwrap();
    let json = format!(r#"{{"path": {:?}}}"#, path.display().to_string());
    let err = RedbProvider::open(&json).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::STORAGE, "{err}");
    for needle in [
        path.display().to_string().as_str(),
        "is empty (0 bytes)",
        "truncated or damaged",
        "Restore it from a backup",
        "remove the file",
        "initialise_empty_file = true",
    ] {
        assert!(err.message().contains(needle), "{needle:?} in {err}");
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        0,
        "a refused file is left as it was"
    );

    let json = format!(
        r#"{{"path": {:?}, "initialise_empty_file": true}}"#,
        path.display().to_string()
    );
    let p = RedbProvider::open(&json).unwrap();
    p.set("s", "k", b"v").unwrap();
    drop(p);
    assert_eq!(open(&path).get("s", "k").unwrap(), Some(b"v".to_vec()));
    // A database that is not empty is opened whatever the option says.
    let p = RedbProvider::open(&json).unwrap();
    assert_eq!(p.get("s", "k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn capabilities_declare_durability_and_keep_commits_off_async_workers() {
    use stateplug_provider_api::CapabilityFlags as F;
    let flags = RedbProvider::CAPABILITIES.flags;
    for needed in [
        F::DURABLE,
        F::ATOMIC_BATCHES,
        F::COMPARE_AND_SET,
        F::TRANSACTIONS,
        F::ORDERED_SCANS,
        F::LIST_STORES,
        F::INLINE_READS,
    ] {
        assert!(flags.contains(needed), "{:?} is declared", needed.names());
    }
    assert!(
        !flags.contains(F::INLINE_WRITES),
        "a durable commit waits for fsync: not inline"
    );
}

#[test]
fn open_through_the_exported_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let json = format!(
        r#"{{"path": {:?}}}"#,
        dir.path().join("x.redb").display().to_string()
    );
    let store = crate::open_in_process(&json).unwrap();
    assert_eq!(store.info().name.as_str(), "redb");
    let err = crate::open_in_process("{}").err().unwrap();
    assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT);
}

fn with_history(path: &Path, versions: u32) -> RedbProvider {
    let json = format!(
        r#"{{"path": {:?}, "history_versions": {versions}}}"#,
        path.display().to_string()
    );
    RedbProvider::open(&json).unwrap()
}

fn history_of(p: &RedbProvider, store_id: &str, key: &str) -> Vec<(u64, Option<Vec<u8>>)> {
    p.history(store_id, key, u32::MAX)
        .unwrap()
        .into_iter()
        .map(|h| (h.version, h.value))
        .collect()
}

#[test]
fn history_is_declared_only_when_retention_is_set() {
    use stateplug_provider_api::CapabilityFlags as F;
    let dir = tempfile::tempdir().unwrap();
    let off = open(&dir.path().join("off.redb"));
    assert!(!off.capabilities().has(F::HISTORY));
    assert!(!RedbProvider::CAPABILITIES.has(F::HISTORY));
    let err = off.history("s", "k", 10).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UNSUPPORTED, "{err}");
    assert!(err.message().contains("history_versions"), "{err}");
    let err = off.get_version("s", "k", 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UNSUPPORTED, "{err}");
    let on = with_history(&dir.path().join("on.redb"), 3);
    assert!(on.capabilities().has(F::HISTORY));
    assert!(on.capabilities().has(F::DURABLE), "the rest stays declared");
}

#[test]
fn history_keeps_the_last_n_versions_and_prunes_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let p = with_history(&dir.path().join("h.redb"), 3);
    let versions: Vec<u64> = (0..5)
        .map(|i| p.set("s", "k", format!("v{i}").as_bytes()).unwrap())
        .collect();
    let kept = history_of(&p, "s", "k");
    assert_eq!(
        kept,
        vec![
            (versions[4], Some(b"v4".to_vec())),
            (versions[3], Some(b"v3".to_vec())),
            (versions[2], Some(b"v2".to_vec())),
        ],
        "newest first, the two oldest pruned"
    );
    assert_eq!(p.history("s", "k", 2).unwrap().len(), 2, "limit holds");
    assert_eq!(
        p.get_version("s", "k", versions[2]).unwrap().unwrap().value,
        b"v2"
    );
    assert_eq!(
        p.get_version("s", "k", versions[1]).unwrap(),
        None,
        "pruned"
    );
    assert_eq!(
        p.get_version("s", "k", versions[4]).unwrap().unwrap().value,
        b"v4",
        "the current version reads back"
    );
    // Other keys and stores keep their own history.
    p.set("s", "other", b"x").unwrap();
    p.set("t", "k", b"y").unwrap();
    assert_eq!(history_of(&p, "s", "k").len(), 3);
    assert_eq!(history_of(&p, "s", "other").len(), 1);
    assert_eq!(history_of(&p, "t", "k").len(), 1);
    assert!(history_of(&p, "s", "never").is_empty());
    assert!(history_of(&p, "ghost", "k").is_empty());
}

#[test]
fn history_records_deletions_batches_and_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let p = with_history(&dir.path().join("h.redb"), 4);
    let v1 = p.set_many("s", &[("a", b"1"), ("b", b"2")]).unwrap();
    assert!(p.delete("s", "a").unwrap());
    let deleted = history_of(&p, "s", "a");
    assert_eq!(deleted.len(), 2);
    assert_eq!(deleted[0].1, None, "a deletion is recorded as None");
    assert!(deleted[0].0 > v1);
    assert_eq!(
        p.get_version("s", "a", deleted[0].0).unwrap(),
        None,
        "a deleted version has no value"
    );
    assert!(!p.delete("s", "a").unwrap());
    assert_eq!(
        history_of(&p, "s", "a").len(),
        2,
        "deleting nothing records nothing"
    );
    let rev = p
        .transaction(
            "s",
            &[
                TxnOpRef::Put {
                    key: "b",
                    value: b"3",
                },
                TxnOpRef::Delete { key: "b" },
            ],
        )
        .unwrap();
    assert_eq!(
        history_of(&p, "s", "b"),
        vec![(rev, None), (v1, Some(b"2".to_vec()))],
        "the transaction's last word on a key is its version's row"
    );
    p.compare_and_set("s", "c", Expected::Absent, b"x").unwrap();
    let v = p.get_entry("s", "c").unwrap().unwrap().version;
    p.compare_and_delete("s", "c", v).unwrap();
    assert_eq!(history_of(&p, "s", "c").len(), 2);
    p.delete_many("s", &["zz"]).unwrap();
    assert!(history_of(&p, "s", "zz").is_empty());
}

#[test]
fn clear_store_removes_the_stores_history_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let p = with_history(&dir.path().join("h.redb"), 3);
    p.set("s", "a", b"1").unwrap();
    p.set("s", "a", b"2").unwrap();
    p.set("s", "b", b"1").unwrap();
    p.set("s\0x", "a", b"neighbour").unwrap();
    p.set("t", "a", b"1").unwrap();
    assert_eq!(p.clear_store("s").unwrap(), 2);
    assert!(history_of(&p, "s", "a").is_empty());
    assert!(history_of(&p, "s", "b").is_empty());
    assert_eq!(history_of(&p, "t", "a").len(), 1);
    assert_eq!(history_of(&p, "s\0x", "a").len(), 1);
    // A store whose keys were all deleted still has history; clear removes it.
    p.set("u", "k", b"1").unwrap();
    p.delete("u", "k").unwrap();
    assert!(!p.store_exists("u").unwrap());
    assert_eq!(history_of(&p, "u", "k").len(), 2);
    assert_eq!(p.clear_store("u").unwrap(), 0);
    assert!(history_of(&p, "u", "k").is_empty());
    // Clearing an unknown store still changes nothing.
    let before = p.set("t", "x", b"").unwrap();
    assert_eq!(p.clear_store("ghost").unwrap(), 0);
    assert_eq!(p.set("t", "x", b"").unwrap(), before + 1);
}

#[test]
fn history_survives_reopen_and_turning_it_off_discards_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.redb");
    let p = with_history(&path, 2);
    for i in 0..3 {
        p.set("s", "k", format!("{i}").as_bytes()).unwrap();
    }
    drop(p);
    let p = with_history(&path, 2);
    assert_eq!(history_of(&p, "s", "k").len(), 2, "kept across reopen");
    drop(p);
    // Opened without a setting, the file keeps its retention and history.
    let p = open(&path);
    assert!(p
        .capabilities()
        .has(stateplug_provider_api::CapabilityFlags::HISTORY));
    assert_eq!(history_of(&p, "s", "k").len(), 2);
    drop(p);
    // A smaller retention prunes a key on its next write.
    let p = with_history(&path, 1);
    assert_eq!(history_of(&p, "s", "k").len(), 2);
    p.set("s", "k", b"3").unwrap();
    let v = p.get_entry("s", "k").unwrap().unwrap().version;
    assert_eq!(history_of(&p, "s", "k"), vec![(v, Some(b"3".to_vec()))]);
    drop(p);
    // 0 turns history off and discards it.
    let p = with_history(&path, 0);
    assert!(!p
        .capabilities()
        .has(stateplug_provider_api::CapabilityFlags::HISTORY));
    drop(p);
    let p = open(&path);
    assert!(
        !p.capabilities()
            .has(stateplug_provider_api::CapabilityFlags::HISTORY),
        "off stays off"
    );
    drop(p);
    let p = with_history(&path, 5);
    assert!(
        history_of(&p, "s", "k").is_empty(),
        "turning history off discarded it"
    );
    assert_eq!(p.get("s", "k").unwrap(), Some(b"3".to_vec()), "data stays");
    assert_eq!(
        p.get_version("s", "k", v).unwrap().unwrap().value,
        b"3",
        "the current version reads back even without a history row"
    );
}

#[test]
fn concurrent_writers_share_commits_and_every_write_lands() {
    let dir = tempfile::tempdir().unwrap();
    let provider = std::sync::Arc::new(open(&dir.path().join("state.redb")));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let p = std::sync::Arc::clone(&provider);
            std::thread::spawn(move || {
                let mut versions = Vec::new();
                for i in 0..40 {
                    versions.push(
                        p.set("s", &format!("t{t}-{i}"), &[t as u8, i as u8])
                            .unwrap(),
                    );
                    versions.push(p.set("shared", "k", &[t as u8]).unwrap());
                }
                versions
            })
        })
        .collect();
    let mut versions: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let writes = versions.len() as u64;
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(
        versions.len() as u64,
        writes,
        "every write call got its own version"
    );
    assert_eq!(provider.key_count("s").unwrap(), 16 * 40);
    assert_eq!(provider.get("s", "t15-39").unwrap(), Some(vec![15, 39]));
    let commits = provider.commits();
    assert!(
        commits < writes,
        "{writes} writes took {commits} commits: no group commit happened"
    );
}

#[test]
fn one_writer_commits_at_once_without_waiting_for_company() {
    let dir = tempfile::tempdir().unwrap();
    let provider = open(&dir.path().join("state.redb"));
    for i in 0..20 {
        provider.set("s", &format!("k{i}"), b"v").unwrap();
    }
    assert_eq!(
        provider.commits(),
        20,
        "each lone write is its own durable commit"
    );
    provider.delete("s", "missing").unwrap();
    assert_eq!(
        provider.commits(),
        20,
        "a write that changes nothing commits nothing"
    );
}

#[test]
fn a_key_that_is_not_utf8_fails_a_scan_and_goes_out_unchecked_as_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let p = open(&path);
    p.set("s", "a", b"1").unwrap();
    drop(p);
    // Damage the file the way a bad disk could: an entry whose key bytes are not UTF-8.
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut entries = txn.open_table(crate::schema::ENTRIES).unwrap();
            let mut key = crate::encoding::entry_key("s", "b");
            key.push(0xff);
            entries
                .insert(
                    key.as_slice(),
                    crate::encoding::entry_value(9, b"2").as_slice(),
                )
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let p = open(&path);
    let all = ScanRef {
        limit: 10,
        ..Default::default()
    };
    let err = p.scan("s", all).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::STORAGE);
    assert!(err.message().contains("restore from backup"), "{err}");
    // The byte walk (what crosses to the host, which checks each key) hands
    // the stored bytes over as they are.
    let mut keys = Vec::new();
    let next = p
        .scan_visit_bytes("s", all, &mut |key, _, _| keys.push(key.to_vec()))
        .unwrap();
    assert_eq!(next, None);
    assert_eq!(keys, [b"a".to_vec(), b"b\xff".to_vec()]);
}

#[test]
fn a_read_after_an_acknowledged_write_sees_it_while_readers_share_a_snapshot() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (_dir, p) = fresh();
    p.set("s", "hot", b"x").unwrap();
    let stop = AtomicBool::new(false);
    let (acked, heard) = std::sync::mpsc::channel::<(String, u64)>();
    /// Ends the reader, also when an assertion fails (or the scope would wait for it forever).
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|scope| {
        let _stop = StopOnDrop(&stop);
        // Keeps the shared snapshot in use between commits.
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                assert!(p.get("s", "hot").unwrap().is_some());
            }
        });
        // Another thread's writes, each announced once acknowledged.
        let writer = scope.spawn(|| {
            for i in 0..300u32 {
                let value = format!("w{i}");
                let version = p.set("s", "other", value.as_bytes()).unwrap();
                acked.send((value, version)).unwrap();
            }
        });
        for i in 0..300u32 {
            let value = i.to_string();
            let version = p.set("s", "k", value.as_bytes()).unwrap();
            assert_eq!(p.get("s", "k").unwrap().as_deref(), Some(value.as_bytes()));
            assert_eq!(p.get_entry("s", "k").unwrap().unwrap().version, version);
            let many = p.get_many("s", &["k"]).unwrap();
            assert_eq!(many[0].as_ref().map(|e| e.version), Some(version));
            assert!(p.list_keys("s").unwrap().contains(&"k".to_string()));
            if let Ok((value, version)) = heard.try_recv() {
                let seen = p.get_entry("s", "other").unwrap().unwrap();
                assert!(
                    seen.version >= version,
                    "another thread's acknowledged write is seen"
                );
                if seen.version == version {
                    assert_eq!(seen.value, value.as_bytes());
                }
            }
        }
        writer.join().unwrap();
    });
    p.delete("s", "k").unwrap();
    assert_eq!(
        p.get("s", "k").unwrap(),
        None,
        "a delete is seen at once too"
    );
}
