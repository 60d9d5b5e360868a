//! The push settings in `[push_service]` (`<push_service>`): defaults, both forms onto one
//! `Config::push`, the refusals naming file, line and key, and the commented sample examples.

use std::path::Path;
use std::time::Duration;

use ferroswitch_config::{parse_toml, parse_xml, Config, ConfigError, HttpHook, PushSettings};

use crate::{assert_error, etc_dir, invalid};

/// `rest` from line 1, then a UDP listener (as in `toml_errors`).
fn toml(rest: &str) -> Result<Config, ConfigError> {
    let text = format!("{rest}\n[[listener]]\naddress = \"127.0.0.1:5060\"\n");
    parse_toml(&text, Path::new("etc/test.toml"))
}

/// Line 1 is `<voipswitch>`, lines 2-5 a SIP listener, `rest` from line 6 (as in `xml_errors`).
fn xml(rest: &str) -> Result<Config, ConfigError> {
    let text = format!(
        "<voipswitch>\n<listener type=\"sip\">\n<param name=\"ipaddr\" value=\"127.0.0.1\"/>\n\
         <param name=\"port\" value=\"5060\"/>\n</listener>\n{rest}\n</voipswitch>\n"
    );
    parse_xml(&text, Path::new("etc/voipswitch_config.xml"))
}

/// `[push_service]` on line 1, the hook's ipaddr and port on lines 2-3, `rest` from line 4.
fn toml_push(rest: &str) -> Result<Config, ConfigError> {
    toml(&format!(
        "[push_service]\nipaddr = \"192.0.2.10\"\nport = 81\n{rest}"
    ))
}

/// `<push_service>` on line 6, ipaddr and port params on lines 7-8, `params` one per line from
/// line 9.
fn xml_push(params: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut s = "<push_service>\n<param name=\"ipaddr\" value=\"192.0.2.10\"/>\n\
                 <param name=\"port\" value=\"81\"/>\n"
        .to_owned();
    for (name, value) in params {
        s.push_str(&format!("<param name=\"{name}\" value=\"{value}\"/>\n"));
    }
    xml(&(s + "</push_service>"))
}

#[track_caller]
fn loaded(result: Result<Config, ConfigError>) -> Config {
    result.unwrap_or_else(|e| panic!("{e}"))
}

/// Both forms load to the same model; returns it.
#[track_caller]
fn both(from_toml: Result<Config, ConfigError>, from_xml: Result<Config, ConfigError>) -> Config {
    let from_toml = loaded(from_toml);
    let mut from_xml = loaded(from_xml);
    from_xml.source.clone_from(&from_toml.source);
    assert_eq!(from_xml, from_toml);
    from_toml
}

#[test]
fn left_out_they_take_the_defaults() {
    let defaults = PushSettings::default();
    assert_eq!(defaults.timeout, Duration::from_secs(30));
    assert_eq!(defaults.delay, Duration::from_secs(3));
    assert_eq!(defaults.providers, ["apns", "fcm"]);
    assert_eq!(
        defaults.system_content_types,
        ["application/vnd.ferroswitch.command"]
    );
    assert_eq!(defaults.system_body_prefix, "");
    assert_eq!(defaults.max_in_flight, 64);
    // No push hook at all, and a hook without push keys.
    let config = both(toml(""), xml(""));
    assert_eq!((config.push_service, config.push), (None, defaults.clone()));
    let config = both(toml_push(""), xml_push(&[]));
    assert_eq!(config.push, defaults);
    assert_eq!(
        config.push_service,
        Some(HttpHook::new(
            "192.0.2.10",
            81,
            HttpHook::PUSH_SERVICE_DEFAULT
        ))
    );
}

#[test]
fn every_setting_is_read_in_both_forms() {
    // None of these keys was accepted before the push settings existed.
    let config = both(
        toml_push(
            "push_timeout = 120\npush_delay = 0\nproviders = [\"APNS\", \"webpush.example\"]\n\
             system_content_types = [\"Application/X-Cmd\", \"text/x-sys+json\"]\n\
             system_body_prefix = \"#cmd:\"\nmax_in_flight = 10000\nservice = \"push.ashx\"\n",
        ),
        xml_push(&[
            ("push-timeout", "120"),
            ("push-delay", "0"),
            ("providers", " APNS , webpush.example"),
            ("system-content-types", "Application/X-Cmd,text/x-sys+json"),
            ("system-body-prefix", "#cmd:"),
            ("max-in-flight", "10000"),
            ("service", "push.ashx"),
        ]),
    );
    let push = config.push;
    assert_eq!(push.timeout, Duration::from_secs(120));
    assert_eq!(push.delay, Duration::ZERO);
    assert_eq!(push.providers, ["apns", "webpush.example"], "lowercased");
    assert_eq!(
        push.system_content_types,
        ["application/x-cmd", "text/x-sys+json"],
        "lowercased"
    );
    assert_eq!(push.system_body_prefix, "#cmd:");
    assert_eq!(push.max_in_flight, 10000);
    // The hook's own keys still make the hook.
    assert_eq!(
        config.push_service,
        Some(HttpHook::new("192.0.2.10", 81, "push.ashx"))
    );
}

#[test]
fn range_bounds_are_accepted() {
    let config = both(
        toml_push("push_timeout = 5\npush_delay = 30\nmax_in_flight = 1\n"),
        xml_push(&[
            ("push-timeout", "5"),
            ("push-delay", "30"),
            ("max-in-flight", "1"),
        ]),
    );
    assert_eq!(
        (
            config.push.timeout,
            config.push.delay,
            config.push.max_in_flight
        ),
        (Duration::from_secs(5), Duration::from_secs(30), 1)
    );
    let config = both(
        toml_push("push_timeout = 300\nsystem_content_types = []\n"),
        xml_push(&[("push-timeout", "300"), ("system-content-types", "")]),
    );
    assert_eq!(config.push.timeout, Duration::from_secs(300));
    assert!(config.push.system_content_types.is_empty());
}

#[test]
fn toml_refusals_name_line_and_key() {
    for (rest, prefix, then) in [
        (
            "push_timeout = 4\n",
            "etc/test.toml:4: push_service.push_timeout: ",
            "must be 5 to 300 seconds, not 4",
        ),
        (
            "push_delay = 3\npush_timeout = 301\n",
            "etc/test.toml:5: push_service.push_timeout: ",
            "must be 5 to 300 seconds, not 301",
        ),
        (
            "push_delay = 31\n",
            "etc/test.toml:4: push_service.push_delay: ",
            "must be 0 to 30 seconds, not 31",
        ),
        (
            "push_delay = -1\n",
            "etc/test.toml:4: push_service.push_delay: ",
            "expected u32",
        ),
        (
            "push_timeout = \"30s\"\n",
            "etc/test.toml:4: push_service.push_timeout: ",
            "invalid type: string",
        ),
        (
            "max_in_flight = 0\n",
            "etc/test.toml:4: push_service.max_in_flight: ",
            "must be 1 to 10000, not 0",
        ),
        (
            "max_in_flight = 10001\n",
            "etc/test.toml:4: push_service.max_in_flight: ",
            "must be 1 to 10000, not 10001",
        ),
        (
            "providers = []\n",
            "etc/test.toml:4: push_service.providers: ",
            "at least one push provider is required",
        ),
        (
            "providers = [\n  \"apns\",\n  \"f cm\",\n]\n",
            "etc/test.toml:4: push_service.providers: ",
            "entry 2 (\"f cm\") is not an RFC 8599 pn-provider",
        ),
        (
            "providers = [\"\"]\n",
            "etc/test.toml:4: push_service.providers: ",
            "entry 1 (\"\") is not an RFC 8599 pn-provider",
        ),
        (
            "providers = [\"fcm\", \"apns\", \"APNS\"]\n",
            "etc/test.toml:4: push_service.providers: ",
            "apns is listed twice (entry 3)",
        ),
        (
            "providers = \"apns\"\n",
            "etc/test.toml:4: push_service.providers: ",
            "invalid type: string \"apns\", expected a sequence",
        ),
        (
            "system_content_types = [\"text/plain; charset=utf-8\"]\n",
            "etc/test.toml:4: push_service.system_content_types: ",
            "entry 1 (\"text/plain; charset=utf-8\") must be a media type without parameters",
        ),
        (
            "system_content_types = [\"text/plain\", \"command\"]\n",
            "etc/test.toml:4: push_service.system_content_types: ",
            "entry 2 (\"command\") is not a media type",
        ),
        (
            "system_content_types = [\"text/plain\", \"Text/Plain\"]\n",
            "etc/test.toml:4: push_service.system_content_types: ",
            "text/plain is listed twice (entry 2)",
        ),
        (
            "push_timout = 30\n",
            "etc/test.toml:4: push_service.push_timout: ",
            "unknown field `push_timout`",
        ),
    ] {
        assert_error(&invalid(toml_push(rest)), prefix, then);
    }
}

#[test]
fn xml_refusals_name_line_and_key() {
    for (params, prefix, then) in [
        (
            &[("push-timeout", "4")][..],
            "etc/voipswitch_config.xml:9: push_service.push-timeout: ",
            "must be 5 to 300 seconds, not 4",
        ),
        (
            &[("push-delay", "3"), ("push-timeout", "301")],
            "etc/voipswitch_config.xml:10: push_service.push-timeout: ",
            "must be 5 to 300 seconds, not 301",
        ),
        (
            &[("push-delay", "31")],
            "etc/voipswitch_config.xml:9: push_service.push-delay: ",
            "must be 0 to 30 seconds, not 31",
        ),
        (
            &[("push-timeout", "30s")],
            "etc/voipswitch_config.xml:9: push_service.push-timeout: ",
            "whole number of seconds",
        ),
        (
            &[("max-in-flight", "0")],
            "etc/voipswitch_config.xml:9: push_service.max-in-flight: ",
            "must be 1 to 10000, not 0",
        ),
        (
            &[("max-in-flight", "10001")],
            "etc/voipswitch_config.xml:9: push_service.max-in-flight: ",
            "must be 1 to 10000, not 10001",
        ),
        (
            &[("max-in-flight", "-1")],
            "etc/voipswitch_config.xml:9: push_service.max-in-flight: ",
            "expected an integer",
        ),
        (
            &[("providers", " , ")],
            "etc/voipswitch_config.xml:9: push_service.providers: ",
            "at least one push provider is required",
        ),
        (
            &[("providers", "apns,f_cm")],
            "etc/voipswitch_config.xml:9: push_service.providers: ",
            "entry 2 (\"f_cm\") is not an RFC 8599 pn-provider",
        ),
        (
            &[("providers", "APNS,fcm,apns")],
            "etc/voipswitch_config.xml:9: push_service.providers: ",
            "apns is listed twice (entry 3)",
        ),
        (
            &[("system-content-types", "text/plain;charset=utf-8")],
            "etc/voipswitch_config.xml:9: push_service.system-content-types: ",
            "must be a media type without parameters",
        ),
        (
            &[("system-content-types", "text/plain,command")],
            "etc/voipswitch_config.xml:9: push_service.system-content-types: ",
            "entry 2 (\"command\") is not a media type",
        ),
        (
            &[("push_timeout", "30")],
            "etc/voipswitch_config.xml:9: push_service param \"push_timeout\": ",
            "unknown parameter (expected one of ipaddr, port, username, password, service, \
             https, push-timeout, push-delay, providers, system-content-types, \
             system-body-prefix, max-in-flight)",
        ),
    ] {
        assert_error(&invalid(xml_push(params)), prefix, then);
    }
}

#[test]
fn push_settings_need_the_hook() {
    let e = invalid(toml("[push_service]\npush_timeout = 30\n"));
    assert_error(
        &e,
        "etc/test.toml:1: push_service: ",
        "missing field `ipaddr`",
    );
    let e = invalid(xml(
        "<push_service>\n<param name=\"push-timeout\" value=\"30\"/>\n</push_service>",
    ));
    assert_eq!(
        e,
        "etc/voipswitch_config.xml:6: push_service.ipaddr: required parameter is missing"
    );
}

#[test]
fn the_other_hooks_take_no_push_keys() {
    let e = invalid(toml(
        "[web_service]\nipaddr = \"192.0.2.10\"\nport = 81\npush_timeout = 30\n",
    ));
    assert_error(
        &e,
        "etc/test.toml:4: web_service.push_timeout: ",
        "unknown field `push_timeout`",
    );
    let e = invalid(xml(
        "<sms_service>\n<param name=\"ipaddr\" value=\"192.0.2.10\"/>\n\
                         <param name=\"port\" value=\"81\"/>\n\
                         <param name=\"providers\" value=\"apns\"/>\n</sms_service>",
    ));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:9: sms_service param \"providers\": ",
        "unknown parameter",
    );
}

/// The commented-out `[push_service]` block of the TOML sample, uncommented.
fn toml_push_example(sample: &str) -> String {
    let block: Vec<&str> = sample
        .lines()
        .skip_while(|l| *l != "# [push_service]")
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect();
    assert!(
        !block.is_empty(),
        "no `# [push_service]` block in the TOML sample"
    );
    block.join("\n") + "\n"
}

/// The `<push_service>` element inside a comment of the XML sample.
fn xml_push_example(sample: &str) -> &str {
    let start = sample
        .find("  <push_service>")
        .expect("no <push_service> example in the XML sample");
    let end = sample[start..].find("</push_service>").unwrap() + start + "</push_service>".len();
    &sample[start..end]
}

#[test]
fn commented_sample_examples_load_agree_and_state_the_defaults() {
    let toml_sample = std::fs::read_to_string(etc_dir().join("ferroswitch.toml")).unwrap();
    let xml_sample = std::fs::read_to_string(etc_dir().join("voipswitch_config.xml")).unwrap();
    let toml_text = format!("{toml_sample}\n{}", toml_push_example(&toml_sample));
    let xml_text = xml_sample.replace(
        "</voipswitch>",
        &format!("{}\n</voipswitch>", xml_push_example(&xml_sample)),
    );
    let config = both(
        parse_toml(&toml_text, &etc_dir().join("push.toml")),
        parse_xml(&xml_text, &etc_dir().join("push.xml")),
    );
    assert_eq!(
        config.push_service,
        Some(HttpHook::new(
            "192.0.2.10",
            81,
            HttpHook::PUSH_SERVICE_DEFAULT
        ))
    );
    assert_eq!(config.push, PushSettings::default());
    // Every push key is in both examples, so none is left undocumented.
    for key in [
        "push_timeout",
        "push_delay",
        "providers",
        "system_content_types",
        "system_body_prefix",
        "max_in_flight",
    ] {
        assert!(
            toml_push_example(&toml_sample).contains(&format!("\n{key} = ")),
            "{key} is not in the TOML example"
        );
        let xml_key = key.replace('_', "-");
        assert!(
            xml_push_example(&xml_sample).contains(&format!("<param name=\"{xml_key}\"")),
            "{xml_key} is not in the XML example"
        );
    }
}
