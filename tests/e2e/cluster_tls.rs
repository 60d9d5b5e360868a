//! `[cluster]` with phones on TLS (issue 15): two real softphones (baresip), each registered
//! over TLS on its own node, call each other both ways; each node writes the INVITE onto the
//! callee's TLS connection and relays the phone's in-dialog requests to the caller's node.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::calls::{baresip_dir, cdrs};
use crate::cluster::{nodes, started, wait_binding, Redis, ACCOUNTS};
use crate::harness::{require_tool, Server, Site};

/// A baresip of `login` over TLS to `server`, in a config directory of its own (`name`).
fn baresip(site: &Site, server: &Server, login: &str, name: &str, args: &[&str]) -> Child {
    let password = ACCOUNTS
        .iter()
        .find(|(l, _)| *l == login)
        .map(|(_, p)| *p)
        .expect("an account");
    let made = baresip_dir(site, server, login, password);
    let dir: PathBuf = site.dir.path().join(name);
    copy_dir(&made, &dir);
    Command::new("baresip")
        .arg("-f")
        .arg(&dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["config", "accounts", "contacts"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

/// The first CDR of a node (written at the end of the call), within `secs`.
fn answered_cdr(site: &Site, secs: u64) -> store::CdrRow {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(c) = cdrs(site, 1).into_iter().next() {
            return c;
        }
        assert!(Instant::now() < deadline, "no CDR");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn tls_phones_on_two_nodes_call_each_other_both_ways() {
    require_tool("baresip");
    let Some(redis) = Redis::start() else { return };
    let nodes = nodes(&redis, 2, ACCOUNTS);
    let n0 = started(&nodes[0]);
    let n1 = started(&nodes[1]);
    // alice on node 0, bob on node 1, both over TLS, both answering automatically
    let mut alice = baresip(&nodes[0].site, &n0, "alice", "alice-phone", &["-t", "60"]);
    let mut bob = baresip(&nodes[1].site, &n1, "bob", "bob-phone", &["-t", "60"]);
    wait_binding(&redis, "alice", "node0");
    wait_binding(&redis, "bob", "node1");
    let tls = |site: &Site, login: &str| {
        site.wait_bindings("a TLS binding", |b| {
            b.iter().any(|b| b.login == login && b.transport == "tls")
        });
    };
    tls(&nodes[0].site, "alice");
    tls(&nodes[1].site, "bob");

    // alice (a second device of hers on node 0) calls bob: node 0's B2BUA, node 1 relays
    // onto bob's TLS connection; the dialer hangs up when its -t runs out. And back.
    for (i, server, caller, callee) in [(0, &n0, "alice", "bob"), (1, &n1, "bob", "alice")] {
        let dial_cmd = format!("/dial sip:{callee}@127.0.0.1");
        let name = format!("{caller}-dialer");
        let mut dial = baresip(
            &nodes[i].site,
            server,
            caller,
            &name,
            &["-t", "8", "-e", &dial_cmd],
        );
        let c = answered_cdr(&nodes[i].site, 25);
        let _ = dial.kill();
        let _ = dial.wait();
        assert_eq!((c.caller.as_str(), c.callee.as_str()), (caller, callee));
        assert_eq!(c.final_code, 200, "{c:?}");
        assert!(c.answer_ms.is_some(), "{c:?}");
    }

    for p in [&mut alice, &mut bob] {
        let _ = p.kill();
        let _ = p.wait();
    }
    n0.stop();
    n1.stop();
}
