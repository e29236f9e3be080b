//! `cargo fuzz run forwarded_for`: the invariants live in `rampart::fuzzing::forwarded_for`, which the unit tests also
//! replay the committed corpus through.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart::fuzzing::forwarded_for(data));
