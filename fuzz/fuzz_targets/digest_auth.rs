//! `Authorization` / `Proxy-Authorization` digest credentials and challenges: parse, print,
//! re-parse; the registrar never accepts a made-up nonce and accepts genuine credentials exactly
//! when it should (`fuzz_checks::digest_auth`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_checks::digest_auth(data));
