//! `[cluster]` / `<cluster>`: both forms load the same settings; each rule names file, line and
//! key.

use std::path::Path;

use ferroswitch_config::{parse_toml, parse_xml};

use crate::{assert_error, invalid};

const LISTENER: &str = "[[listener]]\naddress = \"127.0.0.1:5060\"\n";

fn toml(cluster: &str) -> Result<ferroswitch_config::Config, ferroswitch_config::ConfigError> {
    parse_toml(
        &format!("{LISTENER}[cluster]\n{cluster}"),
        Path::new("etc/test.toml"),
    )
}

#[test]
fn toml_and_xml_give_the_same_cluster() {
    let t = toml(
        "redis = \"redis://127.0.0.1:6379/0\"\ninternal = \"127.0.0.1:5060\"\n\
         nodes = [\"127.0.0.1:5070\", \"127.0.0.1:5080\"]\nsecret = \"0123456789abcdefX\"\n",
    )
    .unwrap();
    let x = parse_xml(
        "<voipswitch>\n<listener type=\"sip\">\n<param name=\"ipaddr\" value=\"127.0.0.1\"/>\n\
         <param name=\"port\" value=\"5060\"/>\n</listener>\n<cluster>\n\
         <param name=\"redis\" value=\"redis://127.0.0.1:6379/0\"/>\n\
         <param name=\"internal\" value=\"127.0.0.1:5060\"/>\n\
         <param name=\"nodes\" value=\"127.0.0.1:5070, 127.0.0.1:5080\"/>\n\
         <param name=\"secret\" value=\"0123456789abcdefX\"/>\n</cluster>\n</voipswitch>\n",
        Path::new("etc/test.xml"),
    )
    .unwrap();
    let c = t.cluster.as_ref().unwrap();
    assert_eq!(c.internal, "127.0.0.1:5060".parse().unwrap());
    assert_eq!(c.nodes.len(), 2);
    assert_eq!(c.key_prefix, "ferroswitch");
    assert_eq!(t.cluster, x.cluster);
    assert!(parse_toml(LISTENER, Path::new("etc/test.toml"))
        .unwrap()
        .cluster
        .is_none());
}

#[test]
fn cluster_rules_name_line_and_key() {
    let ok_internal = "internal = \"127.0.0.1:5060\"\n";
    let secret = "secret = \"0123456789abcdefX\"\n";
    let e = invalid(toml(&format!(
        "redis = \"http://x\"\n{ok_internal}{secret}"
    )));
    assert_error(
        &e,
        "etc/test.toml:4: cluster.redis: ",
        "must start with redis://",
    );
    let e = invalid(toml(&format!(
        "redis = \"redis://h\"\ninternal = \"127.0.0.1:5099\"\n{secret}"
    )));
    assert_error(
        &e,
        "etc/test.toml:5: cluster.internal: ",
        "not the address of one of this node's UDP listeners",
    );
    let e = invalid(toml(&format!(
        "redis = \"redis://h\"\n{ok_internal}nodes = [\"127.0.0.1:5060\"]\n{secret}"
    )));
    assert_error(
        &e,
        "etc/test.toml:6: cluster.nodes: ",
        "own internal address",
    );
    let e = invalid(toml(&format!(
        "redis = \"redis://h\"\n{ok_internal}secret = \"short\"\n"
    )));
    assert_error(&e, "etc/test.toml:6: cluster.secret: ", "at least 16");
    let e = invalid(toml(&format!("redis = \"redis://h\"\n{secret}")));
    assert_error(&e, "etc/test.toml:", "missing field `internal`");
    let e = invalid(toml(&format!(
        "redis = \"redis://h\"\n{ok_internal}{secret}key_prefix = \"a b\"\n"
    )));
    assert_error(
        &e,
        "etc/test.toml:7: cluster.key_prefix: ",
        "letters, digits",
    );
}

#[test]
fn xml_cluster_refusals_name_line_and_key() {
    let e = invalid(parse_xml(
        "<voipswitch>\n<listener type=\"sip\">\n<param name=\"ipaddr\" value=\"127.0.0.1\"/>\n\
         <param name=\"port\" value=\"5060\"/>\n</listener>\n<cluster>\n\
         <param name=\"redis\" value=\"redis://h\"/>\n\
         <param name=\"internal\" value=\"127.0.0.1:5060\"/>\n\
         <param name=\"secret\" value=\"0123456789abcdefX\"/>\n\
         <param name=\"nodes\" value=\"127.0.0.1:x\"/>\n</cluster>\n</voipswitch>\n",
        Path::new("etc/test.xml"),
    ));
    assert_error(&e, "etc/test.xml:10: cluster.nodes: ", "");
}
