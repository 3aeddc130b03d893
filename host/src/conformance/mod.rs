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
mod ttl;
mod versions;

use std::{fmt::Debug, future::Future, io::Write, pin::Pin, sync::Arc};

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
pub use ttl::*;
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

// Every case that runs on an opened store, in a stable order, with what it
// needs. ([`reopen_preserves_data`] needs a way to reopen and runs
// separately.) Written once, in `conformance_tests!`.
crate::conformance_tests!(@with_cases [@cases]);

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
    let missing = case.needs.without(store.capabilities().flags);
    if missing != CapabilityFlags::NONE {
        // Straight to the terminal: `cargo test` captures `println!`, and a
        // skipped case must show in its output, not pass as `ok` unseen.
        let _ = writeln!(
            std::io::stderr(),
            "conformance case {name} skipped: provider {} does not declare {}",
            store.info().name,
            missing.names().join(", ")
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
        let missing = case.needs.without(store.capabilities().flags);
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
/// store with `$open`: a closure (or function) returning
/// `(Arc<dyn StateStore>, guard)`, where `guard` is anything that must live
/// until the test ends (the `TempDir` holding a redb file, say; `()` if
/// nothing does). A case that needs a capability the store does not declare
/// passes, and says on the test output that it was skipped and why.
/// The calling crate needs `tokio` (with `macros`, `rt-multi-thread`).
///
/// The case list is written once, here; [`CASES`] is made from it too.
#[macro_export]
macro_rules! conformance_tests {
    ($open:expr) => {
        $crate::conformance_tests!(@with_cases [@tests $open]);
    };
    // The one list: each case and the capabilities it needs.
    (@with_cases [$($rule:tt)*]) => {
        $crate::conformance_tests!($($rule)* ;
            round_trip: NONE,
            overwrite_replaces_value: NONE,
            missing_key_and_store_read_as_absent: NONE,
            delete_returns_whether_key_existed: NONE,
            contains_key_tracks_writes: NONE,
            binary_empty_and_large_values_round_trip: NONE,
            odd_keys_round_trip: NONE,
            store_id_isolation: NONE,
            clear_store_removes_one_store_and_counts: NONE,
            listing_tracks_every_kind_of_write: NONE,
            list_stores_lists_stores_with_keys: LIST_STORES,
            get_many_skips_missing_keys: NONE,
            set_many_writes_one_version: NONE,
            delete_many_counts_existing_keys: NONE,
            empty_batches_change_nothing: NONE,
            a_write_that_changes_nothing_answers_revision_zero: NONE,
            versions_increase_and_are_never_reused: COMPARE_AND_SET,
            cas_applies_on_matching_version: COMPARE_AND_SET,
            cas_rejects_stale_version: COMPARE_AND_SET,
            create_if_absent_refuses_existing_key: COMPARE_AND_SET,
            compare_and_delete_checks_version: COMPARE_AND_SET,
            version_zero_is_refused_as_invalid: COMPARE_AND_SET,
            transaction_applies_all_operations: TRANSACTIONS | COMPARE_AND_SET,
            transaction_failed_check_changes_nothing: TRANSACTIONS | COMPARE_AND_SET,
            scan_walks_in_order_by_pages: ORDERED_SCANS,
            scan_descending_walks_in_reverse: ORDERED_SCANS,
            scan_respects_prefix_boundaries: ORDERED_SCANS,
            scan_respects_range_bounds: ORDERED_SCANS,
            concurrent_cas_counter_is_exact: COMPARE_AND_SET,
            concurrent_writers_to_distinct_keys_all_land: NONE,
            concurrent_writes_answer_as_if_alone: NONE,
            limits_refuse_oversized_input: NONE,
            empty_store_id_is_refused: NONE,
            undeclared_capabilities_are_unsupported: NONE,
            random_operations_match_a_model: TRANSACTIONS | COMPARE_AND_SET | ORDERED_SCANS,
            history_lists_versions_newest_first: HISTORY,
            change_feed_reports_every_write_in_order: CHANGE_FEED | TRANSACTIONS | COMPARE_AND_SET,
            expired_keys_are_absent_from_every_read: TTL,
            expired_keys_are_absent_to_writes: TTL,
            a_put_without_ttl_clears_the_expiry: TTL,
            transaction_puts_may_carry_a_ttl: TTL | TRANSACTIONS | COMPARE_AND_SET,
            zero_ttl_is_refused: TTL,
            concurrent_puts_with_a_ttl_all_land: TTL,
            expiries_answer_when_each_key_expires: TTL,
            expiry_is_reported_by_the_change_feed: TTL | CHANGE_FEED,
            expiry_feed_reports_each_removal_and_nothing_else: TTL | EXPIRY_FEED,
        );
    };
    (@cases ; $($name:ident : $($need:ident)|+),* $(,)?) => {
        /// Every case that runs on an opened store, in a stable order.
        pub const CASES: &[Case] = &[$(
            Case {
                name: stringify!($name),
                needs: $crate::CapabilityFlags(0 $(| $crate::CapabilityFlags::$need.0)+),
                run: |store| Box::pin($name(store)),
            }
        ),*];
    };
    (@tests $open:expr ; $($name:ident : $($need:ident)|+),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, _guard) = ($open)();
                $crate::conformance::run_case(stringify!($name), store).await;
            }
        )*
    };
}
