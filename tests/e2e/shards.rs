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
    // the admin API for the metrics
    let site = Site::with_sections("[admin]\nlisten = \"127.0.0.1:0\"\n");
    site.add_account("alice", "wonderland");
    for i in 0..6 {
        site.add_account(&format!("bob{i}"), "builder");
    }
    let server = site.start_with(&["--shards", "2"]);
    server.assert_shards(2);
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
    // the datagrams that landed on the other shard's socket went to their owner unparsed
    let m = crate::metrics::scrape(&server);
    let unparsed = |parsed| {
        crate::metrics::get(
            &m,
            "ferroswitch_shard_handoffs_total",
            &[("parsed", parsed)],
        )
    };
    assert!(unparsed("no") > 0.0, "no datagram handed over unparsed");
    assert_eq!(
        unparsed("yes"),
        0.0,
        "SIPp's messages are all read by the raw scan"
    );
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

/// A second server on the first one's UDP port fails to start, with shards as without: its
/// `SO_REUSEPORT` sockets must not join the first server's group (same user, same port) and
/// take half of its datagrams.
#[test]
fn a_second_server_on_a_sharded_port_is_refused() {
    let first = Site::new();
    let server = first.start_with(&["--shards", "2"]);
    let second = Site::new();
    let port = server.udp.port().to_string();
    let mut child = std::process::Command::new(crate::harness::BIN)
        .arg("-c")
        .arg(second.config())
        .args(["run", "--shards", "2", "--sip", &port, "--admin", "off"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ferroswitch");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a second server started on udp port {port} beside the first");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("in use"), "{err}");
    assert_eq!(udp_sockets_on(server.pid(), server.udp.port()), 2);
    server.stop();
}
