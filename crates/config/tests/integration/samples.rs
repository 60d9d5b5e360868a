use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ferroswitch_config::{
    load, parse_toml, parse_xml, CallSettings, ConfigError, ListenerRole, SipListener, Transport,
};

use crate::etc_dir;

/// The sample configs the project ships in `etc/`. The test checks these files, not whatever
/// the folder holds: `etc/` is where an operator keeps an edited copy (or a systemd unit), and
/// a half-edited copy there is not a broken sample.
const SHIPPED_SAMPLES: &[&str] = &["ferroswitch.toml", "voipswitch_config.xml"];

/// Loads every shipped sample from `dir`; the error names the sample that does not load.
fn load_shipped_samples(dir: &Path) -> Result<usize, String> {
    for name in SHIPPED_SAMPLES {
        let path = dir.join(name);
        load(&path).map_err(|e| format!("sample {} does not load: {e}", path.display()))?;
    }
    Ok(SHIPPED_SAMPLES.len())
}

#[test]
fn every_sample_config_loads() {
    if let Err(e) = load_shipped_samples(&etc_dir()) {
        panic!("{e}");
    }
}

#[test]
fn the_sample_test_ignores_an_extra_file_in_etc() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(etc_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    // an operator's half-edited copy next to the samples
    let broken = dir.path().join("my-ferroswitch.toml");
    std::fs::write(
        &broken,
        "[[listener]]\naddress = \"0.0.0.0:5060\"\nbogus = 1\n",
    )
    .unwrap();
    assert!(
        load(&broken).is_err(),
        "the extra file must really be broken"
    );
    assert_eq!(load_shipped_samples(dir.path()), Ok(SHIPPED_SAMPLES.len()));
    // ... while a broken shipped sample is still caught
    std::fs::write(dir.path().join(SHIPPED_SAMPLES[0]), "bogus = 1\n").unwrap();
    let e = load_shipped_samples(dir.path()).unwrap_err();
    assert!(e.contains(SHIPPED_SAMPLES[0]), "{e}");
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
    assert_eq!(config.calls, CallSettings::default());
    assert_eq!(config.media, None, "the media relay is commented out");
}

/// The commented-out `[media]` block of the TOML sample, uncommented.
fn toml_media_example(sample: &str) -> String {
    let mut lines = sample.lines().skip_while(|l| *l != "# [media]");
    let block: Vec<&str> = lines
        .by_ref()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect();
    assert!(!block.is_empty(), "no `# [media]` block in the TOML sample");
    block.join("\n") + "\n"
}

/// The `<media>` element inside a comment of the XML sample.
fn xml_media_example(sample: &str) -> &str {
    let start = sample
        .find("  <media>")
        .expect("no <media> example in the XML sample");
    let end = sample[start..].find("</media>").unwrap() + start + "</media>".len();
    &sample[start..end]
}

#[test]
fn commented_media_examples_load_and_agree() {
    let toml_sample = std::fs::read_to_string(etc_dir().join("ferroswitch.toml")).unwrap();
    let xml_sample = std::fs::read_to_string(etc_dir().join("voipswitch_config.xml")).unwrap();
    let toml_text = format!("{toml_sample}\n{}", toml_media_example(&toml_sample));
    let xml_text = xml_sample.replace(
        "</voipswitch>",
        &format!("{}\n</voipswitch>", xml_media_example(&xml_sample)),
    );
    // The same directory as the samples, so that paths resolve alike.
    let toml =
        parse_toml(&toml_text, &etc_dir().join("media.toml")).unwrap_or_else(|e| panic!("{e}"));
    let mut xml =
        parse_xml(&xml_text, &etc_dir().join("media.xml")).unwrap_or_else(|e| panic!("{e}"));
    xml.source.clone_from(&toml.source);
    assert_eq!(xml, toml);
    let media = toml.media.expect("the example enables the relay");
    assert_eq!(media.public_address, Some("203.0.113.10".parse().unwrap()));
    assert_eq!(
        media.bind_address,
        "0.0.0.0".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!((media.port_min, media.port_max), (20000, 30000));
    assert_eq!(media.inactivity_timeout, Duration::from_secs(60));
    assert!(!media.anchor_onnet);
    // The example states the defaults, apart from the public address.
    let minimal =
        "[[listener]]\naddress = \"127.0.0.1:5060\"\n[media]\npublic_address = \"203.0.113.10\"\n";
    let defaults = parse_toml(minimal, Path::new("t.toml")).unwrap().media;
    assert_eq!(defaults, Some(media));
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
