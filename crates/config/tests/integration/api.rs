//! The `[api]` section in both forms: values, defaults and refusals naming line and key.

use std::path::Path;
use std::time::Duration;

use ferroswitch_config::{parse_toml, parse_xml};

use crate::{assert_error, invalid};

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn toml(rest: &str) -> Result<ferroswitch_config::Config, ferroswitch_config::ConfigError> {
    let text = format!("{rest}\n[[listener]]\naddress = \"127.0.0.1:5060\"\n");
    parse_toml(&text, Path::new("etc/test.toml"))
}

fn xml(rest: &str) -> Result<ferroswitch_config::Config, ferroswitch_config::ConfigError> {
    let text = format!(
        "<voipswitch>\n<listener type=\"sip\">\n<param name=\"ipaddr\" value=\"127.0.0.1\"/>\n\
         <param name=\"port\" value=\"5060\"/>\n</listener>\n{rest}\n</voipswitch>\n"
    );
    parse_xml(&text, Path::new("etc/voipswitch_config.xml"))
}

#[test]
fn both_forms_give_the_same_settings() {
    let t = toml(&format!(
        "[api]\nlisten = \"127.0.0.1:8090\"\npublic_url = \"https://api.example.com/\"\n\
         jwt_key = \"{KEY}\"\ntoken_lifetime = 600\n"
    ))
    .unwrap();
    let x = xml(&format!(
        "<api>\n<param name=\"ipaddr\" value=\"127.0.0.1\"/>\n<param name=\"port\" value=\"8090\"/>\n\
         <param name=\"public-url\" value=\"https://api.example.com/\"/>\n\
         <param name=\"jwt-key\" value=\"{KEY}\"/>\n<param name=\"token-lifetime\" value=\"600\"/>\n</api>"
    ))
    .unwrap();
    let (t, x) = (t.api.unwrap(), x.api.unwrap());
    assert_eq!(t.listen, x.listen);
    assert_eq!(t.jwt_key, x.jwt_key);
    assert_eq!(t.public_url, x.public_url);
    assert_eq!(t.token_lifetime, Duration::from_secs(600));
    assert_eq!(x.token_lifetime, Duration::from_secs(600));
    assert_eq!(t.base_url(), "https://api.example.com");
    assert!(!format!("{t:?}").contains(KEY), "Debug hides the key");
}

#[test]
fn defaults_apply() {
    let c = toml(&format!(
        "[api]\nlisten = \"127.0.0.1:8090\"\njwt_key = \"{KEY}\"\n"
    ))
    .unwrap();
    let api = c.api.unwrap();
    assert_eq!(api.token_lifetime, Duration::from_secs(3600));
    assert_eq!(api.base_url(), "http://127.0.0.1:8090");
    assert!(toml("").unwrap().api.is_none());
}

#[test]
fn refusals_name_line_and_key() {
    let e = invalid(toml(&format!(
        "[api]\nlisten = \"0.0.0.0:8090\"\njwt_key = \"{KEY}\"\n"
    )));
    assert_error(&e, "etc/test.toml:2: api.listen: ", "not a loopback");
    let e = invalid(toml(
        "[api]\nlisten = \"127.0.0.1:8090\"\njwt_key = \"short\"\n",
    ));
    assert_error(&e, "etc/test.toml:3: api.jwt_key: ", "at least 32");
    let e = invalid(toml(&format!(
        "[api]\nlisten = \"127.0.0.1:8090\"\njwt_key = \"{KEY}\"\njwt_previous_key = \"{KEY}\"\n"
    )));
    assert_error(&e, "etc/test.toml:4: api.jwt_previous_key: ", "must differ");
    let e = invalid(toml(&format!(
        "[api]\nlisten = \"127.0.0.1:8090\"\njwt_key = \"{KEY}\"\ntoken_lifetime = 5\n"
    )));
    assert_error(&e, "etc/test.toml:4: api.token_lifetime: ", "60 to 86400");
    let e = invalid(toml(&format!(
        "[api]\nlisten = \"127.0.0.1:8090\"\njwt_key = \"{KEY}\"\npublic_url = \"ftp://x\"\n"
    )));
    assert_error(&e, "etc/test.toml:4: api.public_url: ", "http://");
    let e = invalid(toml("[api]\nlisten = \"127.0.0.1:8090\"\n"));
    assert!(e.contains("jwt_key"), "{e}");
    let e = invalid(toml(&format!(
        "[api]\nlisten = \"127.0.0.1:8090\"\njwt_key = \"{KEY}\"\nbogus = 1\n"
    )));
    assert!(e.contains("bogus"), "{e}");
    let e = invalid(xml(
        "<api>\n<param name=\"ipaddr\" value=\"127.0.0.1\"/>\n<param name=\"port\" value=\"8090\"/>\n\
         <param name=\"jwt-key\" value=\"short\"/>\n</api>",
    ));
    assert_error(&e, "etc/voipswitch_config.xml:9: api", "at least 32");
}
