//! The TOML config loader on arbitrary text: a validated config or a file:line:key error, never a
//! panic (`fuzz_checks::config_toml`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_checks::config_toml(data));
