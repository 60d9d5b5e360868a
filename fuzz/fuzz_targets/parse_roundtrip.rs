//! `Message::parse` on arbitrary bytes: whatever parses prints and re-parses to an equal message,
//! and every typed view answers the same way both times (`fuzz_checks::parse_roundtrip`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_checks::parse_roundtrip(data));
