//! The relay with real UDP endpoints on 127.0.0.1.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use media::sdp::Sdp;
use media_io::{MediaConfig, MediaError, Mode, Relay, RelayEvent, RelayHandle, Side};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

const LOCALHOST: &str = "127.0.0.1";

/// Each test gets its own port range (below the usual ephemeral range, 32768-60999) so that
/// tests running in parallel do not collide.
fn start(
    port_min: u16,
    pairs: u16,
    timeout: Duration,
) -> (RelayHandle, mpsc::Receiver<RelayEvent>) {
    let mut config = MediaConfig::new(LOCALHOST.parse().unwrap());
    config.port_min = port_min;
    config.port_max = port_min + 2 * pairs - 1;
    config.inactivity_timeout = timeout;
    config.hold_timeout = timeout;
    Relay::start(config).unwrap()
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.resize(172, 0xd5);
    p
}

fn rtcp_rr() -> Vec<u8> {
    vec![0x80, 201, 0, 1, 0, 0, 0, 9]
}

fn sdp(port: u16, extra: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n{extra}"
    )
}

/// The relay address (c=, m=) of a rewritten SDP.
fn relay_addr(body: &[u8]) -> SocketAddr {
    let s = Sdp::parse(body).unwrap();
    s.remote_media(0).unwrap().rtp
}

async fn udp() -> UdpSocket {
    UdpSocket::bind((LOCALHOST, 0)).await.unwrap()
}

async fn recv(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 2048];
    match tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => {
            buf.truncate(n);
            Some((buf, from))
        }
        _ => None,
    }
}

async fn nothing(s: &UdpSocket) -> bool {
    let mut buf = [0u8; 2048];
    tokio::time::timeout(Duration::from_millis(200), s.recv_from(&mut buf))
        .await
        .is_err()
}

fn port(s: &UdpSocket) -> u16 {
    s.local_addr().unwrap().port()
}

#[tokio::test]
async fn rtp_both_ways_with_a_nat_endpoint_rtcp_and_counters() {
    let (relay, _events) = start(31000, 20, Duration::from_secs(30));
    // A: RTP and RTCP sockets (RTCP announced with a=rtcp).
    let a_rtp = udp().await;
    let a_rtcp = udp().await;
    // B announces `b_sdp` but sends from other ports (behind NAT).
    let b_sdp = udp().await;
    let b_nat = udp().await;
    let b_nat_rtcp = udp().await;

    let offer = sdp(port(&a_rtp), &format!("a=rtcp:{}\r\n", port(&a_rtcp)));
    let to_b = relay
        .offer("call-1", Side::A, offer.as_bytes(), Mode::Anchor)
        .unwrap();
    let pb = relay_addr(&to_b);
    let to_b_text = String::from_utf8(to_b.to_vec()).unwrap();
    assert!(
        to_b_text.contains(&format!("a=rtcp:{} IN IP4 127.0.0.1\r\n", pb.port() + 1))
            || to_b_text.contains(&format!("a=rtcp:{}\r\n", pb.port() + 1))
    );
    let answer = sdp(port(&b_sdp), "");
    let to_a = relay
        .answer("call-1", Side::B, answer.as_bytes(), Mode::Anchor)
        .unwrap();
    let pa = relay_addr(&to_a);
    assert_eq!(pa.ip(), LOCALHOST.parse::<IpAddr>().unwrap());
    assert_ne!(pa.port(), pb.port());

    // B has sent nothing yet: A's first packet goes to B's SDP address, from pb.
    a_rtp.send_to(&rtp(1, 0xA), pa).await.unwrap();
    let (p, from) = recv(&b_sdp).await.expect("to B's SDP address");
    assert_eq!((p, from), (rtp(1, 0xA), pb));

    // B (NAT) sends from another port: A receives it from pa...
    b_nat.send_to(&rtp(100, 0xB), pb).await.unwrap();
    let (p, from) = recv(&a_rtp).await.expect("B to A");
    assert_eq!((p, from), (rtp(100, 0xB), pa));
    // ...and from now on A's media reaches B's real address (latched), not its SDP address.
    for seq in 2..=50u16 {
        a_rtp.send_to(&rtp(seq, 0xA), pa).await.unwrap();
        let (p, from) = recv(&b_nat).await.expect("A to B (latched)");
        assert_eq!((p, from), (rtp(seq, 0xA), pb));
    }
    assert!(nothing(&b_sdp).await);
    // B sends 20 more, one lost on the way (seq 110 never sent).
    for seq in (101..=121u16).filter(|s| *s != 110) {
        b_nat.send_to(&rtp(seq, 0xB), pb).await.unwrap();
        assert!(recv(&a_rtp).await.is_some());
    }

    // RTCP on rtp + 1, both ways; B's RTCP also comes from a NAT port.
    b_nat_rtcp
        .send_to(&rtcp_rr(), SocketAddr::new(pb.ip(), pb.port() + 1))
        .await
        .unwrap();
    let (p, from) = recv(&a_rtcp).await.expect("B's RTCP to A's a=rtcp port");
    assert_eq!((p, from.port()), (rtcp_rr(), pa.port() + 1));
    a_rtcp
        .send_to(&rtcp_rr(), SocketAddr::new(pa.ip(), pa.port() + 1))
        .await
        .unwrap();
    let (p, from) = recv(&b_nat_rtcp)
        .await
        .expect("A's RTCP to B's latched RTCP address");
    assert_eq!((p, from.port()), (rtcp_rr(), pb.port() + 1));

    // A stranger cannot inject into B's port while B is active.
    let stranger = udp().await;
    stranger.send_to(&rtp(7, 0xC), pb).await.unwrap();
    assert!(nothing(&a_rtp).await);

    let s = relay.stats("call-1").unwrap();
    assert_eq!(s.a_to_b.rtp_packets, 50);
    assert_eq!(s.a_to_b.rtcp_packets, 1);
    assert_eq!(s.a_to_b.bytes, 50 * 172 + 8);
    assert_eq!(s.a_to_b.lost, 0);
    assert_eq!(s.b_to_a.rtp_packets, 21);
    assert_eq!(s.b_to_a.rtcp_packets, 1);
    assert_eq!(s.b_to_a.lost, 1);
    assert_eq!(s.b_to_a.dropped, 1);
    // the relay's totals: 51 + 22 relayed, the stranger's one dropped
    let c = relay.counters();
    assert_eq!(c.relayed.load(Ordering::Relaxed), 73);
    assert_eq!(
        c.relayed_bytes.load(Ordering::Relaxed),
        s.a_to_b.bytes + s.b_to_a.bytes
    );
    assert_eq!(c.dropped.load(Ordering::Relaxed), 1);

    let free_before = relay.free_port_pairs();
    let fin = relay.end("call-1").unwrap();
    assert_eq!(fin.a_to_b.rtp_packets, 50);
    assert_eq!(relay.free_port_pairs(), free_before + 2);
    assert!(relay.end("call-1").is_none());
    // The ports are closed: nothing is relayed any more.
    a_rtp.send_to(&rtp(51, 0xA), pa).await.unwrap();
    assert!(nothing(&b_nat).await);
}

#[tokio::test]
async fn inactivity_event_fires_and_reinvite_reuses_ports() {
    let (relay, mut events) = start(31100, 20, Duration::from_millis(1000));
    let a = udp().await;
    let b = udp().await;
    let to_b = relay
        .offer(
            "c-idle",
            Side::A,
            sdp(port(&a), "").as_bytes(),
            Mode::Anchor,
        )
        .unwrap();
    let to_a = relay
        .answer(
            "c-idle",
            Side::B,
            sdp(port(&b), "").as_bytes(),
            Mode::Anchor,
        )
        .unwrap();
    let (pa, pb) = (relay_addr(&to_a), relay_addr(&to_b));

    // A re-INVITE (here: A puts B on hold, then resumes) keeps the same relay ports.
    let hold = sdp(port(&a), "a=sendonly\r\n");
    let again = relay
        .offer("c-idle", Side::A, hold.as_bytes(), Mode::Anchor)
        .unwrap();
    assert_eq!(relay_addr(&again), pb);
    assert!(String::from_utf8(again.to_vec())
        .unwrap()
        .contains("a=sendonly\r\n"));
    let again = relay
        .answer(
            "c-idle",
            Side::B,
            sdp(port(&b), "a=recvonly\r\n").as_bytes(),
            Mode::Anchor,
        )
        .unwrap();
    assert_eq!(relay_addr(&again), pa);

    // Media keeps the call alive for a while...
    for seq in 0..5u16 {
        a.send_to(&rtp(seq, 1), pa).await.unwrap();
        assert!(recv(&b).await.is_some());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(events.try_recv().is_err());
    // ...then silence: the event comes once the timeout has passed.
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ev,
        RelayEvent::Inactive {
            call: "c-idle".into()
        }
    );
    assert!(relay.end("c-idle").is_some());
}

#[tokio::test]
async fn rtcp_mux_and_candidate_only_mode() {
    let (relay, _events) = start(31200, 20, Duration::from_secs(30));
    let a = udp().await;
    let b = udp().await;
    let ice =
        |p: u16| format!("a=rtcp-mux\r\na=candidate:1 1 UDP 2130706431 127.0.0.1 {p} typ host\r\n");
    let offer = sdp(port(&a), &ice(port(&a)));
    let to_b = relay
        .offer("c-ice", Side::A, offer.as_bytes(), Mode::CandidateOnly)
        .unwrap();
    let text = String::from_utf8(to_b.to_vec()).unwrap();
    // c=/m= untouched, one relay candidate (mux: component 1 only).
    assert!(text.contains(&format!("m=audio {} RTP/AVP", port(&a))));
    let relay_cands: Vec<&str> = text.lines().filter(|l| l.contains("typ relay")).collect();
    assert_eq!(relay_cands.len(), 1, "{text}");
    let pb: u16 = relay_cands[0].split(' ').nth(5).unwrap().parse().unwrap();
    let answer = sdp(port(&b), &ice(port(&b)));
    let to_a = relay
        .answer("c-ice", Side::B, answer.as_bytes(), Mode::CandidateOnly)
        .unwrap();
    let text = String::from_utf8(to_a.to_vec()).unwrap();
    let pa: u16 = text
        .lines()
        .find(|l| l.contains("typ relay"))
        .unwrap()
        .split(' ')
        .nth(5)
        .unwrap()
        .parse()
        .unwrap();
    let (pa, pb) = (
        SocketAddr::new(LOCALHOST.parse().unwrap(), pa),
        SocketAddr::new(LOCALHOST.parse().unwrap(), pb),
    );
    // ICE picked the relay pair: RTP and muxed RTCP flow through the relay candidate ports.
    a.send_to(&rtp(1, 1), pa).await.unwrap();
    assert_eq!(recv(&b).await.unwrap(), (rtp(1, 1), pb));
    b.send_to(&rtcp_rr(), pb).await.unwrap();
    assert_eq!(recv(&a).await.unwrap(), (rtcp_rr(), pa));
    let s = relay.end("c-ice").unwrap();
    assert_eq!((s.a_to_b.rtp_packets, s.b_to_a.rtcp_packets), (1, 1));
}

#[test]
fn the_handle_can_be_shared_with_the_b2bua_task() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<RelayHandle>();
}

#[tokio::test]
async fn errors_are_typed_and_ports_run_out() {
    let (relay, _events) = start(31300, 3, Duration::from_secs(30));
    assert!(matches!(
        relay.offer("x", Side::A, b"not sdp", Mode::Anchor),
        Err(MediaError::Sdp(_))
    ));
    let s = sdp(5000, "");
    relay
        .offer("c1", Side::A, s.as_bytes(), Mode::Anchor)
        .unwrap();
    relay
        .answer("c1", Side::B, s.as_bytes(), Mode::Anchor)
        .unwrap();
    relay
        .offer("c2", Side::A, s.as_bytes(), Mode::Anchor)
        .unwrap();
    // Three pairs: the answer of c2 finds none left, c2 keeps what it had.
    assert!(matches!(
        relay.answer("c2", Side::B, s.as_bytes(), Mode::Anchor),
        Err(MediaError::Relay(_))
    ));
    // A new call that cannot get its ports leaves nothing behind.
    assert!(relay
        .offer("c3", Side::A, s.as_bytes(), Mode::Anchor)
        .is_err());
    assert_eq!(relay.sessions(), 2);
    relay.end("c1").unwrap();
    assert!(relay
        .answer("c2", Side::B, s.as_bytes(), Mode::Anchor)
        .is_ok());
    assert!(MediaConfig::default().public_ip.is_none());
    assert!(
        Relay::start(MediaConfig::default()).is_err(),
        "0.0.0.0 without public_ip"
    );
}

#[tokio::test]
async fn a_new_inactivity_timeout_applies_to_calls_offered_after_it() {
    let (relay, mut events) = start(31400, 4, Duration::from_secs(60));
    relay.set_inactivity_timeout(Duration::from_millis(300));
    let a = udp().await;
    let b = udp().await;
    relay
        .offer(
            "c-short",
            Side::A,
            sdp(port(&a), "").as_bytes(),
            Mode::Anchor,
        )
        .unwrap();
    relay
        .answer(
            "c-short",
            Side::B,
            sdp(port(&b), "").as_bytes(),
            Mode::Anchor,
        )
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("inactive well before the old 60 s")
        .unwrap();
    assert_eq!(
        ev,
        RelayEvent::Inactive {
            call: "c-short".into()
        }
    );
    assert!(relay.end("c-short").is_some());
}

/// Bound to `::` with an IPv4 and an IPv6 public address: each side's SDP names the relay in
/// that side's IP version (told by `set_peer_family`, else taken from the side's own SDP), and
/// RTP crosses from an IPv4 endpoint to an IPv6 one.
#[tokio::test]
async fn each_side_gets_the_relay_in_its_own_ip_version() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        test_support::skipped("media-io", "no IPv6 loopback for the dual-stack relay test");
        return;
    }
    let mut config = MediaConfig::new("::".parse().unwrap());
    config.public_ip = Some(LOCALHOST.parse().unwrap());
    config.public_ip_v6 = Some("::1".parse().unwrap());
    config.port_min = 31600;
    config.port_max = 31639;
    let (relay, _events) = Relay::start(config).unwrap();
    let a = udp().await;
    let b = UdpSocket::bind("[::1]:0").await.unwrap();
    // the callee is known to be IPv6 before the offer: the offer to it says IN IP6
    relay.set_peer_family("v6", Side::B, true);
    let to_b = relay
        .offer("v6", Side::A, sdp(port(&a), "").as_bytes(), Mode::Anchor)
        .unwrap();
    let pb = relay_addr(&to_b);
    assert_eq!(pb.ip(), "::1".parse::<IpAddr>().unwrap(), "{to_b:?}");
    assert!(String::from_utf8_lossy(&to_b).contains("c=IN IP6 ::1"));
    let answer = sdp(port(&b), "").replace("IN IP4 127.0.0.1", "IN IP6 ::1");
    let to_a = relay
        .answer("v6", Side::B, answer.as_bytes(), Mode::Anchor)
        .unwrap();
    let pa = relay_addr(&to_a);
    assert_eq!(
        pa.ip(),
        LOCALHOST.parse::<IpAddr>().unwrap(),
        "the caller's SDP was IPv4"
    );
    a.send_to(&rtp(1, 7), pa).await.unwrap();
    let (got, from) = recv(&b).await.expect("IPv4 → IPv6");
    assert_eq!((got, from.port()), (rtp(1, 7), pb.port()));
    b.send_to(&rtp(1, 8), pb).await.unwrap();
    let (got, from) = recv(&a).await.expect("IPv6 → IPv4");
    assert_eq!((got, from), (rtp(1, 8), pa));
    let s = relay.end("v6").unwrap();
    assert_eq!((s.a_to_b.rtp_packets, s.b_to_a.rtp_packets), (1, 1));
    assert_eq!(s.a_to_b.bytes, 172);

    // without public_ip_v6 every side gets the one public address, as before
    let (v4_only, _e) = start(31640, 10, Duration::from_secs(30));
    v4_only.set_peer_family("v4", Side::B, true);
    let to_b = v4_only
        .offer("v4", Side::A, sdp(port(&a), "").as_bytes(), Mode::Anchor)
        .unwrap();
    assert_eq!(relay_addr(&to_b).ip(), LOCALHOST.parse::<IpAddr>().unwrap());
}
