//! Relative paths resolve against the config file's directory, whatever the working directory.

use std::path::Path;

use ferroswitch_config::{load, parse_toml, parse_xml};

const TOML: &str = "[[listener]]\ntransport = \"tls\"\naddress = \"127.0.0.1:0\"\n\
                    [tls]\ncertificate = \"tls/cert.pem\"\n\
                    [database]\ndata_dir = \"../data\"\n";

const XML: &str = "<voipswitch><listener type=\"sip\"><param name=\"ipaddr\" value=\"127.0.0.1\"/>\
                   <param name=\"port\" value=\"0\"/><param name=\"transport\" value=\"tls-tcp\"/>\
                   <param name=\"tls-certificate\" value=\"tls/cert.pem\"/></listener>\
                   <database><param name=\"data-dir\" value=\"../data\"/></database></voipswitch>";

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    let root = root.path().canonicalize().unwrap();
    for (name, text) in [("fs.toml", TOML), ("fs.xml", XML)] {
        let path = etc.join(name);
        std::fs::write(&path, text).unwrap();
        let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
        let tls = config.tls.unwrap();
        assert_eq!(tls.certificate, root.join("etc/tls/cert.pem"), "{name}");
        assert_eq!(
            tls.private_key, tls.certificate,
            "{name}: key defaults to the certificate"
        );
        let db = root.join("data/ferroswitch.db");
        assert_eq!(
            config.database.url,
            format!("sqlite://{}", db.display()),
            "{name}"
        );
    }
}

#[test]
fn relative_config_path_resolves_from_the_working_directory() {
    let config = parse_toml(TOML, Path::new("no-such-dir/fs.toml")).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        config.tls.unwrap().certificate,
        cwd.join("no-such-dir/tls/cert.pem")
    );
    assert!(Path::new(&config.database.url["sqlite://".len()..]).is_absolute());
}

#[test]
fn absolute_paths_are_kept() {
    let text = "[[listener]]\naddress = \"127.0.0.1:0\"\n[tls]\ncertificate = \"/srv/c.pem\"\n\
                private_key = \"/srv/k.pem\"\n[database]\nurl = \"sqlite:///srv/fs.db?mode=rwc\"\n";
    let config = parse_toml(text, Path::new("/elsewhere/fs.toml")).unwrap();
    let tls = config.tls.unwrap();
    assert_eq!(
        (tls.certificate.as_path(), tls.private_key.as_path()),
        (Path::new("/srv/c.pem"), Path::new("/srv/k.pem"))
    );
    assert_eq!(config.database.url, "sqlite:///srv/fs.db?mode=rwc");
    let xml = XML.replace("tls/cert.pem", "/srv/c.pem");
    assert_eq!(
        parse_xml(&xml, Path::new("fs.xml"))
            .unwrap()
            .tls
            .unwrap()
            .certificate,
        Path::new("/srv/c.pem")
    );
}
