//! Point reads: direct DashMap / memory provider in-process / memory `.so`
//! through the host API; raw redb (one read transaction per get) / redb
//! `.so` through the host API.

use std::{sync::Arc, time::Instant};

use dashmap::DashMap;
use redb::{ReadableDatabase, TableDefinition};
use stateplug::StateStore;

use super::{fill, get_in_order, key, read_order, runtime, value};
use crate::{library, measure::median, report::Row, Sizes};

const VALUE_LEN: usize = 64;
const RAW: TableDefinition<&str, &[u8]> = TableDefinition::new("raw");

fn ns_per(start: Instant, ops: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / ops as f64
}

/// The caller's own copy of a value, as the host API returns it. Opaque to
/// the optimizer: without it the compiler sees that only the length is
/// used and drops the copy (and with it the read of the value's memory),
/// which made the raw side ~150 ns cheaper than any real caller's get.
fn owned(value: &[u8]) -> Vec<u8> {
    std::hint::black_box(value.to_vec())
}

/// ns per get through the host API.
fn host_gets(store: &Arc<dyn StateStore>, keys: &[String], order: &[usize]) -> f64 {
    runtime().block_on(async {
        let start = Instant::now();
        let bytes = get_in_order(store, keys, order).await;
        assert_eq!(bytes, order.len() * VALUE_LEN);
        ns_per(start, order.len())
    })
}

/// Point-read rows.
pub fn run(sizes: &Sizes) -> Vec<Row> {
    let keys: Vec<String> = (0..sizes.get_keys).map(key).collect();
    let order = read_order(sizes.get_keys, sizes.gets);

    // Memory: the raw engine and the provider hold the same data.
    let raw: DashMap<String, Vec<u8>> = DashMap::new();
    let nested: DashMap<String, DashMap<String, Vec<u8>>> = DashMap::new();
    nested.insert("bench".into(), DashMap::new());
    for (i, k) in keys.iter().enumerate() {
        raw.insert(k.clone(), value(i, VALUE_LEN));
        if let Some(store) = nested.get("bench") {
            store.insert(k.clone(), value(i, VALUE_LEN));
        }
    }
    let in_process = stateplug::provider::open_in_process(
        stateplug_provider_memory::open_in_process,
        &serde_json::Value::Null,
    )
    .expect("memory in process");
    let loaded = library("memory")
        .open(&serde_json::json!({}))
        .expect("memory .so");
    runtime().block_on(async {
        fill(&in_process, "bench", sizes.get_keys, VALUE_LEN).await;
        fill(&loaded, "bench", sizes.get_keys, VALUE_LEN).await;
    });
    let (mut raw_ns, mut nested_ns, mut in_ns, mut so_ns) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.runs {
        let start = Instant::now();
        let mut bytes = 0;
        for &i in &order {
            bytes += raw.get(&keys[i]).map_or(0, |v| owned(v.value()).len());
        }
        assert_eq!(bytes, order.len() * VALUE_LEN);
        raw_ns.push(ns_per(start, order.len()));
        let start = Instant::now();
        let mut bytes = 0;
        for &i in &order {
            bytes += nested
                .get("bench")
                .and_then(|store| store.get(&keys[i]).map(|v| owned(v.value())))
                .map_or(0, |v| v.len());
        }
        assert_eq!(bytes, order.len() * VALUE_LEN);
        nested_ns.push(ns_per(start, order.len()));
        in_ns.push(host_gets(&in_process, &keys, &order));
        so_ns.push(host_gets(&loaded, &keys, &order));
    }
    let ratio_in: Vec<f64> = in_ns.iter().zip(&raw_ns).map(|(a, b)| a / b).collect();
    let ratio_so: Vec<f64> = so_ns.iter().zip(&raw_ns).map(|(a, b)| a / b).collect();
    let ratio_nested: Vec<f64> = so_ns.iter().zip(&nested_ns).map(|(a, b)| a / b).collect();
    let note = format!(
        "{} keys, {}-byte values, {} random gets",
        sizes.get_keys, VALUE_LEN, sizes.gets
    );
    let mut rows = vec![
        Row {
            scenario: "point get, memory".into(),
            metric: "ns/get".into(),
            baseline: ("DashMap".into(), median(&raw_ns)),
            candidate: ("memory in-process via host".into(), median(&in_ns)),
            ratio: median(&ratio_in),
            target: None,
            note: note.clone(),
        },
        Row {
            scenario: "point get, memory".into(),
            metric: "ns/get".into(),
            baseline: ("DashMap".into(), median(&raw_ns)),
            candidate: ("memory .so via host".into(), median(&so_ns)),
            ratio: median(&ratio_so),
            target: Some(("<= 1.5".into(), median(&ratio_so) <= 1.5)),
            note,
        },
        Row {
            scenario: "point get, memory".into(),
            metric: "ns/get".into(),
            baseline: ("DashMap per store_id (nested)".into(), median(&nested_ns)),
            candidate: ("memory .so via host".into(), median(&so_ns)),
            ratio: median(&ratio_nested),
            target: None,
            note: "the same partitioning by store_id as the provider".into(),
        },
    ];
    drop((raw, nested, in_process, loaded));

    // redb: the raw engine gets its own file with the same keys and values.
    let dir = tempfile::tempdir().expect("temp dir");
    let raw_db = redb::Database::create(dir.path().join("raw.redb")).expect("raw redb");
    {
        let txn = raw_db.begin_write().expect("write");
        {
            let mut table = txn.open_table(RAW).expect("table");
            for (i, k) in keys.iter().enumerate() {
                table
                    .insert(k.as_str(), value(i, VALUE_LEN).as_slice())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    let store = library("redb")
        .open(&serde_json::json!({ "path": dir.path().join("provider.redb") }))
        .expect("redb .so");
    runtime().block_on(fill(&store, "bench", sizes.get_keys, VALUE_LEN));
    let (mut raw_ns, mut so_ns) = (Vec::new(), Vec::new());
    for _ in 0..sizes.runs {
        let start = Instant::now();
        let mut bytes = 0;
        for &i in &order {
            let txn = raw_db.begin_read().expect("read");
            let table = txn.open_table(RAW).expect("table");
            bytes += table
                .get(keys[i].as_str())
                .expect("get")
                .map_or(0, |v| owned(v.value()).len());
        }
        assert_eq!(bytes, order.len() * VALUE_LEN);
        raw_ns.push(ns_per(start, order.len()));
        so_ns.push(host_gets(&store, &keys, &order));
    }
    let ratio: Vec<f64> = so_ns.iter().zip(&raw_ns).map(|(a, b)| a / b).collect();
    rows.push(Row {
        scenario: "point get, redb".into(),
        metric: "ns/get".into(),
        baseline: ("raw redb, read txn per get".into(), median(&raw_ns)),
        candidate: ("redb .so via host".into(), median(&so_ns)),
        ratio: median(&ratio),
        target: Some(("<= 1.3".into(), median(&ratio) <= 1.3)),
        note: format!("{} keys, {}-byte values", sizes.get_keys, VALUE_LEN),
    });
    rows
}
