//! Arbitrary bytes as a pipeline configuration file: parsing and reading
//! the parsed configuration must never panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stateplug_tests::fuzz_input::parse_config(data);
});
