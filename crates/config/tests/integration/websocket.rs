//! `ws` and `wss` listeners (SIP over WebSocket, RFC 7118) and their `allowed_origins`, in
//! both forms: a `wss` listener needs the `[tls]` certificate; origins are validated and only
//! WebSocket listeners take them; errors name file, line and key.

use std::path::Path;

use ferroswitch_config::{parse_toml, parse_xml, Transport};

const TLS: &str = "[tls]\ncertificate = \"/etc/c.pem\"\n";

#[test]
fn toml_ws_and_wss_listeners_with_origins() {
    let c = parse_toml(
        &format!(
            "[[listener]]\ntransport = \"wss\"\naddress = \"127.0.0.1:8443\"\n\
             allowed_origins = [\"https://phone.example.com\", \"http://localhost:8080\"]\n\
             [[listener]]\ntransport = \"ws\"\naddress = \"127.0.0.1:8080\"\n{TLS}"
        ),
        Path::new("t.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listeners[0].transport, Transport::Wss);
    assert_eq!(
        c.listeners[0].allowed_origins,
        ["https://phone.example.com", "http://localhost:8080"]
    );
    assert_eq!(c.listeners[1].transport, Transport::Ws);
    assert!(
        c.listeners[1].allowed_origins.is_empty(),
        "default: own origin only"
    );
}

#[test]
fn toml_errors_name_the_key() {
    let e = parse_toml(
        "[[listener]]\ntransport = \"wss\"\naddress = \"127.0.0.1:8443\"\n",
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("a WSS listener needs a certificate"), "{e}");
    let e = parse_toml(
        &format!(
            "[[listener]]\ntransport = \"wss\"\naddress = \"127.0.0.1:8443\"\n\
             allowed_origins = [\"phone.example.com/app\"]\n{TLS}"
        ),
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("t.toml:4") && e.contains("listener[0].allowed_origins"),
        "{e}"
    );
    assert!(e.contains("is not an origin"), "{e}");
    let e = parse_toml(
        "[[listener]]\ntransport = \"udp\"\naddress = \"127.0.0.1:5060\"\n\
         allowed_origins = [\"*\"]\n",
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("only ws and wss listeners take allowed origins"),
        "{e}"
    );
}

#[test]
fn xml_wss_listener_with_origins() {
    let c = parse_xml(
        "<voipswitch>\n<listener type=\"sip\">\n<param name=\"ipaddr\" value=\"127.0.0.1\"/>\n\
         <param name=\"port\" value=\"8443\"/>\n<param name=\"transport\" value=\"wss\"/>\n\
         <param name=\"tls-certificate\" value=\"/etc/c.pem\"/>\n\
         <param name=\"allowed-origins\" value=\"https://a.example, *\"/>\n</listener>\n</voipswitch>\n",
        Path::new("v.xml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listeners[0].transport, Transport::Wss);
    assert_eq!(c.listeners[0].allowed_origins, ["https://a.example", "*"]);
    let e = parse_xml(
        "<voipswitch>\n<listener type=\"sip\">\n<param name=\"ipaddr\" value=\"127.0.0.1\"/>\n\
         <param name=\"port\" value=\"8080\"/>\n<param name=\"transport\" value=\"ws\"/>\n\
         <param name=\"allowed-origins\" value=\"not an origin\"/>\n</listener>\n</voipswitch>\n",
        Path::new("v.xml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("v.xml:6") && e.contains("is not an origin"),
        "{e}"
    );
}
