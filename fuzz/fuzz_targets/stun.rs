//! STUN on the media ports: `is_stun` and `answer` never panic and answer well-formed responses
//! (`fuzz_checks::stun`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_checks::stun(data));
