//! The softphone recipe of docs/softphones.md, run as written: `scripts/demo` reads the
//! baresip config blocks from the doc, starts a server and two baresip phones, and checks that
//! they register, see each other's presence, exchange a message and make a call.

use std::process::Command;

use crate::harness::{require_tool, skipped, BIN};

#[test]
fn the_softphone_recipe_works() {
    require_tool("baresip");
    require_tool("script");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    // bounded: the phones quit after 40 s at most and the script stops the server at exit
    let out = Command::new("timeout")
        .args(["120", "scripts/demo"])
        .current_dir(root)
        .env("FERRO_BIN", BIN)
        .output()
        .expect("run scripts/demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("==> demo passed"),
        "scripts/demo failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let linphonec = Command::new("sh")
        .args(["-c", "command -v linphonec"])
        .output()
        .is_ok_and(|o| o.status.success());
    if linphonec {
        for step in [
            "ok    carol (linphonec) registered",
            "ok    bob's phone shows carol's message",
        ] {
            assert!(text.contains(step), "{step} missing:\n{text}");
        }
    } else {
        assert!(
            std::env::var("FERRO_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "linphonec not installed (apt-get install linphone-cli) and FERRO_REQUIRE_TOOLS=1"
        );
        skipped("the_softphone_recipe_works: the linphonec part (linphonec not installed)");
    }
    for step in [
        "ok    bob registered",
        "ok    alice sees bob online (presence)",
        "ok    bob's phone shows alice's message",
        "ok    bob's phone answered",
        "ok    server: call ended with 200",
    ] {
        assert!(text.contains(step), "{step} missing:\n{text}");
    }
}
