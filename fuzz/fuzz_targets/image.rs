//! `cargo fuzz run image`: the invariants live in `rampart::fuzzing::image`, which the unit tests also
//! replay the committed corpus through.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart::fuzzing::image(data));
