//! Integration tests of `ferroswitch-config`: the sample files, error positions per format, XML
//! listener semantics, calls and media settings, push settings, the SMS hook, and path resolution, all through the public API.

mod advertise;
mod api;
mod calls_media;
mod cluster;
mod paths;
mod push;
mod samples;
mod shutdown;
mod sms_hook;
mod toml_errors;
mod trunks;
mod voicemail;
mod websocket;
mod xml_errors;
mod xml_semantics;

use std::path::{Path, PathBuf};

use ferroswitch_config::ConfigError;

/// The workspace's `etc/` directory of sample configs.
fn etc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc")
}

/// The error's text, asserting it is an `Invalid` one.
fn invalid(result: Result<ferroswitch_config::Config, ConfigError>) -> String {
    match result {
        Err(e @ ConfigError::Invalid { .. }) => e.to_string(),
        Err(e) => panic!("expected ConfigError::Invalid, got {e:?}"),
        Ok(config) => panic!("expected an error, got {config:#?}"),
    }
}

/// Asserts the error starts with `prefix` (file, line and key) and then mentions `then`.
#[track_caller]
fn assert_error(error: &str, prefix: &str, then: &str) {
    assert!(
        error.starts_with(prefix),
        "error {error:?} should start with {prefix:?}"
    );
    assert!(
        error[prefix.len()..].contains(then),
        "error {error:?} should mention {then:?}"
    );
}
mod smtp;
