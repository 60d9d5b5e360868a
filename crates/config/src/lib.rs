//! The ferroswitch server configuration: loads a TOML file (the primary form) or voipswitch's
//! `voipswitch_config.xml` form onto one typed, validated [`Config`].
//!
//! This crate sits at the edge, used only by the `ferroswitch` binary; it depends on no other
//! crate of the workspace. Each format has a raw layer of its own (serde structs refusing
//! unknown keys for TOML, an element walk for XML) that builds the model and records the line of
//! each setting; one shared step then resolves relative paths against the config file's
//! directory, merges listeners and checks the rules that span several values. Every refusal is a
//! [`ConfigError::Invalid`] naming the file, the 1-based line and the key:
//!
//! ```text
//! etc/ferroswitch.toml:12: registrar.min_expires: invalid type: string "x", expected u32
//! etc/voipswitch_config.xml:7: listener[type=sip] param "prot": unknown parameter (expected one of ...)
//! ```
//!
//! No input makes it panic. The sample files under `etc/` document every key.

mod api;
mod cluster;
mod error;
mod model;
mod origin;
mod smtp;
mod toml_form;
mod trunks;
mod validate;
mod voicemail;
mod xml_form;

use std::path::Path;

pub use api::{ApiKey, ApiSettings};
pub use cluster::ClusterSettings;
pub use error::ConfigError;
pub use model::{
    AdminSettings, AdminToken, CallSettings, Config, ContactRouting, DatabaseSettings,
    DigestAlgorithm, DnsSettings, HttpHook, ListenerRole, LogFormat, LogSettings, MediaSettings,
    PushSettings, RegistrarSettings, SecuritySettings, ShardMerge, SipListener, StunSettings,
    TlsSettings, Transport, Trunk, UnknownName,
};
pub use origin::{parse_socket_addr, Advertise, Origin};
pub use smtp::{SmtpSecurity, SmtpSettings};
pub use voicemail::VoicemailSettings;

/// Reads and parses the file at `path`: XML when it ends in `.xml` (or, with another extension,
/// when its content starts with `<`), TOML otherwise.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let is_xml = match extension.as_deref() {
        Some("xml") => true,
        Some("toml") => false,
        _ => text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with('<'),
    };
    if is_xml {
        parse_xml(&text, path)
    } else {
        parse_toml(&text, path)
    }
}

/// Parses the TOML form. `path` names the file in errors, becomes [`Config::source`], and its
/// directory is where relative paths are resolved from.
pub fn parse_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
    toml_form::parse(text, path)
}

/// Parses the voipswitch XML form; `path` as for [`parse_toml`].
pub fn parse_xml(text: &str, path: &Path) -> Result<Config, ConfigError> {
    xml_form::parse(text, path)
}
