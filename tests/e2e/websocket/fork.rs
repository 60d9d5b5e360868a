//! "Rings on the phone and in the browser" with media, without a browser: bob has a web phone
//! (a WebSocket client answering with a str0m WebRTC agent: ICE, DTLS, SRTP) and a plain SIPp
//! phone; alice, a plain SIPp phone (PCMU only), calls him. Each branch gets the offer it
//! understands (the web phone the relay gateway's WebRTC offer, the phone plain RTP/AVP: the
//! SIPp scenarios fail on anything of WebRTC); whichever answers keeps its media path and the
//! other's is released (the relay ports still bound).

use str0m::format::Codec;

use super::{listener, wsua::Dial, WsUa};
use crate::calls::{cdrs, free_port, register_device, Sipp};
use crate::harness::{Server, Site};
use crate::webrtc::Browser;

/// A `ws` listener and the relay on ports `port_min`..+99, ONNET calls anchored.
pub(super) fn site(port_min: u16) -> Site {
    let site = Site::with_sections(&format!(
        "[[listener]]\ntransport = \"ws\"\naddress = \"127.0.0.1:0\"\n\
         [media]\nbind_address = \"127.0.0.1\"\nport_min = {port_min}\nport_max = {}\n\
         anchor_onnet = true\n",
        port_min + 99
    ));
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    site
}

/// bob's web phone, registered over `ws`.
pub(super) fn web_phone(server: &Server) -> WsUa {
    let dial = Dial {
        addr: listener(server, "ws"),
        ca: None,
        protocol: Some("sip"),
        origin: None,
    };
    let mut bob = WsUa::connect(&dial, "bob", "builder");
    bob.register();
    bob
}

/// bob's plain phone running `scenario` (with `-rtp_echo`).
fn plain_phone(site: &Site, server: &Server, scenario: &str) -> crate::calls::Running {
    let port = free_port();
    register_device(site, server, "bob", "builder", port);
    Sipp::new(site, scenario, port)
        .args(&["-mp", &crate::calls::media_port().to_string(), "-rtp_echo"])
        .spawn()
}

/// The relay ports (42800-42899) the server holds: those of live relay sessions and gateways,
/// read from the server's own sockets (`/proc/PID/fd` against `/proc/net/udp`), so that other
/// tests' SIPp media ports in that range do not count. Waits (up to 5 s) until their count is
/// `expected`: the relay thread closes sockets after the signalling that ends them.
fn bound_relay_ports(server: &Server, expected: usize) -> Vec<u16> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let bound = server_udp_ports(server.pid(), 42800..=42899);
        if bound.len() == expected || std::time::Instant::now() > deadline {
            return bound;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The local UDP ports in `range` of the sockets process `pid` holds.
fn server_udp_ports(pid: u32, range: std::ops::RangeInclusive<u16>) -> Vec<u16> {
    let mut ports: Vec<u16> = crate::harness::udp_sockets_of(pid)
        .into_iter()
        .filter(|p| range.contains(p))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

#[test]
fn a_fork_to_a_web_phone_and_a_plain_phone_carries_media_to_whichever_answers() {
    let site = site(42800);
    let server = site.start();
    let mut web = web_phone(&server);

    // (a) the web phone answers: WebRTC through the gateway, the plain phone is cancelled
    let phone = plain_phone(&site, &server, "uas_ring_cancelled_plain.xml");
    let alice = Sipp::new(&site, "uac_call_talk_then_bye.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .target(server.udp)
        .args(&["-mp", &crate::calls::media_port().to_string(), "-rtp_echo"])
        .spawn();
    let invite = web.expect_request("INVITE", 10);
    let offer = String::from_utf8_lossy(invite.body()).into_owned();
    for w in [
        "UDP/TLS/RTP/SAVPF",
        "a=ice-lite",
        "a=fingerprint:",
        "a=setup:actpass",
    ] {
        assert!(
            offer.contains(w),
            "{w} missing in the web phone's offer:\n{offer}"
        );
    }
    web.answer(&invite, 180, None);
    let (mut browser, answer) = Browser::answering(invite.body());
    web.answer(&invite, 200, Some(&answer));
    web.expect_request("ACK", 10);
    let (ok, out) = phone.wait();
    assert!(ok, "the plain phone (plain offer, then CANCEL):\n{out}");
    // the gateway's ports: the browser's (RTCP muxed), the caller's RTP and RTCP; the plain
    // offer's pair is closed
    let ports = bound_relay_ports(&server, 3);
    assert_eq!(
        ports.len(),
        3,
        "the plain offer's relay ports are released: {ports:?}"
    );
    browser.connect();
    // alice echoes what she gets: the browser's PCMU comes back to it through the gateway
    browser.send(Codec::PCMU, 40, || vec![0x2a; 160]);
    browser.run(300);
    let back = browser.got_back(Codec::PCMU, &[0x2a; 160]);
    assert!(back >= 20, "the browser got {back} of its PCMU frames back");
    let bye = web.expect_request("BYE", 10);
    web.answer(&bye, 200, None);
    let (ok, out) = alice.wait();
    assert!(ok, "alice:\n{out}");
    assert_eq!(
        bound_relay_ports(&server, 0),
        Vec::<u16>::new(),
        "nothing left of the first call"
    );

    // (b) the plain phone answers: plain RTP through the relay, the web phone is cancelled
    let phone = plain_phone(&site, &server, "uas_answer_plain.xml");
    let alice = Sipp::new(&site, "uac_call_rtp.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .target(server.udp)
        .args(&["-mp", &crate::calls::media_port().to_string()])
        .spawn();
    let invite = web.expect_request("INVITE", 10);
    assert!(
        String::from_utf8_lossy(invite.body()).contains("UDP/TLS/RTP/SAVPF"),
        "{invite:?}"
    );
    web.answer(&invite, 180, None);
    let cancel = web.expect_request("CANCEL", 10);
    web.answer(&cancel, 200, None);
    web.answer(&invite, 487, None);
    web.expect_request("ACK", 10);
    // the plain call's two pairs (RTP and RTCP each side); the gateway's ports are closed
    let ports = bound_relay_ports(&server, 4);
    assert_eq!(
        ports.len(),
        4,
        "the gateway's relay ports are released: {ports:?}"
    );
    let (ok, out) = alice.wait();
    assert!(ok, "alice:\n{out}");
    let (ok, out) = phone.wait();
    assert!(
        ok,
        "the plain phone (plain offer, answered, echoing):\n{out}"
    );
    assert_eq!(
        bound_relay_ports(&server, 0),
        Vec::<u16>::new(),
        "nothing left of the second call"
    );

    let rows = cdrs(&site, 2);
    for r in &rows {
        // (b): the pcap's 10 packets, echoed
        assert_eq!(r.final_code, 200, "{r:?}");
        assert!(r.media_a_packets.unwrap_or(0) >= 10, "{r:?}");
        assert!(r.media_b_packets.unwrap_or(0) >= 10, "{r:?}");
    }
    server.stop();
}
