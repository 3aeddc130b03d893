//! Model-based checking: random operation sequences applied to a store and
//! to a `BTreeMap`, compared after every step (as redb's fuzzer does).

use std::{collections::BTreeMap, sync::Arc};

use rand::{rngs::StdRng, Rng, SeedableRng};

use super::{fresh_store_id, ok};
use crate::store::{Expected, Scan, StateStore, TxnOp};

/// How many distinct keys the generated operations name.
pub const MODEL_KEYS: u8 = 8;
/// How many distinct stores the generated operations name.
pub const MODEL_STORES: u8 = 2;

/// One generated operation. Stores and keys are small indexes so sequences
/// collide often; `stale` conditions are guaranteed not to match. Fields:
/// `store` and `key` index the generated store_ids and keys (modulo
/// [`MODEL_STORES`] and [`MODEL_KEYS`]), `value`s are the bytes written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ModelOp {
    /// `set`.
    Set { store: u8, key: u8, value: Vec<u8> },
    /// `delete`.
    Delete { store: u8, key: u8 },
    /// `set_many`.
    SetMany {
        store: u8,
        pairs: Vec<(u8, Vec<u8>)>,
    },
    /// `delete_many`.
    DeleteMany { store: u8, keys: Vec<u8> },
    /// `clear_store`.
    Clear { store: u8 },
    /// `compare_and_set` with the current state (`stale: false`) or a wrong one.
    Cas {
        store: u8,
        key: u8,
        value: Vec<u8>,
        stale: bool,
    },
    /// `compare_and_delete` with the current version or a wrong one.
    Cad { store: u8, key: u8, stale: bool },
    /// A transaction of puts (`Some`) and deletes (`None`), guarded by a check on `guard`.
    Txn {
        store: u8,
        writes: Vec<(u8, Option<Vec<u8>>)>,
        guard: u8,
        stale: bool,
    },
    /// A full paged scan by prefix `k<d>` (or all keys), compared with the model.
    Scan {
        store: u8,
        prefix_digit: Option<u8>,
        limit: u32,
        descending: bool,
    },
}

type Model = BTreeMap<(u8, String), (Vec<u8>, u64)>;

fn key_name(k: u8) -> String {
    format!("k{}", k % MODEL_KEYS)
}

fn store_ix(s: u8) -> u8 {
    s % MODEL_STORES
}

/// Applies `ops` to `store` and to a model, failing on the first divergence.
pub async fn check_against_model(store: &Arc<dyn StateStore>, ops: &[ModelOp]) {
    let ids: Vec<String> = (0..MODEL_STORES)
        .map(|i| fresh_store_id(&format!("model{i}")))
        .collect();
    let mut model = Model::new();
    let mut last_version = vec![0u64; MODEL_STORES as usize];
    for (step, op) in ops.iter().enumerate() {
        let what = format!("step {step}: {op:?}");
        let touched = apply(store, &ids, &mut model, &mut last_version, op, &what).await;
        compare(store, &ids[touched as usize], touched, &model, &what).await;
    }
    for id in &ids {
        ok(store.clear_store(id).await, "clear_store");
    }
}

fn current(model: &Model, s: u8, key: &str) -> Option<u64> {
    model.get(&(s, key.to_string())).map(|(_, v)| *v)
}

fn wrong(current: Option<u64>) -> Expected {
    match current {
        Some(v) => Expected::Version(v + 1_000_000),
        None => Expected::Version(1),
    }
}

fn record_version(last: &mut [u64], s: u8, v: u64, what: &str) {
    assert!(
        v > last[s as usize],
        "{what}: version {v} does not exceed the store's last version {}",
        last[s as usize]
    );
    last[s as usize] = v;
}

async fn apply(
    store: &Arc<dyn StateStore>,
    ids: &[String],
    model: &mut Model,
    last: &mut [u64],
    op: &ModelOp,
    what: &str,
) -> u8 {
    match op {
        ModelOp::Set {
            store: s,
            key,
            value,
        } => {
            let (s, key) = (store_ix(*s), key_name(*key));
            let v = ok(store.set(&ids[s as usize], &key, value.clone()).await, what);
            record_version(last, s, v, what);
            model.insert((s, key), (value.clone(), v));
            s
        }
        ModelOp::Delete { store: s, key } => {
            let (s, key) = (store_ix(*s), key_name(*key));
            let existed = ok(store.delete(&ids[s as usize], &key).await, what);
            assert_eq!(
                existed,
                model.remove(&(s, key)).is_some(),
                "{what}: delete's answer"
            );
            s
        }
        ModelOp::SetMany { store: s, pairs } => {
            let s = store_ix(*s);
            // Later duplicates win, as in sequential writes.
            let entries: Vec<(String, Vec<u8>)> = pairs
                .iter()
                .map(|(k, v)| (key_name(*k), v.clone()))
                .collect();
            let v = ok(
                store.set_many(&ids[s as usize], entries.clone()).await,
                what,
            );
            if !entries.is_empty() {
                record_version(last, s, v, what);
            }
            for (k, value) in entries {
                model.insert((s, k), (value, v));
            }
            s
        }
        ModelOp::DeleteMany { store: s, keys } => {
            let s = store_ix(*s);
            let mut names: Vec<String> = keys.iter().map(|k| key_name(*k)).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let n = ok(store.delete_many(&ids[s as usize], &refs).await, what);
            names.sort();
            names.dedup();
            let expected = names
                .into_iter()
                .filter(|k| model.remove(&(s, k.clone())).is_some())
                .count();
            assert_eq!(n, expected as u64, "{what}: delete_many's count");
            s
        }
        ModelOp::Clear { store: s } => {
            let s = store_ix(*s);
            let n = ok(store.clear_store(&ids[s as usize]).await, what);
            let before = model.len();
            model.retain(|(ms, _), _| *ms != s);
            assert_eq!(
                n,
                (before - model.len()) as u64,
                "{what}: clear_store's count"
            );
            s
        }
        ModelOp::Cas {
            store: s,
            key,
            value,
            stale,
        } => {
            let (s, key) = (store_ix(*s), key_name(*key));
            let cur = current(model, s, &key);
            let expected = if *stale {
                wrong(cur)
            } else {
                cur.map_or(Expected::Absent, Expected::Version)
            };
            let result = store
                .compare_and_set(&ids[s as usize], &key, expected, value.clone())
                .await;
            if *stale {
                assert!(
                    result.as_ref().is_err_and(|e| e.is_conflict()),
                    "{what}: stale cas must conflict: {result:?}"
                );
            } else {
                let v = ok(result, what);
                record_version(last, s, v, what);
                model.insert((s, key), (value.clone(), v));
            }
            s
        }
        ModelOp::Cad {
            store: s,
            key,
            stale,
        } => {
            let (s, key) = (store_ix(*s), key_name(*key));
            let cur = current(model, s, &key);
            let version = match (cur, *stale) {
                (Some(v), false) => v,
                (cur, _) => match wrong(cur) {
                    Expected::Version(v) => v,
                    Expected::Absent => 1,
                },
            };
            let result = store
                .compare_and_delete(&ids[s as usize], &key, version)
                .await;
            if cur.is_some() && !*stale {
                ok(result, what);
                model.remove(&(s, key));
            } else {
                assert!(
                    result.as_ref().is_err_and(|e| e.is_conflict()),
                    "{what}: must conflict: {result:?}"
                );
            }
            s
        }
        ModelOp::Txn {
            store: s,
            writes,
            guard,
            stale,
        } => {
            let s = store_ix(*s);
            let guard = key_name(*guard);
            let cur = current(model, s, &guard);
            let expected = if *stale {
                wrong(cur)
            } else {
                cur.map_or(Expected::Absent, Expected::Version)
            };
            let mut ops = vec![TxnOp::check(guard, expected)];
            for (k, w) in writes {
                ops.push(match w {
                    Some(v) => TxnOp::put(key_name(*k), v.clone()),
                    None => TxnOp::delete(key_name(*k)),
                });
            }
            let result = store.transaction(&ids[s as usize], ops).await;
            if *stale {
                assert!(
                    result.as_ref().is_err_and(|e| e.is_conflict()),
                    "{what}: stale check must conflict: {result:?}"
                );
            } else {
                let v = ok(result, what);
                if writes.iter().any(|(_, w)| w.is_some()) {
                    record_version(last, s, v, what);
                }
                for (k, w) in writes {
                    match w {
                        Some(value) => model.insert((s, key_name(*k)), (value.clone(), v)),
                        None => model.remove(&(s, key_name(*k))),
                    };
                }
            }
            s
        }
        ModelOp::Scan {
            store: s,
            prefix_digit,
            limit,
            descending,
        } => {
            let s = store_ix(*s);
            let prefix = prefix_digit.map_or(String::new(), |d| format!("k{}", d % 10));
            let mut scan = Scan::prefix(prefix.clone()).limit((*limit).clamp(1, 20));
            scan.descending = *descending;
            let rows = super::scans::walk(store, &ids[s as usize], scan).await;
            let mut expected: Vec<(String, Vec<u8>)> = model
                .iter()
                .filter(|((ms, k), _)| *ms == s && k.starts_with(&prefix))
                .map(|((_, k), (v, _))| (k.clone(), v.clone()))
                .collect();
            if *descending {
                expected.reverse();
            }
            assert_eq!(rows, expected, "{what}: scan");
            s
        }
    }
}

async fn compare(store: &Arc<dyn StateStore>, id: &str, s: u8, model: &Model, what: &str) {
    let keys = ok(store.list_keys(id).await, what);
    let expected: Vec<&String> = model
        .keys()
        .filter(|(ms, _)| *ms == s)
        .map(|(_, k)| k)
        .collect();
    assert_eq!(
        keys.iter().collect::<Vec<_>>(),
        expected,
        "{what}: list_keys differs from the model"
    );
    assert_eq!(
        ok(store.key_count(id).await, what),
        expected.len() as u64,
        "{what}: key_count"
    );
    assert_eq!(
        ok(store.store_exists(id).await, what),
        !expected.is_empty(),
        "{what}: store_exists"
    );
    for k in 0..MODEL_KEYS {
        let key = key_name(k);
        let got = ok(store.get_entry(id, &key).await, what).map(|e| (e.value, e.version));
        assert_eq!(
            got.as_ref(),
            model.get(&(s, key.clone())),
            "{what}: entry {key}"
        );
    }
}

/// Generates `len` random operations from `seed`.
pub fn random_ops(seed: u64, len: usize) -> Vec<ModelOp> {
    let mut rng = StdRng::seed_from_u64(seed);
    let value = |rng: &mut StdRng| -> Vec<u8> {
        (0..rng.random_range(0..6)).map(|_| rng.random()).collect()
    };
    (0..len)
        .map(|_| {
            let store = rng.random_range(0..MODEL_STORES);
            let key = rng.random_range(0..MODEL_KEYS);
            match rng.random_range(0..10) {
                0 | 1 => ModelOp::Set {
                    store,
                    key,
                    value: value(&mut rng),
                },
                2 => ModelOp::Delete { store, key },
                3 => ModelOp::SetMany {
                    store,
                    pairs: (0..rng.random_range(0..4))
                        .map(|_| (rng.random_range(0..MODEL_KEYS), value(&mut rng)))
                        .collect(),
                },
                4 => ModelOp::DeleteMany {
                    store,
                    keys: (0..rng.random_range(0..4))
                        .map(|_| rng.random_range(0..MODEL_KEYS))
                        .collect(),
                },
                5 if rng.random_range(0..4) == 0 => ModelOp::Clear { store },
                5 | 6 => ModelOp::Cas {
                    store,
                    key,
                    value: value(&mut rng),
                    stale: rng.random_bool(0.3),
                },
                7 => ModelOp::Cad {
                    store,
                    key,
                    stale: rng.random_bool(0.3),
                },
                8 => ModelOp::Txn {
                    store,
                    writes: (0..rng.random_range(0..4))
                        .map(|_| {
                            (
                                rng.random_range(0..MODEL_KEYS),
                                rng.random_bool(0.7).then(|| value(&mut rng)),
                            )
                        })
                        .collect(),
                    guard: key,
                    stale: rng.random_bool(0.3),
                },
                _ => ModelOp::Scan {
                    store,
                    prefix_digit: rng
                        .random_bool(0.5)
                        .then(|| rng.random_range(0..MODEL_KEYS)),
                    limit: rng.random_range(1..5),
                    descending: rng.random_bool(0.5),
                },
            }
        })
        .collect()
}

/// 300 random operations over 2 stores and 8 keys match a `BTreeMap` model
/// after every step.
pub async fn random_operations_match_a_model(store: Arc<dyn StateStore>) {
    let seed = rand::random::<u64>();
    eprintln!("random_operations_match_a_model seed {seed}");
    check_against_model(&store, &random_ops(seed, 300)).await;
}
