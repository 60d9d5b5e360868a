//! `[dns]` and `[[trunk]]` (`<dns>`, `<trunk>`): both forms onto one model, refusals with
//! their line and key, and a password that never shows in `Debug`.

use std::path::{Path, PathBuf};

use ferroswitch_config::{parse_toml, parse_xml, Config, ConfigError};

const TOML_LISTENER: &str = "[[listener]]\naddress = \"127.0.0.1:5060\"\n";
const XML_LISTENER: &str = "<listener type=\"sip\"><param name=\"ipaddr\" value=\"127.0.0.1\"/>\
                            <param name=\"port\" value=\"5060\"/></listener>";

fn toml(rest: &str) -> Result<Config, ConfigError> {
    parse_toml(
        &format!("{TOML_LISTENER}{rest}"),
        Path::new("/etc/fs/t.toml"),
    )
}

fn xml(rest: &str) -> Result<Config, ConfigError> {
    parse_xml(
        &format!("<voipswitch>{XML_LISTENER}\n{rest}\n</voipswitch>"),
        Path::new("/etc/fs/t.xml"),
    )
}

#[test]
fn both_forms_give_the_same_dns_and_trunks() {
    let t = toml(
        "[dns]\nservers = [\"127.0.0.1:5353\", \"[::1]:53\"]\n\
         [[trunk]]\ngateway = \"carrier\"\nusername = \"u\"\npassword = \"p\"\ntls_ca_file = \"ca.pem\"\n\
         [[trunk]]\ngateway = \"plain\"\n",
    )
    .unwrap();
    let x = xml(
        "<dns><param name=\"servers\" value=\"127.0.0.1:5353, [::1]:53\"/></dns>\n\
         <trunk gateway=\"carrier\"><param name=\"username\" value=\"u\"/>\
         <param name=\"password\" value=\"p\"/><param name=\"tls-ca-file\" value=\"ca.pem\"/></trunk>\n\
         <trunk gateway=\"plain\"/>",
    )
    .unwrap();
    assert_eq!(t.dns, x.dns);
    assert_eq!(t.trunks, x.trunks);
    assert_eq!(t.dns.servers.len(), 2);
    assert_eq!(t.trunks[0].gateway, "carrier");
    assert_eq!(t.trunks[0].password, "p");
    assert_eq!(
        t.trunks[0].tls_ca_file.as_deref(),
        Some(PathBuf::from("/etc/fs/ca.pem").as_path()),
        "relative to the config file"
    );
    assert!(t.trunks[1].username.is_empty());
    let shown = format!("{:?}", t.trunks[0]);
    assert!(!shown.contains("\"p\"") && shown.contains("***"), "{shown}");
    // defaults: the system's resolver, no trunk
    let d = toml("").unwrap();
    assert!(d.dns.servers.is_empty() && d.trunks.is_empty());
}

#[test]
fn bad_trunks_and_servers_are_refused_with_their_line() {
    let e = toml("[[trunk]]\ngateway = \"a b\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/etc/fs/t.toml:4: trunk[0].gateway: "), "{e}");
    let e = toml("[[trunk]]\ngateway = \"gw\"\n[[trunk]]\ngateway = \"gw\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/etc/fs/t.toml:6: trunk[1].gateway: ") && e.contains("first at line 4"),
        "{e}"
    );
    let e = toml("[[trunk]]\ngateway = \"gw\"\nusername = \"u\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/etc/fs/t.toml:4: trunk[0].password: ") && !e.contains("\"u\""),
        "{e}"
    );
    let e = toml("[[trunk]]\ngateway = \"gw\"\nuser = \"u\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("trunk[0].user: ") && e.contains("unknown field"),
        "{e}"
    );
    let e = toml("[dns]\nservers = [\"127.0.0.1\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("dns.servers[0]") && e.contains("no port"), "{e}");
    let e = xml("<dns><param name=\"servers\" value=\"nonsense\"/></dns>")
        .unwrap_err()
        .to_string();
    assert!(e.contains("dns.servers") && e.contains("no port"), "{e}");
    let e = xml("<trunk gateway=\"gw\"><param name=\"password\" value=\"p\"/></trunk>")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/etc/fs/t.xml:2: trunk[gateway=gw].username: "),
        "{e}"
    );
    let e = xml("<trunk gateway=\"gw\"><param name=\"realm\" value=\"x\"/></trunk>")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown parameter"), "{e}");
}
