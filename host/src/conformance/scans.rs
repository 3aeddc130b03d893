//! Ordered, paginated scans.

use std::sync::Arc;

use super::{fresh_store_id, ok};
use crate::store::{Scan, StateStore};

/// Walks a whole scan page by page, checking each page's size.
pub async fn walk(
    store: &Arc<dyn StateStore>,
    store_id: &str,
    scan: Scan,
) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut scan = scan;
    loop {
        let page = ok(store.scan(store_id, &scan).await, "scan");
        let rows = ok(store.scan_rows(store_id, &scan).await, "scan_rows");
        assert_eq!(
            rows.into_page(),
            page,
            "scan_rows lends the same rows, versions and continuation as scan"
        );
        assert!(
            page.entries.len() <= scan.limit as usize,
            "a page holds at most `limit` entries"
        );
        if page.next.is_some() {
            assert_eq!(
                page.entries.len(),
                scan.limit as usize,
                "only a full page has a continuation"
            );
            assert_eq!(
                page.next.as_deref(),
                page.entries.last().map(|e| e.key.as_str())
            );
        }
        out.extend(page.entries.into_iter().map(|e| (e.key, e.value)));
        match page.next {
            Some(next) => scan.after = Some(next),
            None => return out,
        }
    }
}

async fn fill(store: &Arc<dyn StateStore>, s: &str, keys: &[&str]) {
    let entries = keys
        .iter()
        .map(|k| (k.to_string(), k.as_bytes().to_vec()))
        .collect();
    ok(store.set_many(s, entries).await, "set_many");
}

fn keys_of(rows: &[(String, Vec<u8>)]) -> Vec<&str> {
    rows.iter().map(|(k, _)| k.as_str()).collect()
}

/// A scan returns every key once, ascending, across pages of any size.
pub async fn scan_walks_in_order_by_pages(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("scan");
    let keys: Vec<String> = (0..57).map(|i| format!("k{:03}", (i * 37) % 57)).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    fill(&store, &s, &refs).await;
    let mut sorted = keys.clone();
    sorted.sort();
    for limit in [1, 7, 57, 100] {
        let rows = walk(&store, &s, Scan::prefix("").limit(limit)).await;
        assert_eq!(
            keys_of(&rows),
            sorted.iter().map(String::as_str).collect::<Vec<_>>(),
            "page size {limit}"
        );
        assert!(
            rows.iter().all(|(k, v)| k.as_bytes() == v.as_slice()),
            "scan rows carry their values"
        );
    }
    let page = ok(
        store
            .scan(&fresh_store_id("unknown"), &Scan::prefix(""))
            .await,
        "scan unknown",
    );
    assert!(
        page.entries.is_empty() && page.next.is_none(),
        "an unknown store scans empty"
    );
    ok(store.clear_store(&s).await, "clear_store");
}

/// A descending scan returns the same keys in reverse, across pages.
pub async fn scan_descending_walks_in_reverse(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("scan-desc");
    let keys = ["a", "b", "c", "d", "e", "f", "g"];
    fill(&store, &s, &keys).await;
    let rows = walk(&store, &s, Scan::prefix("").limit(3).descending()).await;
    assert_eq!(keys_of(&rows), ["g", "f", "e", "d", "c", "b", "a"]);
    let rows = walk(&store, &s, Scan::range("b", "f").limit(2).descending()).await;
    assert_eq!(
        keys_of(&rows),
        ["e", "d", "c", "b"],
        "descending within [b, f)"
    );
    ok(store.clear_store(&s).await, "clear_store");
}

/// A prefix scan returns exactly the keys with that prefix, and nothing of its neighbours.
pub async fn scan_respects_prefix_boundaries(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("scan-prefix");
    let keys = [
        "a",
        "a/",
        "a/1",
        "a/2",
        "a/\u{10FFFF}",
        "a0",
        "a\u{0}",
        "ab",
        "b/1",
        "",
        "\u{10FFFF}",
    ];
    fill(&store, &s, &keys).await;
    for (prefix, expected) in [
        ("a/", vec!["a/", "a/1", "a/2", "a/\u{10FFFF}"]),
        (
            "a",
            vec![
                "a",
                "a\u{0}",
                "a/",
                "a/1",
                "a/2",
                "a/\u{10FFFF}",
                "a0",
                "ab",
            ],
        ),
        ("b", vec!["b/1"]),
        ("zz", vec![]),
        ("\u{10FFFF}", vec!["\u{10FFFF}"]),
    ] {
        for limit in [1, 3, 100] {
            let up = walk(&store, &s, Scan::prefix(prefix).limit(limit)).await;
            assert_eq!(keys_of(&up), expected, "prefix {prefix:?}, limit {limit}");
            let down = walk(&store, &s, Scan::prefix(prefix).limit(limit).descending()).await;
            let mut reversed = expected.clone();
            reversed.reverse();
            assert_eq!(
                keys_of(&down),
                reversed,
                "prefix {prefix:?} descending, limit {limit}"
            );
        }
    }
    assert_eq!(
        walk(&store, &s, Scan::prefix("")).await.len(),
        keys.len(),
        "the empty prefix walks every key"
    );
    ok(store.clear_store(&s).await, "clear_store");
}

/// Range scans include `start`, exclude `end`, and combine with a prefix.
pub async fn scan_respects_range_bounds(store: Arc<dyn StateStore>) {
    let s = fresh_store_id("scan-range");
    let keys = ["a", "b", "c", "d", "x/a", "x/b", "x/c"];
    fill(&store, &s, &keys).await;
    assert_eq!(
        keys_of(&walk(&store, &s, Scan::range("b", "d")).await),
        ["b", "c"]
    );
    assert_eq!(
        keys_of(&walk(&store, &s, Scan::range("b", "b")).await),
        Vec::<&str>::new(),
        "an empty range"
    );
    assert_eq!(
        keys_of(&walk(&store, &s, Scan::range("d", "b")).await),
        Vec::<&str>::new(),
        "an inverted range"
    );
    let mut scan = Scan::prefix("x/");
    scan.start = Some("x/b".into());
    assert_eq!(
        keys_of(&walk(&store, &s, scan.clone()).await),
        ["x/b", "x/c"],
        "prefix with a start"
    );
    scan.end = Some("x/c".into());
    assert_eq!(
        keys_of(&walk(&store, &s, scan).await),
        ["x/b"],
        "prefix with start and end"
    );
    let page = ok(
        store.scan(&s, &Scan::prefix("").after("c")).await,
        "scan after",
    );
    assert_eq!(
        page.entries.first().map(|e| e.key.as_str()),
        Some("d"),
        "`after` resumes strictly past the key"
    );
    ok(store.clear_store(&s).await, "clear_store");
}
