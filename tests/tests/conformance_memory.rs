//! The conformance suite against the memory provider loaded from its `.so`.

stateplug::conformance_tests!(stateplug_tests::memory_so);
