//! `shutdown_timeout` (`<node>` param `shutdown-timeout`): how long SIGTERM/SIGINT may take.

use std::path::Path;
use std::time::Duration;

use ferroswitch_config::{parse_toml, parse_xml, Config};

use crate::{assert_error, invalid};

const TOML_LISTENER: &str = "[[listener]]\naddress = \"127.0.0.1:5060\"\n";

fn toml(top: &str) -> Result<Config, ferroswitch_config::ConfigError> {
    parse_toml(&format!("{top}{TOML_LISTENER}"), Path::new("t.toml"))
}

fn xml(node_params: &str) -> Result<Config, ferroswitch_config::ConfigError> {
    let text = format!(
        "<voipswitch>\n<node>{node_params}</node>\n<listener type=\"sip\"><param name=\"ipaddr\" \
         value=\"127.0.0.1\"/><param name=\"port\" value=\"5060\"/></listener>\n</voipswitch>"
    );
    parse_xml(&text, Path::new("t.xml"))
}

#[test]
fn left_out_it_is_ten_seconds() {
    assert_eq!(toml("").unwrap().shutdown_timeout, Duration::from_secs(10));
    assert_eq!(xml("").unwrap().shutdown_timeout, Duration::from_secs(10));
    assert_eq!(Config::SHUTDOWN_TIMEOUT_DEFAULT, Duration::from_secs(10));
}

#[test]
fn both_forms_read_it() {
    let t = toml("shutdown_timeout = 25\n").unwrap();
    let x = xml("<param name=\"shutdown-timeout\" value=\"25\"/>").unwrap();
    assert_eq!(t.shutdown_timeout, Duration::from_secs(25));
    assert_eq!(x.shutdown_timeout, t.shutdown_timeout);
}

#[test]
fn out_of_range_names_line_and_key() {
    let e = invalid(toml("node_id = \"a\"\nshutdown_timeout = 0\n"));
    assert_error(
        &e,
        "t.toml:2: shutdown_timeout: ",
        "must be 1 to 300 seconds",
    );
    let e = invalid(toml("shutdown_timeout = 301\n"));
    assert_error(
        &e,
        "t.toml:1: shutdown_timeout: ",
        "must be 1 to 300 seconds",
    );
    let e = invalid(xml("\n<param name=\"shutdown-timeout\" value=\"0\"/>"));
    assert_error(&e, "t.xml:3: node.shutdown-timeout: ", "1 to 300");
}

/// `shard_merge` (`<node>` param `shard-merge`) sits beside it: how several core shards are
/// driven; left out, `None` (auto, or what `--shard-merge` says).
#[test]
fn both_forms_read_shard_merge() {
    use ferroswitch_config::ShardMerge;
    assert_eq!(toml("").unwrap().shard_merge, None);
    assert_eq!(xml("").unwrap().shard_merge, None);
    let t = toml("shard_merge = \"never\"\n").unwrap();
    let x = xml("<param name=\"shard-merge\" value=\"never\"/>").unwrap();
    assert_eq!(t.shard_merge, Some(ShardMerge::Never));
    assert_eq!(x.shard_merge, t.shard_merge);
    let e = invalid(xml("\n<param name=\"shard-merge\" value=\"often\"/>"));
    assert_error(&e, "t.xml:3: node.shard-merge: ", "often");
}
