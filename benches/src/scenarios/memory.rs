//! Resident memory of N keys: a raw DashMap against the memory provider,
//! each filled in a child process of its own so that nothing else counts.

use std::process::Command;

use dashmap::DashMap;

use super::{key, runtime, value};
use crate::{measure, measure::median, report::Row, Sizes};

const VALUE_LEN: usize = 32;

/// Child mode: fill one structure with `keys` keys and print the growth of resident memory in KiB.
pub fn child(kind: &str, keys: usize) {
    let before = measure::rss_kib();
    match kind {
        "raw" => {
            let map: DashMap<String, Vec<u8>> = DashMap::new();
            for i in 0..keys {
                map.insert(key(i), value(i, VALUE_LEN));
            }
            println!("{}", measure::rss_kib().saturating_sub(before));
            std::hint::black_box(&map);
        }
        _ => {
            let store = stateplug::provider::open_in_process(
                stateplug_provider_memory::open_in_process,
                &serde_json::Value::Null,
            )
            .expect("memory in process");
            runtime().block_on(async {
                for chunk in (0..keys).collect::<Vec<_>>().chunks(5_000) {
                    let entries = chunk
                        .iter()
                        .map(|&i| (key(i), value(i, VALUE_LEN)))
                        .collect();
                    store.set_many("bench", entries).await.expect("set_many");
                }
            });
            println!("{}", measure::rss_kib().saturating_sub(before));
            std::hint::black_box(&store);
        }
    }
}

fn measure_child(kind: &str, keys: usize) -> f64 {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe)
        .args(["--rss-child", kind, &keys.to_string()])
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("child {kind} printed {text:?}"))
        / 1024.0
}

/// Memory rows.
pub fn run(sizes: &Sizes) -> Vec<Row> {
    let n = sizes.memory_keys;
    let (mut raw, mut provider) = (Vec::new(), Vec::new());
    for _ in 0..sizes.runs {
        raw.push(measure_child("raw", n));
        provider.push(measure_child("provider", n));
    }
    let ratio: Vec<f64> = provider.iter().zip(&raw).map(|(a, b)| a / b).collect();
    vec![Row {
        scenario: format!("{n} keys in memory"),
        metric: "resident MiB".into(),
        baseline: ("DashMap<String, Vec<u8>>".into(), median(&raw)),
        candidate: ("memory provider".into(), median(&provider)),
        ratio: median(&ratio),
        target: Some(("<= 1.5".into(), median(&ratio) <= 1.5)),
        note: format!("{VALUE_LEN}-byte values, 12-byte keys"),
    }]
}
