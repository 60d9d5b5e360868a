//! `[smtp]` / `<smtp>`: both forms onto one model, defaults by security, the password from a
//! file, refusals naming file, line and key, and a password that never shows in `Debug`.

use std::path::Path;
use std::time::Duration;

use ferroswitch_config::{parse_toml, parse_xml, Config, ConfigError, SmtpSecurity};

const TOML_LISTENER: &str = "[[listener]]\naddress = \"127.0.0.1:5060\"\n";
const XML_LISTENER: &str = "<listener type=\"sip\"><param name=\"ipaddr\" value=\"127.0.0.1\"/>\
                            <param name=\"port\" value=\"5060\"/></listener>";

fn toml_in(dir: &Path, rest: &str) -> Result<Config, ConfigError> {
    parse_toml(&format!("{TOML_LISTENER}{rest}"), &dir.join("t.toml"))
}

fn xml_in(dir: &Path, rest: &str) -> Result<Config, ConfigError> {
    parse_xml(
        &format!("<voipswitch>{XML_LISTENER}\n{rest}\n</voipswitch>"),
        &dir.join("t.xml"),
    )
}

#[test]
fn both_forms_give_the_same_smtp_settings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("smtp.pw"), "s3cret\n").unwrap();
    let t = toml_in(
        dir.path(),
        "[smtp]\nhost = \"mail.example.com\"\nsecurity = \"tls\"\nusername = \"vm\"\n\
         password_file = \"smtp.pw\"\nfrom = \"Voicemail <vm@example.com>\"\nattempts = 5\n\
         retry_delay = 2\n",
    )
    .unwrap();
    let x = xml_in(
        dir.path(),
        "<smtp><param name=\"host\" value=\"mail.example.com\"/>\
         <param name=\"security\" value=\"tls\"/><param name=\"username\" value=\"vm\"/>\
         <param name=\"password-file\" value=\"smtp.pw\"/>\
         <param name=\"from\" value=\"Voicemail &lt;vm@example.com&gt;\"/>\
         <param name=\"attempts\" value=\"5\"/><param name=\"retry-delay\" value=\"2\"/></smtp>",
    )
    .unwrap();
    let (t, x) = (t.smtp.unwrap(), x.smtp.unwrap());
    for s in [&t, &x] {
        assert_eq!(s.host, "mail.example.com");
        assert_eq!(
            (s.security, s.port),
            (SmtpSecurity::Tls, 465),
            "default port by security"
        );
        assert_eq!(s.password.as_deref(), Some("s3cret"), "read from the file");
        assert_eq!(
            s.password_file.as_deref(),
            Some(dir.path().join("smtp.pw").as_path())
        );
        assert_eq!((s.attempts, s.retry_delay), (5, Duration::from_secs(2)));
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
    assert_eq!(t.from, x.from);
    let plain = toml_in(
        dir.path(),
        "[smtp]\nhost = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\nfrom = \"vm@x.org\"\n",
    )
    .unwrap()
    .smtp
    .unwrap();
    assert_eq!((plain.port, plain.security), (2525, SmtpSecurity::None));
    let default = toml_in(dir.path(), "[smtp]\nhost = \"h\"\nfrom = \"vm@x.org\"\n")
        .unwrap()
        .smtp
        .unwrap();
    assert_eq!(
        (default.security, default.port, default.attempts),
        (SmtpSecurity::StartTls, 587, 10)
    );
    assert!(toml_in(dir.path(), "").unwrap().smtp.is_none());
}

#[test]
fn bad_smtp_settings_name_their_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let head = "[smtp]\nhost = \"h\"\nfrom = \"vm@x.org\"\n";
    // The TOML listener takes lines 1-2, [smtp] starts on line 3.
    for (rest, line, key, says) in [
        ("security = \"ssl\"\n", 6, "smtp.security", "starttls"),
        ("username = \"u\"\n", 6, "smtp.username", "password"),
        ("password = \"p\"\n", 6, "smtp.password", "username"),
        (
            "username = \"u\"\npassword = \"p\"\nsecurity = \"none\"\n",
            8,
            "smtp.security",
            "in clear",
        ),
        (
            "password_file = \"missing.pw\"\n",
            6,
            "smtp.password_file",
            "cannot read",
        ),
        ("attempts = 0\n", 6, "smtp.attempts", "1 to 100"),
        ("retry_delay = 7200\n", 6, "smtp.retry_delay", "1 to 3600"),
        ("ca_file = \"none.pem\"\n", 6, "smtp.ca_file", "cannot read"),
    ] {
        let e = toml_in(dir.path(), &format!("{head}{rest}"))
            .unwrap_err()
            .to_string();
        let want = format!("t.toml:{line}: {key}: ");
        assert!(e.contains(&want) && e.contains(says), "{rest}: {e}");
    }
    let e = toml_in(dir.path(), "[smtp]\nhost = \"h\"\nfrom = \"nobody\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t.toml:5: smtp.from: ") && e.contains("mail address"),
        "{e}"
    );
    let e = toml_in(dir.path(), "[smtp]\nhost = \"h\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("from"), "{e}");
    let e = toml_in(
        dir.path(),
        "[smtp]\nhost = \"h\"\nfrom = \"a@b\"\nsender = \"x\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("sender"), "{e}");
    let e = xml_in(
        dir.path(),
        "<smtp>\n<param name=\"host\" value=\"h\"/>\n<param name=\"from\" value=\"a@b\"/>\n\
         <param name=\"port\" value=\"0\"/>\n</smtp>",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("t.xml:5: smtp.port: "), "{e}");
    let e = xml_in(
        dir.path(),
        "<smtp>\n<param name=\"host\" value=\"h\"/>\n</smtp>",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("smtp.from") && e.contains("missing"), "{e}");
}
