//! `cargo fuzz run bearer`: the invariants live in `rampart::fuzzing::bearer`, which the unit tests also
//! replay the committed corpus through.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart::fuzzing::bearer(data));
