//! File descriptors run out (issue 12 item 5): the server's limit is lowered while it runs
//! (`prlimit`, util-linux) and strangers open more TCP connections than it has descriptors.
//! Before: `accept failed: Too many open files` ~20 times a second per listener and no TCP
//! service until a stranger left. Now: the spare descriptor accepts and closes, idle untrusted
//! connections are shed, a phone is still served, and the line is logged once per 10 s.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{rand_suffix, Site};
use crate::metrics::{get, scrape};
use crate::wire::request;

/// An OPTIONS over a new TCP connection; whether a SIP response came back within 2 s.
fn options_answered(server: std::net::SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&server, Duration::from_secs(2)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let local = s.local_addr().unwrap();
    let opt =
        request("OPTIONS", "x", &rand_suffix(), "", local).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    if s.write_all(opt.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 2048];
    matches!(s.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"SIP/2.0 "))
}

#[test]
fn at_the_fd_limit_idle_strangers_are_shed_and_a_phone_is_served() {
    let site = Site::with_sections(
        "[admin]\nlisten = \"127.0.0.1:0\"\n[security]\nconnections_per_ip = 100000\n",
    );
    let server = site.start();
    std::thread::sleep(Duration::from_millis(300));
    assert!(options_answered(server.tcp), "served before the limit");
    let pid = server.pid();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let limit = open + 24;
    let status = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(status.success(), "prlimit --pid {pid} --nofile={limit}");

    // 120 strangers connect and say nothing: five times what the server has left
    let strangers: Vec<TcpStream> = (0..120)
        .filter_map(|_| TcpStream::connect_timeout(&server.tcp, Duration::from_secs(2)).ok())
        .collect();
    assert!(strangers.len() >= 100, "{} connected", strangers.len());
    std::thread::sleep(Duration::from_millis(500));

    // a phone is served within 10 s (a try may be the connection accepted and closed)
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut served = false;
    while Instant::now() < deadline {
        if options_answered(server.tcp) {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(served, "no TCP service at the fd limit");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    assert!(fds <= limit, "{fds} descriptors open, limit {limit}");

    drop(strangers);
    std::thread::sleep(Duration::from_secs(1));
    let m = scrape(&server);
    let shed = get(
        &m,
        "ferroswitch_connections_closed_total",
        &[("reason", "shed")],
    );
    assert!(shed >= 16.0, "idle strangers shed: {shed}");
    let lines: Vec<String> = server.wait_log(1, |_| false).unwrap_err();
    let accept_failed = lines.iter().filter(|l| l.contains("accept failed")).count();
    assert!(
        (1..=2).contains(&accept_failed),
        "accept failed logged {accept_failed} times (once per 10 s per listener): {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("accept failed") && l.contains("Too many open files")),
        "{lines:#?}"
    );
}
