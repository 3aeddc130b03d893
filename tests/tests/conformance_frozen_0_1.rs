//! A provider built against an older interface keeps loading: the memory
//! provider of release 0.1, built against the frozen copy of provider-api
//! 0.1.0 (`tests/fixtures/frozen-0.1`), loads into this host and passes the
//! conformance suite for what it declares, through the loaded `.so`.

use stateplug::StateStore;

fn open() -> (std::sync::Arc<dyn StateStore>, ()) {
    let store = stateplug_tests::frozen_memory_0_1()
        .open(&serde_json::json!({}))
        .expect("open the 0.1 memory provider");
    (store, ())
}

stateplug::conformance_tests!(open);

#[test]
fn it_says_which_interface_it_was_built_against() {
    let library = stateplug_tests::frozen_memory_0_1();
    assert_eq!(library.info().interface_version, "0.1.0");
    assert_eq!(library.info().name, "memory");
    assert!(library
        .capabilities()
        .has(stateplug::CapabilityFlags::TRANSACTIONS));
}
