//! Media end to end: STUN on the SIP UDP socket and on its own listener (with coturn's
//! `turnutils_stunclient`), and RTP relayed for an OFFNET call between two SIPp endpoints.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use crate::calls::{cdrs, cli_ok, free_port, Sipp};
use crate::harness::{require_tool, Site};

/// A STUN Binding request (RFC 8489 §5) with this transaction id.
fn binding_request(txid: [u8; 12]) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    m.extend_from_slice(&txid);
    m
}

/// The XOR-MAPPED-ADDRESS of a Binding success response with transaction id `txid`.
fn xor_mapped(resp: &[u8], txid: [u8; 12]) -> SocketAddr {
    assert_eq!(&resp[0..2], &[0x01, 0x01], "a Binding success response");
    assert_eq!(&resp[4..8], &[0x21, 0x12, 0xA4, 0x42]);
    assert_eq!(&resp[8..20], &txid);
    let len = u16::from_be_bytes([resp[2], resp[3]]) as usize;
    assert_eq!(resp.len(), 20 + len);
    let mut at = 20;
    while at + 4 <= resp.len() {
        let t = u16::from_be_bytes([resp[at], resp[at + 1]]);
        let l = u16::from_be_bytes([resp[at + 2], resp[at + 3]]) as usize;
        let v = &resp[at + 4..at + 4 + l];
        if t == 0x0020 {
            assert_eq!(v[1], 0x01, "IPv4 family");
            let port = u16::from_be_bytes([v[2], v[3]]) ^ 0x2112;
            let ip = [v[4] ^ 0x21, v[5] ^ 0x12, v[6] ^ 0xA4, v[7] ^ 0x42];
            return SocketAddr::from((ip, port));
        }
        at += 4 + l.div_ceil(4) * 4;
    }
    panic!("no XOR-MAPPED-ADDRESS in {resp:02x?}");
}

#[test]
fn stun_binding_is_answered_on_the_sip_udp_socket_and_sip_still_works() {
    let site = Site::new();
    let server = site.start();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let txid = *b"ferro-stun-1";
    sock.send_to(&binding_request(txid), server.udp).unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = sock.recv_from(&mut buf).expect("a STUN answer");
    assert_eq!(from, server.udp);
    assert_eq!(xor_mapped(&buf[..n], txid), sock.local_addr().unwrap());
    // a malformed STUN-looking datagram is dropped, and the socket keeps serving SIP
    sock.send_to(&[0x00, 0x01, 0x00, 0x08, 1, 2, 3], server.udp)
        .unwrap();
    let opts = format!(
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKst1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:x@x>\r\nCall-ID: st1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        sock.local_addr().unwrap()
    );
    sock.send_to(opts.as_bytes(), server.udp).unwrap();
    let (n, _) = sock.recv_from(&mut buf).expect("an OPTIONS answer");
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    server.stop();
}

#[test]
fn turnutils_stunclient_gets_its_mapped_address_from_the_stun_listener() {
    require_tool("turnutils_stunclient");
    let site = Site::with_sections(
        "[stun]\naddress = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n",
    );
    let server = site.start();
    let addr = server
        .stun
        .expect("the STUN listener announces its address");
    let out = Command::new("turnutils_stunclient")
        .args(["-p", &addr.port().to_string(), "127.0.0.1"])
        .output()
        .expect("run turnutils_stunclient");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("UDP reflexive addr: 127.0.0.1:"), "{text}");
    // counted by the listener, copied into /metrics by the 5-second upkeep
    crate::metrics::wait_scrape(&server, "STUN answers", |m| {
        crate::metrics::get(
            m,
            "ferroswitch_stun_answers_total",
            &[("listener", "stun"), ("result", "success")],
        ) >= 1.0
    });
    server.stop();
}

#[test]
fn offnet_call_media_flows_through_the_relay() {
    require_tool("sipp");
    let site = Site::with_sections(
        "[media]\nbind_address = \"127.0.0.1\"\nport_min = 41000\nport_max = 41100\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n",
    );
    site.add_account("alice", "wonderland");
    let gw_port = free_port();
    cli_ok(
        &site,
        &["gateway", "add", "carrier", &format!("127.0.0.1:{gw_port}")],
    );
    cli_ok(&site, &["route", "add", "00", "gateway:carrier"]);
    let server = site.start();
    // the gateway answers and echoes every RTP packet back to where it came from (the relay)
    let gw = Sipp::new(&site, "uas_answer.xml", gw_port)
        .args(&["-mp", &crate::calls::media_port().to_string(), "-rtp_echo"])
        .spawn();
    let (ok, out) = Sipp::new(&site, "uac_call_rtp.xml", free_port())
        .rows(&["alice;wonderland;004812345"])
        .args(&["-mp", &crate::calls::media_port().to_string()])
        .target(server.udp)
        .run();
    assert!(ok, "caller failed:\n{out}");
    let (ok, out) = gw.wait();
    assert!(ok, "gateway failed:\n{out}");
    let rows = cdrs(&site, 1);
    let c = &rows[0];
    assert_eq!(c.final_code, 200);
    let a = c.media_a_packets.unwrap_or(0);
    let b = c.media_b_packets.unwrap_or(0);
    assert!(a > 0, "caller's RTP went through the relay: {c:?}");
    assert!(
        b > 0,
        "the gateway's echo came back through the relay: {c:?}"
    );
    // the relay's totals on /metrics: at least what the CDR counted, and no session left
    let m = crate::metrics::wait_scrape(&server, "relay totals", |m| {
        crate::metrics::get(
            m,
            "ferroswitch_relay_packets_total",
            &[("outcome", "relayed")],
        ) >= (a + b) as f64
    });
    assert!(crate::metrics::get(&m, "ferroswitch_relay_bytes_total", &[]) >= (a + b) as f64 * 12.0);
    assert_eq!(
        crate::metrics::get(&m, "ferroswitch_relay_sessions", &[]),
        0.0
    );
    server.stop();
}

#[test]
fn onnet_call_keeps_its_media_path_and_gets_a_relay_candidate_both_ways() {
    let site = Site::with_sections(
        "[media]\nbind_address = \"127.0.0.1\"\nport_min = 41200\nport_max = 41300\n",
    );
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    let server = site.start();
    let bob = crate::calls::device(&site, &server, "bob", "builder", "uas_answer_ice.xml");
    let (ok, out) = Sipp::new(&site, "uac_call_ice.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .target(server.udp)
        .run();
    assert!(ok, "caller (expects a relay candidate in the 200):\n{out}");
    let (ok, out) = bob.wait();
    assert!(
        ok,
        "callee (expects a relay candidate in the INVITE):\n{out}"
    );
    server.stop();
}
