//! SDP on arbitrary bytes: parse, print, re-parse to the same model; the relay rewrites stay
//! parseable (`fuzz_checks::sdp_roundtrip`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_checks::sdp_roundtrip(data));
