//! The plain side's RTCP on a bridged call (`webrtc_gw::rtcp`): the gateway reads the phone's
//! reports on the port after the one facing it, and sends the phone its own SR + SDES there,
//! with a reception report about the phone's stream.

use std::net::UdpSocket;
use std::time::Duration;

use media::sdp::Sdp;
use media_io::{Mode, Side};

use crate::gateway::{phone_to_browser, start, Browser};

/// A phone's RTP socket and its RTCP socket on the next port.
fn rtp_and_rtcp() -> (UdpSocket, UdpSocket) {
    loop {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
            rtp.set_nonblocking(true).unwrap();
            return (rtp, rtcp);
        }
    }
}

#[test]
fn the_gateway_reads_the_phones_rtcp_and_sends_it_reports() {
    let relay = start(31960, 4);
    let (phone, phone_rtcp) = rtp_and_rtcp();
    let plain = format!(
        "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 8\r\n",
        phone.local_addr().unwrap().port()
    );
    relay.set_peer_webrtc("r1", Side::B, true);
    let to_browser = relay
        .offer("r1", Side::A, plain.as_bytes(), Mode::Anchor)
        .unwrap();
    let (mut browser, answer) = Browser::answering(std::str::from_utf8(&to_browser).unwrap());
    let to_phone = relay
        .answer("r1", Side::B, answer.as_bytes(), Mode::Anchor)
        .unwrap();
    let relay_plain = Sdp::parse(&to_phone).unwrap().remote_media(0).unwrap().rtp;
    let relay_rtcp = std::net::SocketAddr::new(relay_plain.ip(), relay_plain.port() + 1);
    let (received, sent) = phone_to_browser(&relay, "r1", &phone, relay_plain, &mut browser);
    assert!(received >= 20, "browser got {received} of {sent}");

    // the phone's sender report (SSRC 5) to the relay's RTCP port: read, not dropped
    let mut sr = vec![0x80, 200, 0, 6, 0, 0, 0, 5, 0xe0, 0, 0x12, 0x34, 0x56, 0x78];
    sr.resize(28, 0);
    phone_rtcp.send_to(&sr, relay_rtcp).unwrap();

    // the gateway's report comes to the phone's RTCP port, from the relay's RTCP port
    phone_rtcp
        .set_read_timeout(Some(Duration::from_secs(7)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = phone_rtcp.recv_from(&mut buf).expect("an RTCP report");
    let p = &buf[..n];
    assert_eq!(from, relay_rtcp);
    assert_eq!(
        (p[0], p[1]),
        (0x81, 200),
        "a sender report with one block: {p:?}"
    );
    let block = &p[28..52];
    assert_eq!(&block[0..4], &[0, 0, 0, 5], "about the phone's stream");
    let highest = u32::from_be_bytes(block[8..12].try_into().unwrap());
    assert!(highest + 1 >= u32::from(sent) - 2, "{highest} of {sent}");
    assert!(p[52..].starts_with(&[0x81, 202]), "SDES follows: {p:?}");

    let stats = relay.end("r1").unwrap();
    assert!(stats.a_to_b.rtcp_packets >= 1, "{stats:?}");
    assert_eq!(relay.free_port_pairs(), 4);
}
