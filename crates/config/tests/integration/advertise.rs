//! `advertise` on a listener (the public address behind 1:1 NAT) in both forms, and the media
//! relay's public address that follows it.

use std::net::SocketAddr;
use std::path::Path;

use ferroswitch_config::{parse_toml, parse_xml, Advertise, Config, Origin};

fn toml(text: &str) -> Config {
    parse_toml(text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn xml(text: &str) -> Config {
    parse_xml(
        &format!("<voipswitch>\n{text}\n</voipswitch>"),
        Path::new("t.xml"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn advertise_is_read_in_both_forms() {
    let t = toml(
        "[[listener]]\naddress = \"0.0.0.0:5060\"\nadvertise = \"203.0.113.10\"\n\
         [[listener]]\ntransport = \"tls\"\naddress = \"0.0.0.0:5061\"\nadvertise = \"203.0.113.10:443\"\n\
         [tls]\ncertificate = \"/c.pem\"\n",
    );
    let mut x = xml(
        "<listener type=\"sip\"><param name=\"ipaddr\" value=\"0.0.0.0\"/>\
         <param name=\"port\" value=\"5060\"/><param name=\"advertise\" value=\"203.0.113.10\"/></listener>\n\
         <listener type=\"sip\"><param name=\"ipaddr\" value=\"0.0.0.0\"/><param name=\"port\" value=\"5061\"/>\
         <param name=\"transport\" value=\"tls\"/><param name=\"tls-certificate\" value=\"/c.pem\"/>\
         <param name=\"advertise\" value=\"203.0.113.10:443\"/></listener>",
    );
    x.source.clone_from(&t.source);
    assert_eq!(x, t);
    let bound = |s: &str| s.parse::<SocketAddr>().unwrap();
    let [udp, tls] = &t.listeners[..] else {
        panic!("{:?}", t.listeners)
    };
    assert_eq!(
        udp.advertise.map(|a| a.addr(bound("0.0.0.0:5060"))),
        Some(bound("203.0.113.10:5060"))
    );
    assert_eq!(
        tls.advertise,
        Some(Advertise::new("203.0.113.10".parse().unwrap(), Some(443)))
    );
}

#[test]
fn the_media_relay_defaults_to_the_advertised_address() {
    let t =
        toml("[[listener]]\naddress = \"0.0.0.0:5060\"\nadvertise = \"203.0.113.10\"\n[media]\n");
    let media = t.media.expect("[media]");
    assert_eq!(
        media.advertised_address(),
        "203.0.113.10".parse::<std::net::IpAddr>().unwrap()
    );
    // a private bind address (the usual 1:1 NAT setup) is not advertised either
    let t = toml(
        "[[listener]]\naddress = \"10.0.0.5:5060\"\nadvertise = \"203.0.113.10\"\n\
         [media]\nbind_address = \"10.0.0.5\"\n",
    );
    assert_eq!(
        t.media.unwrap().advertised_address(),
        "203.0.113.10".parse::<std::net::IpAddr>().unwrap()
    );
    // an explicit public address wins
    let t = toml(
        "[[listener]]\naddress = \"0.0.0.0:5060\"\nadvertise = \"203.0.113.10\"\n\
         [media]\npublic_address = \"198.51.100.1\"\n",
    );
    assert_eq!(
        t.media.unwrap().advertised_address(),
        "198.51.100.1".parse::<std::net::IpAddr>().unwrap()
    );
}

#[test]
fn listeners_remember_where_their_address_was_written() {
    let t = toml("node_id = \"a\"\n[[listener]]\naddress = \"0.0.0.0:5060\"\n[stun]\naddress = \"0.0.0.0:3478\"\n");
    let file = Path::new("t.toml");
    assert_eq!(
        t.listeners[0].origin.describe(file).as_deref(),
        Some("listener[0].address (t.toml:3)")
    );
    assert_eq!(
        t.stun.unwrap().origin.describe(file).as_deref(),
        Some("stun.address (t.toml:5)")
    );
    let x = xml(
        "<listener type=\"sip\">\n<param name=\"ipaddr\" value=\"0.0.0.0\"/>\n\
         <param name=\"port\" value=\"5060\"/></listener>",
    );
    assert!(
        matches!(x.listeners[0].origin, Origin::File { line: 4, .. }),
        "{:?}",
        x.listeners[0].origin
    );
    assert_eq!(
        x.listeners[0]
            .origin
            .describe(Path::new("t.xml"))
            .as_deref(),
        Some("listener[type=sip].port (t.xml:4)")
    );
}
