use std::net::SocketAddr;

use ferroswitch_config::{load, ConfigError, ListenerRole, SipListener, Transport};

use crate::etc_dir;

#[test]
fn every_sample_config_loads() {
    let mut loaded = 0;
    for entry in std::fs::read_dir(etc_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            if let Err(e) = load(&path) {
                panic!("sample {} does not load: {e}", path.display());
            }
            loaded += 1;
        }
    }
    assert!(
        loaded >= 2,
        "expected the TOML and the XML sample, loaded {loaded}"
    );
}

#[test]
fn toml_and_xml_samples_describe_the_same_server() {
    let toml = load(&etc_dir().join("ferroswitch.toml")).unwrap();
    let mut xml = load(&etc_dir().join("voipswitch_config.xml")).unwrap();
    assert_eq!(xml.listeners, toml.listeners);
    assert_eq!(xml.registrar, toml.registrar);
    // And everything else too: only the source file differs.
    xml.source.clone_from(&toml.source);
    assert_eq!(xml, toml);
}

#[test]
fn samples_are_the_documented_dev_setup() {
    let config = load(&etc_dir().join("ferroswitch.toml")).unwrap();
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    assert_eq!(
        config.listeners,
        [
            SipListener::new(addr("0.0.0.0:5060"), Transport::Udp),
            SipListener::new(addr("0.0.0.0:5060"), Transport::Tcp),
            SipListener::new(addr("0.0.0.0:5061"), Transport::Tls),
        ]
    );
    assert!(config.listeners.iter().all(|l| l.role == ListenerRole::Sip));
    let data = etc_dir()
        .join("../data")
        .canonicalize()
        .unwrap_or_else(|_| {
            // data/ may not exist yet: the config dir is canonical, `..` steps up from it.
            etc_dir()
                .canonicalize()
                .unwrap()
                .parent()
                .unwrap()
                .join("data")
        });
    let tls = config.tls.expect("the TLS listener needs [tls]");
    assert_eq!(tls.certificate, data.join("tls/cert.pem"));
    assert_eq!(tls.private_key, data.join("tls/key.pem"));
    assert!(tls.generate_self_signed);
    assert_eq!(
        config.database.url,
        format!("sqlite://{}", data.join("ferroswitch.db").display())
    );
    assert_eq!(config.stun.map(|s| s.addr), Some(addr("0.0.0.0:3478")));
    assert_eq!(config.admin.map(|a| a.listen), Some(addr("127.0.0.1:8080")));
    assert_eq!((config.web_service, config.push_service), (None, None));
}

#[test]
fn load_picks_the_format_by_extension_then_content() {
    let dir = tempfile::tempdir().unwrap();
    for (sample, name) in [
        ("voipswitch_config.xml", "a.conf"),
        ("ferroswitch.toml", "b.conf"),
    ] {
        let text = std::fs::read_to_string(etc_dir().join(sample)).unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let config = load(&path).unwrap_or_else(|e| panic!("{name} (from {sample}): {e}"));
        assert_eq!(config.source, path);
        assert_eq!(config.listeners.len(), 3);
    }
    // A .toml file holding XML is read as TOML, and refused.
    let path = dir.path().join("c.toml");
    std::fs::copy(etc_dir().join("voipswitch_config.xml"), &path).unwrap();
    assert!(load(&path)
        .unwrap_err()
        .to_string()
        .contains("c.toml:1: toml: "));
}

#[test]
fn unreadable_file_is_an_io_error_naming_it() {
    let path = etc_dir().join("no-such-file.toml");
    match load(&path) {
        Err(e @ ConfigError::Io { .. }) => assert!(e.to_string().contains("no-such-file.toml")),
        other => panic!("expected Io error, got {other:?}"),
    }
}
