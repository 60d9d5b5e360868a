//! `[calls]` and `[media]` (`<calls>`, `<media>`): defaults, and both forms onto one model.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ferroswitch_config::{parse_toml, parse_xml, CallSettings, Config, MediaSettings};

const TOML_LISTENER: &str = "[[listener]]\naddress = \"127.0.0.1:5060\"\n";
const XML_LISTENER: &str = "<listener type=\"sip\"><param name=\"ipaddr\" value=\"127.0.0.1\"/>\
                            <param name=\"port\" value=\"5060\"/></listener>";

fn toml(rest: &str) -> Config {
    parse_toml(&format!("{TOML_LISTENER}{rest}"), Path::new("t.toml"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn xml(rest: &str) -> Config {
    let text = format!("<voipswitch>{XML_LISTENER}\n{rest}\n</voipswitch>");
    parse_xml(&text, Path::new("t.xml")).unwrap_or_else(|e| panic!("{e}"))
}

/// `params` as `<param>` children of `<section>`.
fn element(section: &str, params: &[(&str, &str)]) -> String {
    let params: String = params
        .iter()
        .map(|(name, value)| format!("<param name=\"{name}\" value=\"{value}\"/>\n"))
        .collect();
    format!("<{section}>\n{params}</{section}>")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Both forms of one setting load to the same model; returns it.
#[track_caller]
fn both(toml_rest: &str, xml_rest: &str) -> Config {
    let from_toml = toml(toml_rest);
    let mut from_xml = xml(xml_rest);
    from_xml.source.clone_from(&from_toml.source);
    assert_eq!(from_xml, from_toml);
    from_toml
}

#[test]
fn left_out_they_take_the_defaults_and_no_relay() {
    let config = both("", "");
    assert_eq!(config.calls, CallSettings::default());
    assert_eq!(config.calls.call_timeout, Duration::from_secs(30));
    assert_eq!(config.calls.gateway_timeout, Duration::from_secs(5));
    assert_eq!(config.media, None);
    // Empty sections too.
    let config = both("[calls]\n", "<calls/>");
    assert_eq!(config.calls, CallSettings::default());
}

#[test]
fn media_with_only_a_public_address_takes_the_defaults() {
    let config = both(
        "[media]\npublic_address = \"203.0.113.10\"\n",
        &element("media", &[("public-ipaddr", "203.0.113.10")]),
    );
    let media = config.media.unwrap();
    assert_eq!(media, MediaSettings::new(ip("203.0.113.10")));
    assert_eq!(media.bind_address, ip("0.0.0.0"));
    assert_eq!((media.port_min, media.port_max), (20000, 30000));
    assert_eq!(media.inactivity_timeout, Duration::from_secs(60));
    assert!(!media.anchor_onnet);
    assert_eq!(media.advertised_address(), ip("203.0.113.10"));
}

#[test]
fn every_setting_is_read_in_both_forms() {
    let config = both(
        "[calls]\ncall_timeout = 600\ngateway_timeout = 1\nmax_duration = 7200\n\
         session_expires = 600\nmin_se = 120\n\
         [media]\npublic_address = \"2001:db8::10\"\nbind_address = \"::\"\nport_min = 1024\n\
         port_max = 1025\ninactivity_timeout = 3600\nanchor_onnet = true\n",
        &format!(
            "{}\n{}",
            element(
                "calls",
                &[
                    ("call-timeout", "600"),
                    ("gateway-timeout", "1"),
                    ("max-duration", "7200"),
                    ("session-expires", "600"),
                    ("min-se", "120"),
                ]
            ),
            element(
                "media",
                &[
                    ("public-ipaddr", "[2001:db8::10]"),
                    ("ipaddr", "::"),
                    ("port-min", "1024"),
                    ("port-max", "1025"),
                    ("inactivity-timeout", "3600"),
                    ("anchor-onnet", "true"),
                ]
            )
        ),
    );
    assert_eq!(config.calls.call_timeout, Duration::from_secs(600));
    assert_eq!(config.calls.gateway_timeout, Duration::from_secs(1));
    assert_eq!(config.calls.max_duration, Duration::from_secs(7200));
    assert_eq!(config.calls.session_expires, Duration::from_secs(600));
    assert_eq!(config.calls.min_se, Duration::from_secs(120));
    let media = config.media.unwrap();
    assert_eq!(media.public_address, Some(ip("2001:db8::10")));
    assert_eq!(media.bind_address, ip("::"));
    assert_eq!((media.port_min, media.port_max), (1024, 1025));
    assert_eq!(media.inactivity_timeout, Duration::from_secs(3600));
    assert!(media.anchor_onnet);
}

#[test]
fn security_settings_in_both_forms_with_defaults() {
    let config = both(
        "[security]\nauth_failures = 3\nauth_window = 10\nauth_ban = 900\n",
        &element(
            "security",
            &[
                ("auth-failures", "3"),
                ("auth-window", "10"),
                ("auth-ban", "900"),
            ],
        ),
    );
    assert_eq!(config.security.auth_failures, 3);
    assert_eq!(config.security.auth_window, Duration::from_secs(10));
    assert_eq!(config.security.auth_ban, Duration::from_secs(900));
    let defaults = both("", "");
    assert_eq!(
        defaults.security,
        ferroswitch_config::SecuritySettings::default()
    );
    assert_eq!(defaults.security.auth_failures, 10);
    assert_eq!(defaults.security.auth_window, Duration::from_secs(60));
    assert_eq!(defaults.security.auth_ban, Duration::from_secs(300));
}

#[test]
fn connection_and_flood_limits_in_both_forms_with_defaults() {
    let config = both(
        "[security]\nsource_rate = 50\nsource_ban = 30\nmessage_timeout = 5\n\
         unauthenticated_message_max = 4096\nbuffered_max_mb = 8\nconnections_per_ip = 10\n\
         idle_timeout = 20\n",
        &element(
            "security",
            &[
                ("source-rate", "50"),
                ("source-ban", "30"),
                ("message-timeout", "5"),
                ("unauthenticated-message-max", "4096"),
                ("buffered-max-mb", "8"),
                ("connections-per-ip", "10"),
                ("idle-timeout", "20"),
            ],
        ),
    );
    let s = &config.security;
    assert_eq!(s.source_rate, 50);
    assert_eq!(s.source_ban, Duration::from_secs(30));
    assert_eq!(s.message_timeout, Duration::from_secs(5));
    assert_eq!(s.unauthenticated_message_max, 4096);
    assert_eq!(s.buffered_max_mb, 8);
    assert_eq!(s.connections_per_ip, 10);
    assert_eq!(s.idle_timeout, Duration::from_secs(20));
    let d = both("", "").security;
    assert_eq!(d.source_rate, 200);
    assert_eq!(d.source_ban, Duration::from_secs(60));
    assert_eq!(d.message_timeout, Duration::from_secs(10));
    assert_eq!(d.unauthenticated_message_max, 16_384);
    assert_eq!(d.buffered_max_mb, 64);
    assert_eq!(d.connections_per_ip, 128);
    assert_eq!(d.idle_timeout, Duration::from_secs(60));
}

#[test]
fn a_specified_bind_address_is_advertised_when_no_public_one_is_given() {
    let config = both(
        "[media]\nbind_address = \"192.0.2.5\"\n",
        &element("media", &[("ipaddr", "192.0.2.5")]),
    );
    let media = config.media.unwrap();
    assert_eq!(media.public_address, None);
    assert_eq!(media.advertised_address(), ip("192.0.2.5"));
}

#[test]
fn ipv4_public_address_on_a_dual_stack_bind_is_accepted() {
    let config = both(
        "[media]\npublic_address = \"203.0.113.10\"\nbind_address = \"::\"\n",
        &element(
            "media",
            &[("public-ipaddr", "203.0.113.10"), ("ipaddr", "::")],
        ),
    );
    assert_eq!(config.media.unwrap().bind_address, ip("::"));
}

#[test]
fn odd_range_bounds_are_fine_while_a_pair_fits() {
    let config = both(
        "[media]\npublic_address = \"203.0.113.10\"\nport_min = 20001\nport_max = 20003\n",
        &element(
            "media",
            &[
                ("public-ipaddr", "203.0.113.10"),
                ("port-min", "20001"),
                ("port-max", "20003"),
            ],
        ),
    );
    let media = config.media.unwrap();
    assert_eq!((media.port_min, media.port_max), (20001, 20003));
}
