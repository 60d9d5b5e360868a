//! SDP from real softphones: round trip, anchoring, relay candidates, hold.

use std::net::{IpAddr, SocketAddr};

use media::sdp::{add_relay_candidate, anchor, Direction, Line, Sdp, SdpError};
use media::RemoteMedia;

/// Zoiper-like offer: audio + video, session-level c=, b= and unknown lines.
const ZOIPER: &str = "v=0\r\n\
o=Z 1712 1 IN IP4 192.168.1.23\r\n\
s=Z\r\n\
c=IN IP4 192.168.1.23\r\n\
b=AS:4000\r\n\
t=0 0\r\n\
m=audio 8000 RTP/AVP 106 9 98 101 0 8 3\r\n\
a=rtpmap:106 opus/48000/2\r\n\
a=fmtp:106 sprop-maxcapturerate=16000; minptime=20; useinbandfec=1\r\n\
a=rtpmap:98 telephone-event/48000\r\n\
a=fmtp:98 0-16\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=sendrecv\r\n\
m=video 8002 RTP/AVP 99\r\n\
b=TIAS:2000000\r\n\
a=rtpmap:99 H264/90000\r\n\
a=fmtp:99 profile-level-id=42801F; packetization-mode=1\r\n\
a=sendrecv\r\n";

/// Linphone-like offer with ICE candidates, a=rtcp and component 2 candidates.
const LINPHONE_ICE: &str = "v=0\r\n\
o=alice 3046 3371 IN IP4 10.0.0.5\r\n\
s=Talk\r\n\
c=IN IP4 203.0.113.9\r\n\
t=0 0\r\n\
a=ice-pwd:6c3bd0b9e0c6f8a7b6c5d4e3\r\n\
a=ice-ufrag:7a1b2c3d\r\n\
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
m=audio 51762 RTP/AVP 96 0 8 101\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=rtcp:51763\r\n\
a=candidate:1 1 UDP 2130706303 10.0.0.5 7078 typ host\r\n\
a=candidate:1 2 UDP 2130706302 10.0.0.5 7079 typ host\r\n\
a=candidate:2 1 UDP 1694498687 203.0.113.9 51762 typ srflx raddr 10.0.0.5 rport 7078\r\n\
a=candidate:2 2 UDP 1694498686 203.0.113.9 51763 typ srflx raddr 10.0.0.5 rport 7079\r\n\
a=rtcp-fb:* trr-int 5000\r\n";

/// WebRTC-like offer: IPv6, rtcp-mux, a=rtcp with address, end-of-candidates.
const WEBRTC_V6: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=msid-semantic: WMS\r\n\
m=audio 49203 UDP/TLS/RTP/SAVPF 111 0\r\n\
c=IN IP6 2001:db8::7\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=candidate:842163049 1 udp 1677729535 2001:db8::7 49203 typ srflx raddr :: rport 0 generation 0\r\n\
a=end-of-candidates\r\n\
a=ice-ufrag:EsAw\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n";

#[test]
fn round_trip_keeps_every_line() {
    for sdp in [ZOIPER, LINPHONE_ICE, WEBRTC_V6] {
        let parsed = Sdp::parse(sdp.as_bytes()).unwrap();
        assert_eq!(parsed.print(), sdp);
        assert_eq!(Sdp::parse(parsed.print().as_bytes()).unwrap(), parsed);
    }
}

#[test]
fn lf_line_ends_and_trailing_blank_lines_are_accepted() {
    let lf = ZOIPER.replace("\r\n", "\n") + "\n\n";
    let parsed = Sdp::parse(lf.as_bytes()).unwrap();
    assert_eq!(parsed.print(), ZOIPER);
}

#[test]
fn typed_views() {
    let s = Sdp::parse(ZOIPER.as_bytes()).unwrap();
    assert_eq!(s.media.len(), 2);
    assert_eq!(s.media[0].desc.port, 8000);
    assert_eq!(s.media[1].desc.formats, ["99"]);
    assert_eq!(
        s.connection().unwrap().ip(),
        Some("192.168.1.23".parse().unwrap())
    );
    assert_eq!(s.origin().unwrap().session_version, "1");
    assert_eq!(s.media[0].clock_rates()[0], (106, 48000));
    assert_eq!(s.direction(0), Direction::SendRecv);
    assert!(matches!(&s.session[4], Line::Other { kind: 'b', value } if value == "AS:4000"));

    let l = Sdp::parse(LINPHONE_ICE.as_bytes()).unwrap();
    assert_eq!(l.media[0].candidates().count(), 4);
    assert_eq!(
        l.remote_media(0),
        Some(RemoteMedia {
            rtp: "203.0.113.9:51762".parse().unwrap(),
            rtcp: Some("203.0.113.9:51763".parse().unwrap()),
            rtcp_mux: false,
        })
    );

    let w = Sdp::parse(WEBRTC_V6.as_bytes()).unwrap();
    let r = w.remote_media(0).unwrap();
    assert_eq!(r.rtp, "[2001:db8::7]:49203".parse().unwrap());
    assert!(r.rtcp_mux);
}

#[test]
fn typed_parse_errors() {
    let bad_m = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio x RTP/AVP 0\r\n";
    assert_eq!(
        Sdp::parse(bad_m.as_bytes()),
        Err(SdpError::Media { line: 5 })
    );
    let bad_c = "v=0\r\nc=IN IP4\r\n";
    assert_eq!(
        Sdp::parse(bad_c.as_bytes()),
        Err(SdpError::Connection { line: 2 })
    );
    let bad_o = "v=0\r\no=- 1 IN IP4 1.2.3.4\r\n";
    assert_eq!(
        Sdp::parse(bad_o.as_bytes()),
        Err(SdpError::Origin { line: 2 })
    );
    let bad_t = "v=0\r\nt=now\r\n";
    assert_eq!(
        Sdp::parse(bad_t.as_bytes()),
        Err(SdpError::Timing { line: 2 })
    );
    let no_eq = "v=0\r\nhello\r\n";
    assert_eq!(
        Sdp::parse(no_eq.as_bytes()),
        Err(SdpError::MalformedLine { line: 2 })
    );
    assert_eq!(Sdp::parse(b"v=1\r\n"), Err(SdpError::Version { line: 1 }));
}

#[test]
fn anchor_rewrites_connection_ports_and_rtcp() {
    let relay: IpAddr = "198.51.100.1".parse().unwrap();
    let mut s = Sdp::parse(ZOIPER.as_bytes()).unwrap();
    anchor(&mut s, relay, &[20000, 20002]);
    let out = s.print();
    assert!(out.contains("c=IN IP4 198.51.100.1\r\n"));
    assert!(out.contains("m=audio 20000 RTP/AVP 106 9 98 101 0 8 3\r\n"));
    assert!(out.contains("m=video 20002 RTP/AVP 99\r\n"));
    // Everything else untouched.
    assert_eq!(out.lines().count(), ZOIPER.lines().count());
    assert!(out.contains("o=Z 1712 1 IN IP4 192.168.1.23\r\n"));

    let mut l = Sdp::parse(LINPHONE_ICE.as_bytes()).unwrap();
    anchor(&mut l, relay, &[20004]);
    assert_eq!(l.media[0].rtcp().unwrap().port, 20005);
    assert_eq!(
        l.remote_media(0).unwrap().rtp,
        "198.51.100.1:20004".parse::<SocketAddr>().unwrap()
    );

    // IPv6 media-level c= onto an IPv4 relay; mux: a=rtcp takes the RTP port and the relay.
    let mut w = Sdp::parse(WEBRTC_V6.as_bytes()).unwrap();
    anchor(&mut w, relay, &[20006]);
    let out = w.print();
    assert!(out.contains("m=audio 20006 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 198.51.100.1\r\n"));
    assert!(out.contains("a=rtcp:20006 IN IP4 198.51.100.1\r\n"));
}

#[test]
fn anchor_onto_ipv6_relay() {
    let relay: IpAddr = "2001:db8::1".parse().unwrap();
    let mut s = Sdp::parse(ZOIPER.as_bytes()).unwrap();
    anchor(&mut s, relay, &[30000, 30002]);
    assert!(s.print().contains("c=IN IP6 2001:db8::1\r\n"));
}

#[test]
fn hold_passes_through() {
    let relay: IpAddr = "198.51.100.1".parse().unwrap();
    let old_hold = ZOIPER.replace("c=IN IP4 192.168.1.23", "c=IN IP4 0.0.0.0");
    let mut s = Sdp::parse(old_hold.as_bytes()).unwrap();
    anchor(&mut s, relay, &[20000, 20002]);
    let out = s.print();
    assert!(out.contains("c=IN IP4 0.0.0.0\r\n"));
    assert!(!out.contains("198.51.100.1"));
    assert!(s.is_hold(0));
    assert!(s.remote_media(0).unwrap().rtp.ip().is_unspecified());

    let sendonly = ZOIPER.replace("a=sendrecv", "a=sendonly");
    let mut s = Sdp::parse(sendonly.as_bytes()).unwrap();
    anchor(&mut s, relay, &[20000, 20002]);
    assert_eq!(s.direction(0), Direction::SendOnly);
    assert!(s.print().matches("a=sendonly\r\n").count() == 2);
    assert!(s.is_hold(1));

    let inactive = ZOIPER.replace("a=sendrecv", "a=inactive");
    let s = Sdp::parse(inactive.as_bytes()).unwrap();
    assert_eq!(s.direction(1), Direction::Inactive);
}

#[test]
fn rejected_mline_keeps_port_zero() {
    let relay: IpAddr = "198.51.100.1".parse().unwrap();
    let rejected = ZOIPER.replace("m=video 8002", "m=video 0");
    let mut s = Sdp::parse(rejected.as_bytes()).unwrap();
    anchor(&mut s, relay, &[20000, 20002]);
    assert_eq!(s.media[1].desc.port, 0);
    assert_eq!(s.remote_media(1), None);
}

#[test]
fn relay_candidate_added_once_per_mline() {
    let relay: IpAddr = "198.51.100.1".parse().unwrap();
    let mut l = Sdp::parse(LINPHONE_ICE.as_bytes()).unwrap();
    assert_eq!(add_relay_candidate(&mut l, relay, &[20008]), 2);
    let out = l.print();
    assert!(out.contains(
        "a=candidate:2 2 UDP 1694498686 203.0.113.9 51763 typ srflx raddr 10.0.0.5 rport 7079\r\n\
a=candidate:ferrorelay 1 UDP 16777215 198.51.100.1 20008 typ relay raddr 198.51.100.1 rport 20008\r\n\
a=candidate:ferrorelay 2 UDP 16777214 198.51.100.1 20009 typ relay raddr 198.51.100.1 rport 20009\r\n\
a=rtcp-fb:* trr-int 5000\r\n"
    ));
    // c=/m= untouched (candidate-only mode).
    assert!(out.contains("m=audio 51762 RTP/AVP"));
    // A second pass finds the relay candidate and adds nothing.
    assert_eq!(add_relay_candidate(&mut l, relay, &[20008]), 0);

    // rtcp-mux without component 2 candidates: component 1 only, before end-of-candidates.
    let mut w = Sdp::parse(WEBRTC_V6.as_bytes()).unwrap();
    assert_eq!(add_relay_candidate(&mut w, relay, &[20010]), 1);
    assert!(w
        .print()
        .contains("typ relay raddr 198.51.100.1 rport 20010\r\na=end-of-candidates\r\n"));

    // No ICE at all: nothing added.
    let mut z = Sdp::parse(ZOIPER.as_bytes()).unwrap();
    assert_eq!(add_relay_candidate(&mut z, relay, &[20000, 20002]), 0);
}
