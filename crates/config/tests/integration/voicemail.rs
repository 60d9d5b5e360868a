//! `[voicemail]` (`<voicemail>`): defaults, both forms onto one model, refusals naming the
//! file, line and key.

use std::path::Path;
use std::time::Duration;

use ferroswitch_config::{parse_toml, parse_xml, Config, VoicemailSettings};

const TOML_LISTENER: &str = "[[listener]]\naddress = \"127.0.0.1:5060\"\n";
const XML_LISTENER: &str = "<listener type=\"sip\"><param name=\"ipaddr\" value=\"127.0.0.1\"/>\
                            <param name=\"port\" value=\"5060\"/></listener>";

fn toml(rest: &str) -> Result<Config, String> {
    parse_toml(
        &format!("{TOML_LISTENER}{rest}"),
        Path::new("/etc/fs/t.toml"),
    )
    .map_err(|e| e.to_string())
}

fn xml(rest: &str) -> Result<Config, String> {
    let text = format!("<voipswitch>{XML_LISTENER}\n{rest}\n</voipswitch>");
    parse_xml(&text, Path::new("/etc/fs/t.xml")).map_err(|e| e.to_string())
}

#[test]
fn off_by_default_with_its_directory_beside_the_database() {
    let c = toml("").unwrap();
    assert!(!c.voicemail.enabled);
    assert_eq!(c.voicemail.max_message, Duration::from_secs(120));
    assert_eq!(c.voicemail.silence_timeout, Duration::from_secs(5));
    assert_eq!(c.voicemail.access_prefixes, ["", "onnet"]);
    assert_eq!(c.voicemail.prompts, None);
    assert_eq!(
        c.voicemail.directory,
        Path::new("/etc/fs/data/voicemail"),
        "{:?}",
        c.database.url
    );
    let c = toml("[database]\ndata_dir = \"/var/lib/fs\"\n").unwrap();
    assert_eq!(c.voicemail.directory, Path::new("/var/lib/fs/voicemail"));
    assert_eq!(
        xml("").unwrap().voicemail,
        toml("").unwrap().voicemail,
        "the same defaults in both forms"
    );
}

#[test]
fn both_forms_load_the_same_settings() {
    let t = toml(
        "[voicemail]\nenabled = true\ndirectory = \"vm\"\nprompts = \"/p\"\nmax_message = 60\n\
         silence_timeout = 3\naccess_prefixes = [\"\", \"onnet\", \"int\"]\n",
    )
    .unwrap();
    let x = xml(
        "<voicemail><param name=\"enabled\" value=\"true\"/><param name=\"directory\" value=\"vm\"/>\
         <param name=\"prompts\" value=\"/p\"/><param name=\"max-message\" value=\"60\"/>\
         <param name=\"silence-timeout\" value=\"3\"/>\
         <param name=\"access-prefixes\" value=\",onnet, int\"/></voicemail>",
    )
    .unwrap();
    assert_eq!(t.voicemail, x.voicemail);
    let v: &VoicemailSettings = &t.voicemail;
    assert!(v.enabled);
    assert_eq!(v.directory, Path::new("/etc/fs/vm"));
    assert_eq!(v.prompts.as_deref(), Some(Path::new("/p")));
    assert_eq!(v.max_message, Duration::from_secs(60));
    assert_eq!(v.silence_timeout, Duration::from_secs(3));
    assert_eq!(v.access_prefixes, ["", "onnet", "int"]);
}

#[test]
fn bad_values_name_the_file_line_and_key() {
    let e = toml("[voicemail]\nenabled = true\nmax_message = 2\n").unwrap_err();
    assert_eq!(
        e,
        "/etc/fs/t.toml:5: voicemail.max_message: must be 5 to 3600 seconds, not 2"
    );
    let e = toml("[voicemail]\nsilence_timeout = 90\n").unwrap_err();
    assert!(
        e.starts_with("/etc/fs/t.toml:4: voicemail.silence_timeout:"),
        "{e}"
    );
    let e = toml("[voicemail]\naccess_prefixes = [\"on-net\"]\n").unwrap_err();
    assert!(
        e.starts_with("/etc/fs/t.toml:4: voicemail.access_prefixes: \"on-net\" is not a prefix"),
        "{e}"
    );
    let e = toml("[voicemail]\ndirectory = \"\"\n").unwrap_err();
    assert!(
        e.starts_with("/etc/fs/t.toml:4: voicemail.directory: must not be empty"),
        "{e}"
    );
    let e = toml("[voicemail]\ngreeting = 1\n").unwrap_err();
    assert!(e.contains("voicemail") && e.contains("greeting"), "{e}");
    let e = xml("<voicemail><param name=\"max-message\" value=\"9999\"/></voicemail>").unwrap_err();
    assert!(
        e.starts_with("/etc/fs/t.xml:2: voicemail.max-message: must be 5 to 3600"),
        "{e}"
    );
    let e = xml("<voicemail><param name=\"greeting\" value=\"x\"/></voicemail>").unwrap_err();
    assert!(e.contains("greeting"), "{e}");
}
