//! Model-based property test: random operation sequences applied to each
//! provider (through its `.so`) and to a `BTreeMap`, compared after every step.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use stateplug::conformance::{check_against_model, ModelOp, MODEL_KEYS, MODEL_STORES};

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..6)
}

fn op() -> impl Strategy<Value = ModelOp> {
    let store = 0..MODEL_STORES;
    let key = 0..MODEL_KEYS;
    prop_oneof![
        3 => (store.clone(), key.clone(), value()).prop_map(|(store, key, value)| ModelOp::Set { store, key, value }),
        1 => (store.clone(), key.clone()).prop_map(|(store, key)| ModelOp::Delete { store, key }),
        1 => (store.clone(), prop::collection::vec((key.clone(), value()), 0..4))
            .prop_map(|(store, pairs)| ModelOp::SetMany { store, pairs }),
        1 => (store.clone(), prop::collection::vec(key.clone(), 0..4))
            .prop_map(|(store, keys)| ModelOp::DeleteMany { store, keys }),
        1 => store.clone().prop_map(|store| ModelOp::Clear { store }),
        2 => (store.clone(), key.clone(), value(), any::<bool>())
            .prop_map(|(store, key, value, stale)| ModelOp::Cas { store, key, value, stale }),
        1 => (store.clone(), key.clone(), any::<bool>()).prop_map(|(store, key, stale)| ModelOp::Cad { store, key, stale }),
        2 => (store.clone(), prop::collection::vec((key.clone(), prop::option::of(value())), 0..4), key.clone(), any::<bool>())
            .prop_map(|(store, writes, guard, stale)| ModelOp::Txn { store, writes, guard, stale }),
        1 => (store, prop::option::of(0..MODEL_KEYS), 1..5u32, any::<bool>())
            .prop_map(|(store, prefix_digit, limit, descending)| ModelOp::Scan { store, prefix_digit, limit, descending }),
    ]
}

fn run(store: std::sync::Arc<dyn stateplug::StateStore>, ops: Vec<ModelOp>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(check_against_model(&store, &ops));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn memory_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        run(stateplug_tests::memory_so().0, ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn redb_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let (store, _dir) = stateplug_tests::redb_so();
        run(store, ops);
    }
}
