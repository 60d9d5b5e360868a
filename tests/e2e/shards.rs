//! Core shards (docs/architecture.md "Core shards"): with `--shards 2` the server reads two
//! `SO_REUSEPORT` sockets on its UDP port, each driving its own dispatcher, and calls between
//! phones on random source ports (so that the kernel spreads them over both sockets, and the
//! messages of one call land on both) still connect, end and write their CDRs.

use crate::calls::{assert_ok, call, cdrs, device};
use crate::harness::Site;

/// How many UDP sockets process `pid` holds on `port`.
fn udp_sockets_on(pid: u32, port: u16) -> usize {
    crate::harness::udp_sockets_of(pid)
        .into_iter()
        .filter(|p| *p == port)
        .count()
}

#[test]
fn two_shards_share_the_port_and_connect_every_call() {
    let site = Site::new();
    site.add_account("alice", "wonderland");
    for i in 0..6 {
        site.add_account(&format!("bob{i}"), "builder");
    }
    let server = site.start_with(&["--shards", "2"]);
    assert!(
        server
            .startup_log
            .iter()
            .any(|l| l.contains("SIP core in 2 shards")),
        "{:#?}",
        server.startup_log
    );
    assert_eq!(
        udp_sockets_on(server.pid(), server.udp.port()),
        2,
        "one SO_REUSEPORT socket per shard"
    );
    // each callee registers from a port of its own, then answers; each caller too: the
    // 4-tuples differ, so the kernel spreads them over both shards' sockets
    for i in 0..6 {
        let callee = format!("bob{i}");
        let bob = device(&site, &server, &callee, "builder", "uas_answer.xml");
        assert_ok("caller", call(&site, &server, "uac_call.xml", &callee));
        assert_ok("callee", bob.wait());
    }
    let rows = cdrs(&site, 6);
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(
        rows.iter()
            .all(|c| c.final_code == 200 && c.hangup_by == "caller"),
        "{rows:?}"
    );
    server.stop();
}

#[test]
fn one_shard_when_asked() {
    let site = Site::new();
    let server = site.start_with(&["--shards", "1"]);
    assert_eq!(udp_sockets_on(server.pid(), server.udp.port()), 1);
    assert!(!server.startup_log.iter().any(|l| l.contains("SIP core in")));
    server.stop();
}
