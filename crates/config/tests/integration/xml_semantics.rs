//! What the voipswitch XML elements mean in the model.

use std::net::SocketAddr;
use std::path::Path;

use ferroswitch_config::{parse_xml, Config, HttpHook, ListenerRole, SipListener, Transport};

use crate::invalid;

fn parse(body: &str) -> Config {
    let text = format!("<voipswitch>\n{body}\n</voipswitch>\n");
    parse_xml(&text, Path::new("v.xml")).unwrap_or_else(|e| panic!("{e}"))
}

fn listener(kind: &str, params: &[(&str, &str)]) -> String {
    let params: String = params
        .iter()
        .map(|(name, value)| format!("<param name=\"{name}\" value=\"{value}\"/>\n"))
        .collect();
    format!("<listener type=\"{kind}\">\n{params}</listener>\n")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const TLS_SIP: &[(&str, &str)] = &[
    ("ipaddr", "1.2.3.4"),
    ("port", "5061"),
    ("transport", "tls-tcp"),
    ("tls-certificate", "/etc/ferroswitch/VPS.cert"),
];

#[test]
fn registrar_listener_on_the_sip_socket_is_merged_and_shares_its_certificate() {
    // The voipswitch document's own example: the certificate only on the SIP listener.
    let config = parse(&format!(
        "{}{}",
        listener("sip", TLS_SIP),
        listener(
            "registrar",
            &[
                ("ipaddr", "1.2.3.4"),
                ("port", "5061"),
                ("register-expiration", "3600"),
                ("subscribe-expiration", "3600"),
                ("transport", "tls-tcp"),
            ]
        )
    ));
    assert_eq!(
        config.listeners,
        [SipListener::new(addr("1.2.3.4:5061"), Transport::Tls)]
    );
    let tls = config.tls.unwrap();
    assert_eq!(tls.certificate, Path::new("/etc/ferroswitch/VPS.cert"));
    assert_eq!(tls.private_key, tls.certificate);
    assert!(!tls.generate_self_signed);
}

#[test]
fn registrar_listener_elsewhere_keeps_its_own_socket() {
    let config = parse(&format!(
        "{}{}",
        listener("sip", &[("ipaddr", "1.2.3.4"), ("port", "5060")]),
        listener("registrar", &[("ipaddr", "1.2.3.4"), ("port", "5070")])
    ));
    assert_eq!(config.listeners.len(), 2);
    assert_eq!(config.listeners[0].role, ListenerRole::Sip);
    assert_eq!(config.listeners[1].role, ListenerRole::Registrar);
    assert_eq!(config.listeners[1].addr, addr("1.2.3.4:5070"));
    assert_eq!(config.listeners[1].transport, Transport::Udp);
}

#[test]
fn register_expiration_sets_max_and_caps_default() {
    let registrar = listener(
        "registrar",
        &[
            ("ipaddr", "1.2.3.4"),
            ("port", "5060"),
            ("register-expiration", "1800"),
            ("subscribe-expiration", "600"),
        ],
    );
    let sip = listener("sip", &[("ipaddr", "1.2.3.4"), ("port", "5060")]);
    let config = parse(&format!("{sip}{registrar}"));
    assert_eq!(config.registrar.max_expires, 1800);
    assert_eq!(config.registrar.default_expires, 1800);
    assert_eq!(config.registrar.subscribe_expiration, 600);
    assert_eq!(config.registrar.min_expires, 60);

    // An explicit default above it is the operator's mistake, not capped.
    let explicit = "<registrar>\n<param name=\"default-expiration\" value=\"3000\"/>\n</registrar>";
    let text = format!("<voipswitch>\n{sip}{registrar}{explicit}\n</voipswitch>");
    let e = invalid(parse_xml(&text, Path::new("v.xml")));
    assert!(
        e.starts_with("v.xml:13: registrar.default-expiration: "),
        "{e}"
    );
}

#[test]
fn our_own_sections_fill_the_model() {
    let config = parse(&format!(
        "{}\n<node><param name=\"id\" value=\"edge-2\"/></node>\n\
         <registrar><param name=\"realm\" value=\"example.com\"/><param name=\"algorithms\" value=\"MD5\"/>\
         <param name=\"nonce-secret\" value=\"0123456789abcdef\"/><param name=\"min-expiration\" value=\"120\"/></registrar>\n\
         <database><param name=\"url\" value=\"mysql://fs@127.0.0.1:3306/fs\"/></database>\n\
         <log><param name=\"level\" value=\"debug\"/><param name=\"format\" value=\"json\"/></log>\n\
         <trusted_peer><param name=\"ipaddr\" value=\"10.0.0.1\"/></trusted_peer>\n\
         <trusted_peer><param name=\"ipaddr\" value=\"::1\"/></trusted_peer>\n",
        listener("sip", &[("ipaddr", "::1"), ("port", "5060")])
    ));
    assert_eq!(config.node_id, "edge-2");
    assert_eq!(config.listeners[0].addr, addr("[::1]:5060"));
    assert_eq!(config.registrar.realm, "example.com");
    assert_eq!(config.registrar.min_expires, 120);
    assert_eq!(
        config.registrar.algorithms,
        [ferroswitch_config::DigestAlgorithm::Md5]
    );
    assert_eq!(
        config.registrar.nonce_secret.as_deref(),
        Some("0123456789abcdef")
    );
    assert_eq!(config.database.url, "mysql://fs@127.0.0.1:3306/fs");
    assert_eq!(config.log.level, "debug");
    assert_eq!(config.log.format, ferroswitch_config::LogFormat::Json);
    assert_eq!(
        config.trusted_peers,
        [
            "10.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
}

#[test]
fn hooks_take_voipswitch_params_and_empty_ipaddr_means_off() {
    let sip = listener("sip", &[("ipaddr", "1.2.3.4"), ("port", "5060")]);
    let config = parse(&format!(
        "{sip}<web_service>\n<param name=\"ipaddr\" value=\"1.2.3.4\"/>\n<param name=\"port\" value=\"81\"/>\n\
         <param name=\"username\" value=\"u\"/>\n<param name=\"password\" value=\"p\"/>\n\
         <param name=\"service\" value=\"bl.ashx\"/>\n</web_service>\n\
         <push_service>\n<param name=\"ipaddr\" value=\"\"/>\n<param name=\"port\" value=\"81\"/>\n\
         <param name=\"service\" value=\"emc.ashx\"/>\n</push_service>"
    ));
    let mut expected = HttpHook::new("1.2.3.4", 81, "bl.ashx");
    expected.username = "u".into();
    expected.password = "p".into();
    assert_eq!(config.web_service, Some(expected));
    assert_eq!(config.push_service, None);
}

#[test]
fn stun_listener_is_not_a_sip_listener() {
    let config = parse(&format!(
        "{}{}",
        listener("sip", &[("ipaddr", "1.2.3.4"), ("port", "5060")]),
        listener("stun", &[("ipaddr", "1.2.3.4"), ("port", "3478")])
    ));
    assert_eq!(config.listeners.len(), 1);
    assert_eq!(config.stun.unwrap().addr, addr("1.2.3.4:3478"));
}
