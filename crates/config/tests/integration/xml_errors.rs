//! XML refusals: each names the file, the 1-based line and the key.

use std::path::Path;

use ferroswitch_config::parse_xml;

use crate::{assert_error, invalid};

/// Line 1 is `<voipswitch>`, lines 2-5 a SIP listener on UDP 127.0.0.1:5060; `rest` starts on
/// line 6.
fn parse(rest: &str) -> String {
    let text = format!(
        "<voipswitch>\n<listener type=\"sip\">\n<param name=\"ipaddr\" value=\"127.0.0.1\"/>\n\
         <param name=\"port\" value=\"5060\"/>\n</listener>\n{rest}\n</voipswitch>\n"
    );
    invalid(parse_xml(&text, Path::new("etc/voipswitch_config.xml")))
}

/// A listener element on lines 6.. with the given params, one per line.
fn listener(kind: &str, params: &[(&str, &str)]) -> String {
    let mut s = format!("<listener type=\"{kind}\">\n");
    for (name, value) in params {
        s.push_str(&format!("<param name=\"{name}\" value=\"{value}\"/>\n"));
    }
    s + "</listener>"
}

#[test]
fn unknown_param_names_line_and_the_accepted_ones() {
    let e = parse(&listener(
        "sip",
        &[("ipaddr", "127.0.0.1"), ("prot", "5062")],
    ));
    assert_eq!(
        e,
        "etc/voipswitch_config.xml:8: listener[type=sip] param \"prot\": unknown parameter \
         (expected one of ipaddr, port, transport, advertise, allowed-origins, tls-certificate, tls-private-key, \
         tls-generate-self-signed)"
    );
}

#[test]
fn unknown_element_names_line_and_element() {
    let e = parse("\n<dialplan/>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:7: dialplan: ",
        "unknown element",
    );
    let e = parse("<log>\n<level value=\"info\"/>\n</log>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:7: log.level: ",
        "unknown element",
    );
    let e = invalid(parse_xml("<settings/>", Path::new("v.xml")));
    assert_error(&e, "v.xml:1: settings: ", "unknown root element");
}

#[test]
fn unknown_listener_type_and_missing_attributes() {
    let e = parse(&listener("media", &[]));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:6: listener[type=media]: ",
        "unknown listener type",
    );
    let e = parse("<listener>\n</listener>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:6: listener: ",
        "missing type attribute",
    );
    let e = parse("<log>\n<param name=\"level\"/>\n</log>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:7: log param \"level\": ",
        "missing value",
    );
    let e = parse("<log>\n<param value=\"info\"/>\n</log>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:7: log param: ",
        "missing name",
    );
}

#[test]
fn bad_values_name_line_and_key() {
    let e = parse(&listener("sip", &[("ipaddr", "127.0.0.1"), ("port", "x")]));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:8: listener[type=sip].port: ",
        "\"x\"",
    );
    let e = parse(&listener(
        "sip",
        &[("ipaddr", "127.0.0.1"), ("port", "65536")],
    ));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:8: listener[type=sip].port: ",
        "0 to 65535",
    );
    let e = parse(&listener(
        "stun",
        &[("ipaddr", "stun.example"), ("port", "3478")],
    ));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:7: listener[type=stun].ipaddr: ",
        "IP address",
    );
    let e = parse(&listener(
        "sip",
        &[
            ("ipaddr", "127.0.0.1"),
            ("port", "5062"),
            ("transport", "sctp"),
        ],
    ));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:9: listener[type=sip].transport: ",
        "sctp",
    );
    let e = parse("<registrar>\n<param name=\"min-expiration\" value=\"-1\"/>\n</registrar>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:7: registrar.min-expiration: ",
        "integer",
    );
    let e =
        parse("<registrar>\n<param name=\"algorithms\" value=\"SHA-256,SHA-1\"/>\n</registrar>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:7: registrar.algorithms: ",
        "SHA-1",
    );
    let e = parse("<web_service>\n<param name=\"ipaddr\" value=\"192.0.2.1\"/>\n<param name=\"port\" value=\"81\"/>\n<param name=\"https\" value=\"maybe\"/>\n</web_service>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:9: web_service.https: ",
        "true or false",
    );
}

#[test]
fn missing_required_param_names_the_element() {
    let e = parse(&listener("sip", &[("port", "5062")]));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:6: listener[type=sip].ipaddr: ",
        "required",
    );
}

#[test]
fn rules_across_values_name_the_xml_key() {
    // register-expiration below the default min-expiration of 60.
    let e = parse(&listener(
        "registrar",
        &[
            ("ipaddr", "127.0.0.1"),
            ("port", "5060"),
            ("register-expiration", "30"),
        ],
    ));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:9: listener[type=registrar].register-expiration: ",
        "max 30",
    );
    let e = parse("<registrar>\n<param name=\"realm\" value=\"\"/>\n</registrar>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:7: registrar.realm: ",
        "non-empty",
    );
    let e = parse(&listener(
        "sip",
        &[("ipaddr", "127.0.0.1"), ("port", "5060")],
    ));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:6: listener[type=sip]: ",
        "already defined at line 2",
    );
    let e = parse("<admin>\n<param name=\"ipaddr\" value=\"192.0.2.1\"/>\n<param name=\"port\" value=\"8080\"/>\n</admin>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:7: admin.ipaddr: ",
        "loopback",
    );
}

#[test]
fn tls_listener_without_certificate_is_refused() {
    let e = parse(&listener(
        "sip",
        &[
            ("ipaddr", "127.0.0.1"),
            ("port", "5061"),
            ("transport", "tls-tcp"),
        ],
    ));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:9: listener[type=sip].transport: ",
        "needs a certificate",
    );
}

#[test]
fn garbage_is_refused_without_panicking() {
    for text in [
        "",
        "<",
        "<voipswitch>",
        "<voipswitch><listener type=\"sip\"/></voipswitch>",
        "\u{0}<a/>",
        "<?xml?>",
    ] {
        assert!(
            parse_xml(text, Path::new("v.xml")).is_err(),
            "{text:?} was accepted"
        );
    }
}

/// A `<section>` element on lines 6.. with the given params, one per line (from line 7).
fn section(name: &str, params: &[(&str, &str)]) -> String {
    let mut s = format!("<{name}>\n");
    for (param, value) in params {
        s.push_str(&format!("<param name=\"{param}\" value=\"{value}\"/>\n"));
    }
    s + &format!("</{name}>")
}

#[test]
fn call_timers_out_of_range_name_line_and_key() {
    for (params, prefix, then) in [
        (
            &[("call-timeout", "4")][..],
            "etc/voipswitch_config.xml:7: calls.call-timeout: ",
            "must be 5 to 600 seconds, not 4",
        ),
        (
            &[("call-timeout", "601")],
            "etc/voipswitch_config.xml:7: calls.call-timeout: ",
            "5 to 600 seconds",
        ),
        (
            &[("call-timeout", "30s")],
            "etc/voipswitch_config.xml:7: calls.call-timeout: ",
            "whole number of seconds",
        ),
        (
            &[("call-timeout", "30"), ("gateway-timeout", "0")],
            "etc/voipswitch_config.xml:8: calls.gateway-timeout: ",
            "must be 1 to 60 seconds, not 0",
        ),
        (
            &[("gateway-timeout", "61")],
            "etc/voipswitch_config.xml:7: calls.gateway-timeout: ",
            "1 to 60 seconds",
        ),
        (
            &[("max-duration", "604801")],
            "etc/voipswitch_config.xml:7: calls.max-duration: ",
            "60 to 604800 seconds",
        ),
        (
            &[("message-timeout", "31")],
            "etc/voipswitch_config.xml:7: calls.message-timeout: ",
            "1 to 30 seconds",
        ),
        (
            &[("call_timeout", "30")],
            "etc/voipswitch_config.xml:7: calls param \"call_timeout\": ",
            "unknown parameter (expected one of call-timeout, gateway-timeout, max-duration, message-timeout, session-expires, min-se, billing)",
        ),
    ] {
        assert_error(&parse(&section("calls", params)), prefix, then);
    }
    assert_error(
        &parse(&section("security", &[("auth-failures", "0")])),
        "etc/voipswitch_config.xml:7: security.auth-failures: ",
        "must be 1 to 100000, not 0",
    );
    assert_error(
        &parse(&section(
            "security",
            &[("unauthenticated-message-max", "10")],
        )),
        "etc/voipswitch_config.xml:7: security.unauthenticated-message-max: ",
        "must be 1024 to 1114112, not 10",
    );
    assert_error(
        &parse(&section("security", &[("idle-timeout", "1")])),
        "etc/voipswitch_config.xml:7: security.idle-timeout: ",
        "must be 5 to 86400 seconds, not 1",
    );
}

#[test]
fn media_needs_an_address_to_advertise() {
    // Reported at the element, where public-ipaddr is missing.
    let e = parse(&section("media", &[("port-min", "20000")]));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:6: media.public-ipaddr: ",
        "required when the bind address is unspecified (0.0.0.0)",
    );
    let e = parse(&section("media", &[("ipaddr", "::")]));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:6: media.public-ipaddr: ",
        "unspecified (::)",
    );
    for (value, then) in [
        ("0.0.0.0", "cannot be advertised"),
        ("224.0.0.1", "cannot be advertised"),
        (
            "2001:db8::1",
            "not of the IP version of the bind address 0.0.0.0",
        ),
        ("relay.example", "expected an IP address"),
    ] {
        let e = parse(&section("media", &[("public-ipaddr", value)]));
        assert_error(
            &e,
            "etc/voipswitch_config.xml:7: media.public-ipaddr: ",
            then,
        );
    }
    let e = parse(&section(
        "media",
        &[("ipaddr", "2001:db8::2"), ("public-ipaddr", "192.0.2.1")],
    ));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:8: media.public-ipaddr: ",
        "not of the IP version",
    );
    let e = parse(&section(
        "media",
        &[("public-ipaddr", "192.0.2.1"), ("ipaddr", "239.1.1.1")],
    ));
    assert_error(
        &e,
        "etc/voipswitch_config.xml:8: media.ipaddr: ",
        "multicast",
    );
}

#[test]
fn media_ports_and_timer_are_checked() {
    let media = |params: &[(&str, &str)]| {
        let params = [&[("public-ipaddr", "192.0.2.1")][..], params].concat();
        parse(&section("media", &params))
    };
    for (params, prefix, then) in [
        (
            &[("port-min", "1023")][..],
            "etc/voipswitch_config.xml:8: media.port-min: ",
            "at least 1024, not 1023",
        ),
        (
            &[("port-min", "70000")],
            "etc/voipswitch_config.xml:8: media.port-min: ",
            "0 to 65535",
        ),
        (
            &[("port-max", "20000")],
            "etc/voipswitch_config.xml:8: media.port-max: ",
            "20000-20000 holds no RTP/RTCP pair",
        ),
        (
            &[("port-min", "40000")],
            "etc/voipswitch_config.xml:8: media.port-min: ",
            "40000-30000 holds no RTP/RTCP pair",
        ),
        (
            &[("port-min", "20001"), ("port-max", "20002")],
            "etc/voipswitch_config.xml:9: media.port-max: ",
            "no RTP/RTCP pair",
        ),
        (
            &[("inactivity-timeout", "4")],
            "etc/voipswitch_config.xml:8: media.inactivity-timeout: ",
            "must be 5 to 3600 seconds, not 4",
        ),
        (
            &[("inactivity-timeout", "3601")],
            "etc/voipswitch_config.xml:8: media.inactivity-timeout: ",
            "5 to 3600 seconds",
        ),
        (
            &[("anchor-onnet", "yes")],
            "etc/voipswitch_config.xml:8: media.anchor-onnet: ",
            "true or false",
        ),
        (
            &[("bind-address", "0.0.0.0")],
            "etc/voipswitch_config.xml:8: media param \"bind-address\": ",
            "unknown parameter (expected one of public-ipaddr, public-ipaddr-v6, ipaddr, port-min, port-max, \
             inactivity-timeout, anchor-onnet)",
        ),
    ] {
        assert_error(&media(params), prefix, then);
    }
    let e = parse("<media type=\"rtp\">\n</media>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:6: media: ",
        "unknown attribute \"type\"",
    );
    let e = parse("<calls/>\n<calls/>");
    assert_error(
        &e,
        "etc/voipswitch_config.xml:7: calls: ",
        "given twice (first at line 6)",
    );
}

#[test]
fn admin_token_file_and_token_rules() {
    let e = parse(
        "<admin>\n<param name=\"ipaddr\" value=\"127.0.0.1\"/>\n<param name=\"port\" value=\"8080\"/>\n\
         <param name=\"token\" value=\"short\"/>\n</admin>",
    );
    assert_error(&e, "etc/voipswitch_config.xml:9: admin", "at least 16");
}

#[test]
fn contact_routing_and_domain_are_checked() {
    assert_error(
        &parse(&section("registrar", &[("contact-routing", "sometimes")])),
        "etc/voipswitch_config.xml:7: registrar.contact-routing: ",
        "unknown contact routing \"sometimes\"",
    );
    assert_error(
        &parse(&section("registrar", &[("domain", "bad domain")])),
        "etc/voipswitch_config.xml:7: registrar.domain: ",
        "must be a host name or IP address",
    );
    let ok = format!(
        "<voipswitch>\n<listener type=\"sip\">\n<param name=\"ipaddr\" value=\"127.0.0.1\"/>\n\
         <param name=\"port\" value=\"5060\"/>\n</listener>\n{}\n</voipswitch>\n",
        section(
            "registrar",
            &[
                ("contact-routing", "always_flow"),
                ("domain", "sip.example.com")
            ]
        )
    );
    let c = parse_xml(&ok, Path::new("etc/voipswitch_config.xml")).unwrap();
    assert_eq!(
        c.registrar.contact_routing,
        ferroswitch_config::ContactRouting::AlwaysFlow
    );
    assert_eq!(c.registrar.domain.as_deref(), Some("sip.example.com"));
}
