//! The TCP/TLS stream framer on arbitrary bytes: prefixes are `Incomplete`, frames keep their
//! body, chunked reads frame alike (`fuzz_checks::frame_stream`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_checks::frame_stream(data));
