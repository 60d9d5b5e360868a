//! `[sms_service]` (`<sms_service>`): the SMS-out hook for MESSAGEs routed OFFNET, written like
//! the voipswitch `web_service` / `push_service` hooks, in both forms onto one model.

use std::path::Path;

use ferroswitch_config::{parse_toml, parse_xml, Config, HttpHook};

const TOML_LISTENER: &str = "[[listener]]\naddress = \"127.0.0.1:5060\"\n";
const XML_LISTENER: &str = "<listener type=\"sip\"><param name=\"ipaddr\" value=\"127.0.0.1\"/>\
                            <param name=\"port\" value=\"5060\"/></listener>";

fn toml(rest: &str) -> Result<Config, String> {
    parse_toml(&format!("{TOML_LISTENER}{rest}"), Path::new("t.toml")).map_err(|e| e.to_string())
}

fn xml(rest: &str) -> Result<Config, String> {
    let text = format!("<voipswitch>{XML_LISTENER}\n{rest}\n</voipswitch>");
    parse_xml(&text, Path::new("t.xml")).map_err(|e| e.to_string())
}

#[test]
fn absent_means_no_sms_hook() {
    assert_eq!(toml("").unwrap().sms_service, None);
    assert_eq!(xml("").unwrap().sms_service, None);
}

#[test]
fn both_forms_load_the_same_hook() {
    let t = toml(
        "[sms_service]\nipaddr = \"10.0.0.7\"\nport = 8080\nusername = \"sys\"\npassword = \"pw\"\n\
         service = \"VSServices/sms_send.ashx\"\nhttps = true\n",
    )
    .unwrap();
    let x = xml(
        "<sms_service>\n<param name=\"ipaddr\" value=\"10.0.0.7\"/>\n<param name=\"port\" value=\"8080\"/>\n\
         <param name=\"username\" value=\"sys\"/>\n<param name=\"password\" value=\"pw\"/>\n\
         <param name=\"service\" value=\"VSServices/sms_send.ashx\"/>\n<param name=\"https\" value=\"true\"/>\n\
         </sms_service>",
    )
    .unwrap();
    let mut expected = HttpHook::new("10.0.0.7", 8080, "VSServices/sms_send.ashx");
    expected.username = "sys".into();
    expected.password = "pw".into();
    expected.https = true;
    assert_eq!(t.sms_service, Some(expected.clone()));
    assert_eq!(x.sms_service, Some(expected));
}

#[test]
fn service_defaults_to_the_voipswitch_method_and_empty_ipaddr_means_off() {
    let t = toml("[sms_service]\nipaddr = \"10.0.0.7\"\nport = 81\n").unwrap();
    assert_eq!(
        t.sms_service.map(|h| h.service),
        Some(HttpHook::SMS_SERVICE_DEFAULT.to_owned())
    );
    let x = xml(
        "<sms_service><param name=\"ipaddr\" value=\"\"/><param name=\"port\" value=\"81\"/></sms_service>",
    )
    .unwrap();
    assert_eq!(x.sms_service, None);
}

#[test]
fn bad_values_name_the_key_and_line() {
    let e = toml("[sms_service]\nipaddr = \"10.0.0.7\"\nport = 0\n").unwrap_err();
    assert!(e.starts_with("t.toml:5: sms_service.port: "), "{e}");
    assert!(e.contains("1 to 65535"), "{e}");
    let e = toml("[sms_service]\nipaddr = \"10.0.0.7\"\nport = 81\nurl = \"x\"\n").unwrap_err();
    assert!(e.contains("url"), "{e}");
    let e = xml(
        "<sms_service>\n<param name=\"ipaddr\" value=\"10.0.0.7\"/>\n<param name=\"port\" value=\"81\"/>\n\
         <param name=\"service\" value=\"\"/>\n</sms_service>",
    )
    .unwrap_err();
    assert!(e.contains("sms_service.service"), "{e}");
    assert!(e.contains("must not be empty"), "{e}");
    let hook = "<sms_service><param name=\"ipaddr\" value=\"10.0.0.7\"/><param name=\"port\" value=\"81\"/></sms_service>";
    let e = xml(&format!("{hook}\n{hook}")).unwrap_err();
    assert!(e.contains("given twice"), "{e}");
}
