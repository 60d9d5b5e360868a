//! The `config_toml` and `config_xml` targets: the two config loaders on arbitrary text. They
//! return a validated `Config` or an error naming the file, a line of it and a key; never a
//! panic.

use std::path::Path;

use ferroswitch_config::{parse_toml, parse_xml, Config, ConfigError};

/// Where the text claims to come from: relative paths resolve under a directory that does not
/// exist, so a fuzzed config reads no file.
const TOML_PATH: &str = "/nonexistent-ferroswitch-fuzz/ferroswitch.toml";
const XML_PATH: &str = "/nonexistent-ferroswitch-fuzz/voipswitch_config.xml";

/// `parse_toml` on the input (UTF-8).
pub fn config_toml(data: &[u8]) {
    if let Some(text) = config_text(data) {
        check(text, Path::new(TOML_PATH), parse_toml);
    }
}

/// `parse_xml` on the input (UTF-8).
pub fn config_xml(data: &[u8]) {
    if let Some(text) = config_text(data) {
        check(text, Path::new(XML_PATH), parse_xml);
    }
}

/// The input as config text, unless it may name a device that never ends as the admin token
/// file: that key reads the file it names (`/dev/zero` would fill memory, `/proc/self/fd/0`
/// wait for a terminal), which a fuzzer must not make it do. Any other path names nothing:
/// relative ones resolve under a directory that does not exist.
fn config_text(data: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(data).ok()?;
    // a path into /dev or /proc, or an escape that could spell one (TOML \u, XML &# and entities)
    let endless = ["dev/", "proc/", "\\u", "\\U", "&#", "ENTITY"];
    let risky = text.contains("oken") && endless.iter().any(|d| text.contains(d));
    (!risky).then_some(text)
}

fn check(text: &str, path: &Path, parse: fn(&str, &Path) -> Result<Config, ConfigError>) {
    match parse(text, path) {
        Ok(config) => {
            valid(&config);
            assert_eq!(config.source, path);
            let again = parse(text, path).expect("the same text parses twice");
            assert_eq!(again, config, "two parses of the same text differ");
        }
        Err(ConfigError::Invalid {
            path: p,
            line,
            key,
            message,
        }) => {
            assert_eq!(p, path);
            // a line of the file (or the one after its end, for what is missing); a lone CR
            // counts as a line break for some parsers
            let lines = text.matches('\n').count() + text.matches('\r').count() + 1;
            assert!(
                (1..=lines).contains(&line),
                "line {line} of a {lines}-line text ({key}: {message})"
            );
            assert!(!key.is_empty(), "no key named: {message}");
            assert!(!message.is_empty(), "no message for {key}");
        }
        Err(e) => panic!("not an Invalid error: {e}"),
    }
}

/// What the shared validation promises of any config it lets through.
fn valid(c: &Config) {
    assert!(!c.listeners.is_empty(), "no SIP listener");
    let r = &c.registrar;
    assert!(
        r.min_expires <= r.default_expires && r.default_expires <= r.max_expires,
        "expiry out of order: {} {} {}",
        r.min_expires,
        r.default_expires,
        r.max_expires
    );
    assert!(r.min_expires >= 1 && r.nonce_lifetime >= 1);
    assert!(!r.realm.is_empty());
    assert!(!r
        .realm
        .chars()
        .any(|ch| matches!(ch, '"' | '\\') || ch.is_control()));
    assert!(!r.algorithms.is_empty());
    for (i, a) in r.algorithms.iter().enumerate() {
        assert!(!r.algorithms[..i].contains(a), "{a:?} twice");
    }
    if let Some(s) = &r.nonce_secret {
        assert!(s.len() >= 16);
    }
    if let Some(admin) = &c.admin {
        assert!(admin.listen.ip().is_loopback());
    }
    if let Some(m) = &c.media {
        assert!(m.port_min >= 1024 && m.port_min < m.port_max);
    }
}
