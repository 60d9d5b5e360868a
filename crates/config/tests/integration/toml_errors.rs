//! TOML refusals: each names the file, the 1-based line and the key.

use std::path::Path;

use ferroswitch_config::parse_toml;

use crate::{assert_error, invalid};

/// `rest` from line 1, then a UDP listener on 127.0.0.1:5060 (the last `listener[..]`).
fn parse(rest: &str) -> String {
    let text = format!("{rest}\n[[listener]]\naddress = \"127.0.0.1:5060\"\n");
    invalid(parse_toml(&text, Path::new("etc/test.toml")))
}

#[test]
fn unknown_key_names_line_and_key() {
    let e = parse("[registrar]\nrealm = \"x\"\nmin_expire = 60\n");
    assert_error(
        &e,
        "etc/test.toml:3: registrar.min_expire: ",
        "unknown field `min_expire`",
    );
}

#[test]
fn unknown_section_and_top_level_key_are_refused() {
    let e = parse("\n[regsitrar]\nrealm = \"x\"\n");
    assert_error(&e, "etc/test.toml:2: regsitrar: ", "unknown field");
    let e = parse("node = \"a\"\n");
    assert_error(&e, "etc/test.toml:1: node: ", "unknown field");
    let e = parse("[[listener]]\naddress = \"127.0.0.1:5062\"\nproto = \"udp\"\n");
    assert_error(&e, "etc/test.toml:3: listener[0].proto: ", "unknown field");
}

#[test]
fn wrong_value_type_names_line_and_key() {
    let e = parse("[registrar]\nmin_expires = \"x\"\n");
    assert_eq!(
        e,
        "etc/test.toml:2: registrar.min_expires: invalid type: string \"x\", expected u32"
    );
}

#[test]
fn out_of_range_values_name_line_and_key() {
    let e = parse("[registrar]\nmax_expires = -5\n");
    assert_error(
        &e,
        "etc/test.toml:2: registrar.max_expires: ",
        "expected u32",
    );
    let e = parse("[web_service]\nipaddr = \"192.0.2.1\"\nport = 70000\n");
    assert_error(&e, "etc/test.toml:3: web_service.port: ", "expected u16");
    let e = parse("[[listener]]\naddress = \"127.0.0.1:65536\"\n");
    assert_error(
        &e,
        "etc/test.toml:2: listener[0].address: ",
        "port 65536 is out of range",
    );
    let e = parse("[registrar]\nmin_expires = 0\n");
    assert_error(&e, "etc/test.toml:2: registrar.min_expires: ", "at least 1");
}

#[test]
fn min_above_max_names_the_setting_given() {
    let e = parse("[registrar]\nmin_expires = 4000\nmax_expires = 3000\n");
    assert_error(&e, "etc/test.toml:2: registrar.min_expires: ", "min 4000");
    // Only max given: it is the one at fault against the default min of 60.
    let e = parse("[registrar]\nmax_expires = 30\n");
    assert_error(&e, "etc/test.toml:2: registrar.max_expires: ", "max 30");
    let e = parse("[registrar]\ndefault_expires = 10\n");
    assert_error(
        &e,
        "etc/test.toml:2: registrar.default_expires: ",
        "need min <= default <= max",
    );
}

#[test]
fn bad_names_are_refused() {
    let e = parse("[registrar]\nalgorithms = [\"SHA-256\", \"SHA-512\"]\n");
    assert_error(
        &e,
        "etc/test.toml:2: registrar.algorithms[1]: ",
        "unknown digest algorithm",
    );
    let e = parse("[registrar]\nalgorithms = []\n");
    assert_error(
        &e,
        "etc/test.toml:2: registrar.algorithms: ",
        "at least one",
    );
    let e = parse("[registrar]\nalgorithms = [\"MD5\", \"md5\"]\n");
    assert_error(&e, "etc/test.toml:2: registrar.algorithms: ", "twice");
    let e = parse("[[listener]]\naddress = \"127.0.0.1:5070\"\ntransport = \"sctp\"\n");
    assert_error(
        &e,
        "etc/test.toml:3: listener[0].transport: ",
        "unknown transport \"sctp\"",
    );
    let e = parse("[log]\nformat = \"xml\"\n");
    assert_error(&e, "etc/test.toml:2: log.format: ", "unknown log format");
    let e = parse("[log]\nlevel = \"ferroswitch=loud\"\n");
    assert_error(
        &e,
        "etc/test.toml:2: log.level: ",
        "invalid filter directive",
    );
    let e = parse("trusted_peers = [\"127.0.0.1\", \"localhost\"]\n");
    assert_error(
        &e,
        "etc/test.toml:1: trusted_peers[1]: ",
        "invalid IP address",
    );
}

#[test]
fn tls_listener_without_tls_section_is_refused() {
    let e = parse("[[listener]]\naddress = \"127.0.0.1:5061\"\ntransport = \"tls\"\n");
    assert_error(
        &e,
        "etc/test.toml:3: listener[0].transport: ",
        "needs a certificate",
    );
}

#[test]
fn listeners_on_one_socket_are_refused() {
    let e = parse("[[listener]]\naddress = \"127.0.0.1:5060\"\ntransport = \"udp\"\n");
    assert_error(
        &e,
        "etc/test.toml:6: listener[1].address: ",
        "already defined at line 2",
    );
    let text = "[[listener]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:5060\"\n\
                [[listener]]\ntransport = \"tls\"\naddress = \"127.0.0.1:5060\"\n\
                [tls]\ncertificate = \"c.pem\"\n";
    let e = invalid(parse_toml(text, Path::new("t.toml")));
    assert_error(
        &e,
        "t.toml:6: listener[1].address: ",
        "both are TCP sockets",
    );
}

#[test]
fn listeners_are_required() {
    let e = invalid(parse_toml("node_id = \"a\"\n", Path::new("t.toml")));
    assert_error(&e, "t.toml:1: listener: ", "at least one SIP listener");
}

#[test]
fn other_rules_name_their_key() {
    let e = parse("node_id = \"node 1\"\n");
    assert_error(&e, "etc/test.toml:1: node_id: ", "letters, digits");
    let e = parse("[registrar]\nrealm = \"\"\n");
    assert_error(&e, "etc/test.toml:2: registrar.realm: ", "non-empty");
    let e = parse("[registrar]\nnonce_secret = \"short\"\n");
    assert_error(
        &e,
        "etc/test.toml:2: registrar.nonce_secret: ",
        "at least 16",
    );
    let e = parse("[database]\nurl = \"postgres://u:pw@db/fs\"\n");
    assert_error(
        &e,
        "etc/test.toml:2: database.url: ",
        "unsupported database URL scheme",
    );
    assert!(!e.contains("pw@"), "the URL may hold a password: {e}");
    let e = parse("[admin]\nlisten = \"0.0.0.0:8080\"\n");
    assert_error(
        &e,
        "etc/test.toml:2: admin.listen: ",
        "not a loopback address",
    );
    let e = parse("[push_service]\nipaddr = \"192.0.2.1\"\nport = 0\n");
    assert_error(&e, "etc/test.toml:3: push_service.port: ", "1 to 65535");
    let e = parse("[tls]\nprivate_key = \"k.pem\"\n");
    assert_error(&e, "etc/test.toml:1: tls: ", "missing field `certificate`");
}

#[test]
fn garbage_is_refused_without_panicking() {
    for text in [
        "\u{0}",
        "[[listener]\n",
        "a = [",
        "= 1",
        "[listener]\naddress=1",
        "\u{feff}x",
    ] {
        assert!(
            parse_toml(text, Path::new("t.toml")).is_err(),
            "{text:?} was accepted"
        );
    }
}

#[test]
fn call_timers_out_of_range_name_line_and_key() {
    for (rest, prefix, then) in [
        (
            "[calls]\ncall_timeout = 4\n",
            "etc/test.toml:2: calls.call_timeout: ",
            "must be 5 to 600 seconds, not 4",
        ),
        (
            "[calls]\ncall_timeout = 601\n",
            "etc/test.toml:2: calls.call_timeout: ",
            "5 to 600 seconds",
        ),
        (
            "[calls]\ncall_timeout = -1\n",
            "etc/test.toml:2: calls.call_timeout: ",
            "expected u32",
        ),
        (
            "[calls]\ncall_timeout = \"30s\"\n",
            "etc/test.toml:2: calls.call_timeout: ",
            "invalid type: string",
        ),
        (
            "[calls]\ngateway_timeout = 0\n",
            "etc/test.toml:2: calls.gateway_timeout: ",
            "must be 1 to 60 seconds, not 0",
        ),
        (
            "[calls]\nmin_se = 0\n",
            "etc/test.toml:2: calls.min_se: ",
            "must be 1 to 86400 seconds, not 0",
        ),
        (
            // below the (default) Min-SE of 90 s
            "[calls]\nsession_expires = 60\n",
            "etc/test.toml:2: calls.session_expires: ",
            "must be 90 to 86400 seconds, not 60",
        ),
        (
            "[calls]\nmin_se = 2\nsession_expires = 1\n",
            "etc/test.toml:3: calls.session_expires: ",
            "must be 2 to 86400 seconds, not 1",
        ),
        (
            "[calls]\ncall_timeout = 30\ngateway_timeout = 61\n",
            "etc/test.toml:3: calls.gateway_timeout: ",
            "1 to 60 seconds",
        ),
        (
            "[calls]\nmax_duration = 59\n",
            "etc/test.toml:2: calls.max_duration: ",
            "must be 60 to 604800 seconds, not 59",
        ),
        (
            "[calls]\nmessage_timeout = 0\n",
            "etc/test.toml:2: calls.message_timeout: ",
            "must be 1 to 30 seconds, not 0",
        ),
        (
            "[calls]\nring_timeout = 30\n",
            "etc/test.toml:2: calls.ring_timeout: ",
            "unknown field `ring_timeout`",
        ),
    ] {
        assert_error(&parse(rest), prefix, then);
    }
}

#[test]
fn media_needs_an_address_to_advertise() {
    // Reported at the section, where public_address is missing.
    let e = parse("# relay\n[media]\nport_min = 20000\n");
    assert_error(
        &e,
        "etc/test.toml:2: media.public_address: ",
        "required when the bind address is unspecified (0.0.0.0)",
    );
    let e = parse("[media]\nbind_address = \"::\"\n");
    assert_error(
        &e,
        "etc/test.toml:1: media.public_address: ",
        "unspecified (::)",
    );
    for (value, then) in [
        ("0.0.0.0", "cannot be advertised"),
        ("::", "cannot be advertised"),
        ("224.0.0.1", "cannot be advertised"),
        (
            "2001:db8::1",
            "not of the IP version of the bind address 0.0.0.0",
        ),
        ("relay.example", "invalid IP address syntax"),
    ] {
        let e = parse(&format!("[media]\npublic_address = \"{value}\"\n"));
        assert_error(&e, "etc/test.toml:2: media.public_address: ", then);
    }
    let e = parse("[media]\nbind_address = \"2001:db8::2\"\npublic_address = \"192.0.2.1\"\n");
    assert_error(
        &e,
        "etc/test.toml:3: media.public_address: ",
        "not of the IP version",
    );
    let e = parse("[media]\npublic_address = \"192.0.2.1\"\nbind_address = \"239.1.1.1\"\n");
    assert_error(&e, "etc/test.toml:3: media.bind_address: ", "multicast");
}

#[test]
fn media_ports_and_timer_are_checked() {
    let media = |rest: &str| parse(&format!("[media]\npublic_address = \"192.0.2.1\"\n{rest}"));
    assert_error(
        &media("port_min = 1023\n"),
        "etc/test.toml:3: media.port_min: ",
        "at least 1024, not 1023",
    );
    assert_error(
        &media("port_min = 70000\n"),
        "etc/test.toml:3: media.port_min: ",
        "expected u16",
    );
    assert_error(
        &media("port_max = 20000\n"),
        "etc/test.toml:3: media.port_max: ",
        "20000-20000 holds no RTP/RTCP pair",
    );
    // Only port_min given: it is the one at fault against the default port_max.
    assert_error(
        &media("port_min = 40000\n"),
        "etc/test.toml:3: media.port_min: ",
        "40000-30000 holds no RTP/RTCP pair",
    );
    assert_error(
        &media("port_min = 20001\nport_max = 20002\n"),
        "etc/test.toml:4: media.port_max: ",
        "no RTP/RTCP pair",
    );
    assert_error(
        &media("port_min = 65535\nport_max = 65535\n"),
        "etc/test.toml:4: media.port_max: ",
        "no RTP/RTCP pair",
    );
    assert_error(
        &media("inactivity_timeout = 4\n"),
        "etc/test.toml:3: media.inactivity_timeout: ",
        "must be 5 to 3600 seconds, not 4",
    );
    assert_error(
        &media("inactivity_timeout = 3601\n"),
        "etc/test.toml:3: media.inactivity_timeout: ",
        "5 to 3600 seconds",
    );
    assert_error(
        &media("anchor_onnet = \"yes\"\n"),
        "etc/test.toml:3: media.anchor_onnet: ",
        "expected a boolean",
    );
    assert_error(
        &media("port = 20000\n"),
        "etc/test.toml:3: media.port: ",
        "unknown field `port`",
    );
}

#[test]
fn a_port_out_of_range_names_the_key_and_the_range() {
    let e = parse("[[listener]]\naddress = \"0.0.0.0:70000\"\n");
    assert_error(
        &e,
        "etc/test.toml:2: listener[0].address: ",
        "port 70000 is out of range: a port is a number from 0 to 65535",
    );
    let e = parse("[admin]\nlisten = \"127.0.0.1:99999\"\n");
    assert_error(
        &e,
        "etc/test.toml:2: admin.listen: ",
        "port 99999 is out of range",
    );
    let e = parse("[stun]\naddress = \"0.0.0.0:65536\"\n");
    assert_error(
        &e,
        "etc/test.toml:2: stun.address: ",
        "port 65536 is out of range",
    );
    let e = parse("[[listener]]\naddress = \"localhost:5060\"\n");
    assert_error(
        &e,
        "etc/test.toml:2: listener[0].address: ",
        "\"localhost\" is not an IP address",
    );
}

#[test]
fn a_bad_advertise_names_the_key() {
    let e = parse("[[listener]]\naddress = \"0.0.0.0:5062\"\nadvertise = \"0.0.0.0\"\n");
    assert_error(
        &e,
        "etc/test.toml:3: listener[0].advertise: ",
        "cannot be advertised",
    );
}

#[test]
fn admin_token_rules_name_line_and_key() {
    let e = parse("[admin]\nlisten = \"127.0.0.1:8080\"\ntoken = \"short\"\n");
    assert_error(&e, "etc/test.toml:3: admin.token: ", "at least 16");
    let e = parse("[admin]\nlisten = \"127.0.0.1:8080\"\ntoken = \"has a space in it 0123\"\n");
    assert_error(&e, "etc/test.toml:3: admin.token: ", "without spaces");
    let e = parse(
        "[admin]\nlisten = \"127.0.0.1:8080\"\ntoken = \"0123456789abcdef\"\n\
         token_file = \"x\"\n",
    );
    assert_error(&e, "etc/test.toml:4: admin.token_file: ", "not both");
    let e = parse("[admin]\nlisten = \"127.0.0.1:8080\"\ntoken_file = \"/nonexistent/token\"\n");
    assert_error(
        &e,
        "etc/test.toml:3: admin.token_file: ",
        "cannot read the token from /nonexistent/token",
    );
}

#[test]
fn admin_token_is_read_from_its_file_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin.token"), "0123456789abcdef0123\n").unwrap();
    let path = dir.path().join("ferroswitch.toml");
    std::fs::write(
        &path,
        "[[listener]]\naddress = \"127.0.0.1:5060\"\n[admin]\nlisten = \"127.0.0.1:8080\"\n\
         token_file = \"admin.token\"\n",
    )
    .unwrap();
    let c = ferroswitch_config::load(&path).unwrap();
    let admin = c.admin.unwrap();
    assert_eq!(
        admin.token.as_ref().map(|t| t.expose()),
        Some("0123456789abcdef0123")
    );
    assert_eq!(
        admin.token_file,
        Some(dir.path().canonicalize().unwrap().join("admin.token"))
    );
    assert!(!format!("{admin:?}").contains("0123456789abcdef0123"));
}

#[test]
fn contact_routing_and_domain_are_checked() {
    let e = parse("[registrar]\ncontact_routing = \"sometimes\"\n");
    assert_error(
        &e,
        "etc/test.toml:2: registrar.contact_routing: ",
        "unknown contact routing \"sometimes\"",
    );
    for bad in [
        "",
        "a b",
        "user@example.com",
        "example.com:0",
        "example.com:x",
        "[::1",
    ] {
        let e = parse(&format!("[registrar]\ndomain = \"{bad}\"\n"));
        assert_error(
            &e,
            "etc/test.toml:2: registrar.domain: ",
            "must be a host name or IP address",
        );
    }
    for good in [
        "example.com",
        "sip.example.com:5070",
        "192.0.2.1",
        "[2001:db8::1]:5060",
    ] {
        let text = format!(
            "[registrar]\ndomain = \"{good}\"\ncontact_routing = \"always_contact\"\n\
             [[listener]]\naddress = \"127.0.0.1:5060\"\n"
        );
        let c = parse_toml(&text, Path::new("etc/test.toml")).unwrap();
        assert_eq!(c.registrar.domain.as_deref(), Some(good));
        assert_eq!(
            c.registrar.contact_routing,
            ferroswitch_config::ContactRouting::AlwaysContact
        );
    }
}
