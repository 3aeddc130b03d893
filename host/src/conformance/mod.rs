//! The conformance suite: one behaviour list that every provider, every
//! host layer and every loaded library must pass.
//!
//! Each case is a plain `pub async fn` taking a store and named after the
//! behaviour it proves; it panics with a message naming the broken promise.
//! Cases make their own fresh store_ids (random suffix) and clean up, so
//! they run in parallel and against stores that already hold data. A case
//! that needs a capability is skipped when the provider does not declare it;
//! [`limits::undeclared_capabilities_are_unsupported`] checks that what is
//! not declared is really refused.
//!
//! Run it against your own provider library from a test crate:
//!
//! ```ignore
//! stateplug::conformance_tests!(|| {
//!     let path = stateplug::conformance::built_library("my-provider");
//!     let lib = stateplug::ProviderLibrary::load(&path).unwrap();
//!     (lib.open(&serde_json::json!({})).unwrap(), ())
//! });
//! ```
//!
//! or from the command line with `stateplug provider check <lib.so>`.

mod basic;
mod batches;
mod concurrency;
mod durability;
mod feed;
mod history;
mod limits;
mod model;
mod partitioning;
mod scans;
mod versions;

use std::{fmt::Debug, future::Future, pin::Pin, sync::Arc};

pub use basic::*;
pub use batches::*;
pub use concurrency::*;
pub use durability::*;
pub use feed::*;
pub use history::*;
pub use limits::*;
pub use model::*;
pub use partitioning::*;
pub use scans::*;
pub use versions::*;

use crate::store::{CapabilityFlags, ErrorKind, StateStore, StoreError, StoreResult};

/// A boxed case future.
pub type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One behaviour of the suite.
#[derive(Clone, Copy)]
pub struct Case {
    /// The behaviour's name (the function's name).
    pub name: &'static str,
    /// Capabilities the case needs; it is skipped without them.
    pub needs: CapabilityFlags,
    /// Runs the case.
    pub run: fn(Arc<dyn StateStore>) -> CaseFuture,
}

impl Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish()
    }
}

macro_rules! case {
    ($name:ident) => {
        case!($name, CapabilityFlags::NONE)
    };
    ($name:ident, $needs:expr) => {
        Case {
            name: stringify!($name),
            needs: $needs,
            run: |store| Box::pin($name(store)),
        }
    };
}

const CAS: CapabilityFlags = CapabilityFlags::COMPARE_AND_SET;
const TXN: CapabilityFlags = CapabilityFlags::TRANSACTIONS;
const SCANS: CapabilityFlags = CapabilityFlags::ORDERED_SCANS;

/// Every case that runs on an opened store, in a stable order.
/// ([`reopen_preserves_data`] needs a way to reopen and runs separately.)
pub const CASES: &[Case] = &[
    case!(round_trip),
    case!(overwrite_replaces_value),
    case!(missing_key_and_store_read_as_absent),
    case!(delete_returns_whether_key_existed),
    case!(contains_key_tracks_writes),
    case!(binary_empty_and_large_values_round_trip),
    case!(odd_keys_round_trip),
    case!(store_id_isolation),
    case!(clear_store_removes_one_store_and_counts),
    case!(listing_tracks_every_kind_of_write),
    case!(
        list_stores_lists_stores_with_keys,
        CapabilityFlags::LIST_STORES
    ),
    case!(get_many_skips_missing_keys),
    case!(set_many_writes_one_version),
    case!(delete_many_counts_existing_keys),
    case!(empty_batches_change_nothing),
    case!(versions_increase_and_are_never_reused, CAS),
    case!(cas_applies_on_matching_version, CAS),
    case!(cas_rejects_stale_version, CAS),
    case!(create_if_absent_refuses_existing_key, CAS),
    case!(compare_and_delete_checks_version, CAS),
    case!(transaction_applies_all_operations, TXN.union(CAS)),
    case!(transaction_failed_check_changes_nothing, TXN.union(CAS)),
    case!(scan_walks_in_order_by_pages, SCANS),
    case!(scan_descending_walks_in_reverse, SCANS),
    case!(scan_respects_prefix_boundaries, SCANS),
    case!(scan_respects_range_bounds, SCANS),
    case!(concurrent_cas_counter_is_exact, CAS),
    case!(concurrent_writers_to_distinct_keys_all_land),
    case!(limits_refuse_oversized_input),
    case!(empty_store_id_is_refused),
    case!(undeclared_capabilities_are_unsupported),
    case!(random_operations_match_a_model, TXN.union(CAS).union(SCANS)),
    case!(
        history_lists_versions_newest_first,
        CapabilityFlags::HISTORY
    ),
    case!(
        change_feed_reports_every_write_in_order,
        CapabilityFlags::CHANGE_FEED.union(TXN).union(CAS)
    ),
];

/// Finds a case by name.
pub fn case(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

/// Runs the named case against `store`, or prints why it is skipped.
/// Panics (fails the test) if the name is unknown or the case fails.
pub async fn run_case(name: &str, store: Arc<dyn StateStore>) {
    let Some(case) = case(name) else {
        panic!("no conformance case named {name}");
    };
    let missing = CapabilityFlags(case.needs.0 & !store.capabilities().flags.0);
    if missing != CapabilityFlags::NONE {
        println!(
            "skipped {name}: provider {} does not declare {:?}",
            store.info().name,
            missing.names()
        );
        return;
    }
    (case.run)(store).await;
}

/// The outcome of one case in [`run_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The behaviour holds.
    Passed,
    /// The provider does not declare what the case needs.
    Skipped(String),
    /// The behaviour is broken; the message says how.
    Failed(String),
}

/// Runs every case, each in its own task so a failure (a panic) is
/// reported and the rest still run. For command-line checkers.
pub async fn run_all(store: Arc<dyn StateStore>) -> Vec<(&'static str, Outcome)> {
    let mut report = Vec::with_capacity(CASES.len());
    for case in CASES {
        let missing = CapabilityFlags(case.needs.0 & !store.capabilities().flags.0);
        if missing != CapabilityFlags::NONE {
            report.push((
                case.name,
                Outcome::Skipped(format!("needs {}", missing.names().join(", "))),
            ));
            continue;
        }
        let outcome = outcome_of(tokio::spawn((case.run)(Arc::clone(&store))).await);
        report.push((case.name, outcome));
    }
    report
}

/// The outcome of a case run in its own task: a panic is a failure.
pub fn outcome_of(joined: Result<(), tokio::task::JoinError>) -> Outcome {
    match joined {
        Ok(()) => Outcome::Passed,
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the case panicked".to_string());
            Outcome::Failed(text)
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// The path of the `.so` built from crate `crate_name` (dashes or
/// underscores), for tests: cargo puts the libraries a test depends on, and
/// the library of the crate under test, beside the test binary or one
/// folder above it.
pub fn built_library(crate_name: &str) -> std::path::PathBuf {
    let file = format!("lib{}.so", crate_name.replace('-', "_"));
    let exe = std::env::current_exe().unwrap_or_default();
    let candidates: Vec<std::path::PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&file))
        .collect();
    match candidates.iter().find(|p| p.is_file()) {
        Some(found) => found.clone(),
        None => panic!(
            "{file} was not built next to the test binary (looked in {candidates:?}); \
             give the crate crate-type = [\"cdylib\", \"rlib\"] and make it a (dev-)dependency of the test"
        ),
    }
}

/// A store_id no other test uses: `conformance-<tag>-<random>`.
pub fn fresh_store_id(tag: &str) -> String {
    format!("conformance-{tag}-{:016x}", rand::random::<u64>())
}

/// Unwraps a store result, failing the case with the operation's error.
#[track_caller]
pub(crate) fn ok<T>(result: StoreResult<T>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

/// Asserts that `result` failed with `kind`, returning the error.
#[track_caller]
pub(crate) fn fails_with<T: Debug>(
    result: StoreResult<T>,
    kind: ErrorKind,
    what: &str,
) -> StoreError {
    match result {
        Ok(v) => panic!("{what}: expected a {kind} error, got Ok({v:?})"),
        Err(e) if e.kind() == kind => e,
        Err(e) => panic!("{what}: expected a {kind} error, got: {e}"),
    }
}

/// Generates one `#[tokio::test]` per conformance case, each opening a fresh
/// store with `$open`: a closure returning `(Arc<dyn StateStore>, guard)`,
/// where `guard` (a temp dir, say) lives until the test ends.
/// The calling crate needs `tokio` (with `macros`, `rt-multi-thread`).
#[macro_export]
macro_rules! conformance_tests {
    ($open:expr) => {
        $crate::conformance_tests!(@cases $open;
            round_trip, overwrite_replaces_value, missing_key_and_store_read_as_absent,
            delete_returns_whether_key_existed, contains_key_tracks_writes,
            binary_empty_and_large_values_round_trip, odd_keys_round_trip, store_id_isolation,
            clear_store_removes_one_store_and_counts, listing_tracks_every_kind_of_write,
            list_stores_lists_stores_with_keys, get_many_skips_missing_keys,
            set_many_writes_one_version, delete_many_counts_existing_keys,
            empty_batches_change_nothing, versions_increase_and_are_never_reused,
            cas_applies_on_matching_version, cas_rejects_stale_version,
            create_if_absent_refuses_existing_key, compare_and_delete_checks_version,
            transaction_applies_all_operations, transaction_failed_check_changes_nothing,
            scan_walks_in_order_by_pages, scan_descending_walks_in_reverse,
            scan_respects_prefix_boundaries, scan_respects_range_bounds,
            concurrent_cas_counter_is_exact, concurrent_writers_to_distinct_keys_all_land,
            limits_refuse_oversized_input, empty_store_id_is_refused,
            undeclared_capabilities_are_unsupported, random_operations_match_a_model,
            history_lists_versions_newest_first, change_feed_reports_every_write_in_order
        );
    };
    (@cases $open:expr; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, _guard) = ($open)();
                $crate::conformance::run_case(stringify!($name), store).await;
            }
        )*

        #[test]
        fn conformance_macro_lists_every_case() {
            let listed: &[&str] = &[$(stringify!($name)),*];
            let defined: Vec<&str> = $crate::conformance::CASES.iter().map(|c| c.name).collect();
            assert_eq!(listed, defined.as_slice(), "conformance_tests! is out of date with CASES");
        }
    };
}
