//! The relay table on a virtual clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::relay::{
    Action, Component, DropCause, RelayConfig, RelayError, RelayEvent, RelayTable, RemoteMedia,
    Side, Transmit,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn rtp(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.resize(172, 0xd5);
    p
}

/// An RTCP receiver report (PT 201).
fn rtcp() -> Vec<u8> {
    vec![0x80, 201, 0, 1, 0, 0, 0, 9]
}

const A_SDP: &str = "192.0.2.10:4000";
const B_SDP: &str = "10.0.0.9:6000"; // B is behind NAT: its SDP has a private address
const B_NAT: &str = "203.0.113.5:61000";

struct Call {
    t: RelayTable,
    t0: Instant,
    pa: u16,
    pb: u16,
}

fn config() -> RelayConfig {
    RelayConfig {
        port_min: 40000,
        port_max: 40019,
        inactivity_timeout: Duration::from_secs(30),
        relatch_after: Duration::from_secs(5),
    }
}

/// Offer from A (ports facing B, remote of A), answer from B (ports facing A, remote of B).
fn call_with(a: RemoteMedia, b: RemoteMedia) -> Call {
    let mut t = RelayTable::new(config()).unwrap();
    let t0 = Instant::now();
    let pb = t.allocate(t0, "c1", Side::B, 0).unwrap();
    t.set_remote("c1", Side::A, 0, a).unwrap();
    let pa = t.allocate(t0, "c1", Side::A, 0).unwrap();
    t.set_remote("c1", Side::B, 0, b).unwrap();
    assert_ne!(pa, pb);
    Call { t, t0, pa, pb }
}

fn call() -> Call {
    call_with(addr(A_SDP).into(), addr(B_SDP).into())
}

fn fwd(from_port: u16, to: &str) -> Action {
    Action::Forward(Transmit {
        from_port,
        to: addr(to),
    })
}

#[test]
fn forwards_both_ways_from_the_port_facing_the_destination() {
    let mut c = call();
    let now = c.t0 + Duration::from_millis(20);
    // A sends to pa; it leaves from pb to B's SDP address (B has not sent anything yet).
    assert_eq!(
        c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(1, 0, 1)),
        fwd(c.pb, B_SDP)
    );
    // B sends to pb; it leaves from pa to A.
    assert_eq!(
        c.t.handle_packet(now, c.pb, addr(B_SDP), &rtp(1, 0, 2)),
        fwd(c.pa, A_SDP)
    );
}

#[test]
fn nat_source_is_latched_and_strangers_are_dropped() {
    let mut c = call();
    let mut now = c.t0;
    // B's packets come from its NAT address, not from its SDP address.
    assert_eq!(
        c.t.handle_packet(now, c.pb, addr(B_NAT), &rtp(1, 0, 2)),
        fwd(c.pa, A_SDP)
    );
    assert_eq!(
        c.t.latched("c1", Side::B, 0, Component::Rtp),
        Some(addr(B_NAT))
    );
    // From now on A's media goes to the NAT address.
    assert_eq!(
        c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(1, 0, 1)),
        fwd(c.pb, B_NAT)
    );
    // Someone else sending to B's port while B is active: dropped.
    now += Duration::from_secs(1);
    let stranger = addr("198.51.100.66:1234");
    assert_eq!(
        c.t.handle_packet(now, c.pb, stranger, &rtp(9, 0, 9)),
        Action::Drop(DropCause::NotLatchedSource)
    );
    assert_eq!(c.t.stats("c1").unwrap().b_to_a.dropped, 1);
    // B silent for longer than relatch_after (its phone changed network): the new source wins.
    now += Duration::from_secs(5);
    assert_eq!(
        c.t.handle_packet(now, c.pb, stranger, &rtp(2, 160, 2)),
        fwd(c.pa, A_SDP)
    );
    assert_eq!(
        c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(2, 160, 1)),
        fwd(c.pb, "198.51.100.66:1234")
    );
}

#[test]
fn new_sdp_address_drops_the_latch_hold_keeps_it() {
    let mut c = call();
    let now = c.t0;
    let _ = c.t.handle_packet(now, c.pb, addr(B_NAT), &rtp(1, 0, 2));
    // Re-INVITE with the same address (e.g. codec change): still latched.
    c.t.set_remote("c1", Side::B, 0, addr(B_SDP).into())
        .unwrap();
    assert_eq!(
        c.t.destination("c1", Side::B, 0, Component::Rtp),
        Some(addr(B_NAT))
    );
    // B puts A on hold the RFC 2543 way: nothing is sent to B, the latch stays.
    c.t.set_remote("c1", Side::B, 0, addr("0.0.0.0:6000").into())
        .unwrap();
    assert_eq!(
        c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(1, 0, 1)),
        Action::Drop(DropCause::PeerOnHold)
    );
    // Resume with the old address: media flows to the latched NAT address again.
    c.t.set_remote("c1", Side::B, 0, addr(B_SDP).into())
        .unwrap();
    assert_eq!(
        c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(2, 160, 1)),
        fwd(c.pb, B_NAT)
    );
    // B moved (new SDP address): the latch is dropped, the new SDP address is used.
    c.t.set_remote("c1", Side::B, 0, addr("10.1.1.1:7000").into())
        .unwrap();
    assert_eq!(c.t.latched("c1", Side::B, 0, Component::Rtp), None);
    assert_eq!(
        c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(3, 320, 1)),
        fwd(c.pb, "10.1.1.1:7000")
    );
    // And the first packet from anywhere latches again at once.
    assert_eq!(
        c.t.handle_packet(now, c.pb, addr("203.0.113.7:1"), &rtp(5, 0, 2)),
        fwd(c.pa, A_SDP)
    );
}

#[test]
fn rtcp_on_the_next_port() {
    let mut c = call();
    let now = c.t0;
    // A's RTCP (from A's RTCP port) arrives on pa + 1 and leaves from pb + 1 to B's RTCP port.
    assert_eq!(
        c.t.handle_packet(now, c.pa + 1, addr("192.0.2.10:4001"), &rtcp()),
        fwd(c.pb + 1, "10.0.0.9:6001")
    );
    // B's RTCP from its NAT mapping latches B's RTCP address separately.
    assert_eq!(
        c.t.handle_packet(now, c.pb + 1, addr("203.0.113.5:61001"), &rtcp()),
        fwd(c.pa + 1, "192.0.2.10:4001")
    );
    assert_eq!(
        c.t.latched("c1", Side::B, 0, Component::Rtcp),
        Some(addr("203.0.113.5:61001"))
    );
    assert_eq!(c.t.latched("c1", Side::B, 0, Component::Rtp), None);
    let s = c.t.stats("c1").unwrap();
    assert_eq!((s.a_to_b.rtcp_packets, s.b_to_a.rtcp_packets), (1, 1));
    assert_eq!((s.a_to_b.rtp_packets, s.a_to_b.packets), (0, 1));
}

#[test]
fn rtcp_mux_on_the_rtp_port() {
    let mux = |a: &str| RemoteMedia {
        rtp: addr(a),
        rtcp: None,
        rtcp_mux: true,
    };
    let mut c = call_with(mux(A_SDP), mux(B_SDP));
    let now = c.t0;
    assert_eq!(
        c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(1, 0, 1)),
        fwd(c.pb, B_SDP)
    );
    assert_eq!(
        c.t.handle_packet(now, c.pa, addr(A_SDP), &rtcp()),
        fwd(c.pb, B_SDP)
    );
    assert_eq!(
        c.t.handle_packet(now, c.pb, addr(B_NAT), &rtcp()),
        fwd(c.pa, A_SDP)
    );
    // B's RTCP latched B's (single) address: A's RTP now goes there.
    assert_eq!(
        c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(2, 160, 1)),
        fwd(c.pb, B_NAT)
    );
    let s = c.t.stats("c1").unwrap();
    assert_eq!(s.a_to_b.rtp_packets, 2);
    assert_eq!(s.a_to_b.rtcp_packets, 1);
    assert_eq!(s.a_to_b.lost, 0);
}

#[test]
fn rtcp_between_a_muxing_and_a_non_muxing_side() {
    // A offered mux, B answered without: mux is off for the m-line; RTCP that A still sends on
    // its RTP port goes to B's RTCP port, and B's RTCP reaches A on A's RTCP address.
    let a = RemoteMedia {
        rtp: addr(A_SDP),
        rtcp: None,
        rtcp_mux: true,
    };
    let mut c = call_with(a, addr(B_SDP).into());
    let now = c.t0;
    assert_eq!(
        c.t.handle_packet(now, c.pa, addr(A_SDP), &rtcp()),
        fwd(c.pb + 1, "10.0.0.9:6001")
    );
    assert_eq!(
        c.t.handle_packet(now, c.pb + 1, addr("10.0.0.9:6001"), &rtcp()),
        fwd(c.pa + 1, A_SDP)
    );
}

#[test]
fn counters_loss_reordering_wrap_and_jitter() {
    let mut c = call();
    // A sends 200 packets every 20 ms, sequence numbers wrapping at 65535; 3 are lost, 2 swapped.
    let mut order: Vec<u16> = (0..200u16).map(|i| 65400u16.wrapping_add(i)).collect();
    order.retain(|s| ![65410u16, 65535, 20].contains(s));
    order.swap(50, 51);
    for (i, seq) in order.iter().enumerate() {
        let k = u32::from(seq.wrapping_sub(65400));
        let now = c.t0 + Duration::from_millis(20 * u64::from(k));
        let _ = i;
        assert!(matches!(
            c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(*seq, 160 * k, 0xA)),
            Action::Forward(_)
        ));
    }
    let s = c.t.stats("c1").unwrap();
    assert_eq!(s.a_to_b.packets, 197);
    assert_eq!(s.a_to_b.rtp_packets, 197);
    assert_eq!(s.a_to_b.bytes, 197 * 172);
    assert_eq!(s.a_to_b.lost, 3);
    assert!(s.a_to_b.jitter_ms < 0.5, "jitter {}", s.a_to_b.jitter_ms);
    assert_eq!(s.b_to_a.packets, 0);
    assert_eq!(s.mlines.len(), 1);
}

#[test]
fn dynamic_payload_clock_rate_from_sdp() {
    let mut c = call();
    c.t.set_clock_rates("c1", 0, &[(111, 48000)]).unwrap();
    // Opus: 960 ticks per 20 ms, arrivals alternately 4 ms early / late.
    for i in 0..400u32 {
        let skew: i64 = if i % 2 == 0 { 4 } else { -4 };
        let ms = (20 * i64::from(i) + 10 + skew) as u64;
        let mut p = rtp(i as u16, 960 * i, 5);
        p[1] = 111;
        let _ =
            c.t.handle_packet(c.t0 + Duration::from_millis(ms), c.pa, addr(A_SDP), &p);
    }
    let j = c.t.stats("c1").unwrap().a_to_b.jitter_ms;
    assert!((j - 8.0).abs() < 0.5, "jitter {j}");
}

#[test]
fn inactivity_timeout_on_a_virtual_clock() {
    let mut c = call();
    let t0 = c.t0;
    assert_eq!(c.t.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    // Traffic in one direction only keeps the call alive.
    for s in 1..=20u64 {
        let now = t0 + Duration::from_secs(s);
        let _ =
            c.t.handle_packet(now, c.pb, addr(B_SDP), &rtp(s as u16, 0, 2));
    }
    c.t.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(c.t.poll_event(), None);
    // The timer was re-armed from the last packet (t0 + 20 s).
    assert_eq!(c.t.poll_timeout(), Some(t0 + Duration::from_secs(50)));
    c.t.handle_timeout(t0 + Duration::from_millis(49_999));
    assert_eq!(c.t.poll_event(), None);
    c.t.handle_timeout(t0 + Duration::from_secs(50));
    assert_eq!(
        c.t.poll_event(),
        Some(RelayEvent::Inactive { call: "c1".into() })
    );
    assert_eq!(c.t.poll_event(), None);
    // Reported once.
    c.t.handle_timeout(t0 + Duration::from_secs(500));
    assert_eq!(c.t.poll_event(), None);
    // Media resumes: armed again.
    let now = t0 + Duration::from_secs(600);
    let _ = c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(1, 0, 1));
    c.t.handle_timeout(now + Duration::from_secs(30));
    assert_eq!(
        c.t.poll_event(),
        Some(RelayEvent::Inactive { call: "c1".into() })
    );
}

#[test]
fn longer_timeout_per_session() {
    let mut c = call();
    c.t.set_timeout("c1", Duration::from_secs(3600)).unwrap();
    c.t.handle_timeout(c.t0 + Duration::from_secs(3599));
    assert_eq!(c.t.poll_event(), None);
    c.t.handle_timeout(c.t0 + Duration::from_secs(3600));
    assert_eq!(
        c.t.poll_event(),
        Some(RelayEvent::Inactive { call: "c1".into() })
    );
}

#[test]
fn timeout_shortened_after_being_extended() {
    let mut c = call();
    c.t.set_timeout("c1", Duration::from_secs(3600)).unwrap();
    for _ in 0..100 {
        c.t.set_timeout("c1", Duration::from_secs(3600)).unwrap();
    }
    c.t.set_timeout("c1", Duration::from_secs(10)).unwrap();
    assert_eq!(c.t.poll_timeout(), Some(c.t0 + Duration::from_secs(10)));
    c.t.handle_timeout(c.t0 + Duration::from_secs(10));
    assert_eq!(
        c.t.poll_event(),
        Some(RelayEvent::Inactive { call: "c1".into() })
    );
    c.t.handle_timeout(c.t0 + Duration::from_secs(3600));
    assert_eq!(c.t.poll_event(), None);
    assert_eq!(c.t.poll_timeout(), None);
}

#[test]
fn reinvite_reuses_ports_end_releases_them() {
    let mut c = call();
    let now = c.t0;
    assert_eq!(c.t.allocate(now, "c1", Side::B, 0), Ok(c.pb));
    assert_eq!(c.t.allocate(now, "c1", Side::A, 0), Ok(c.pa));
    // A video line added by a re-INVITE gets its own pairs.
    let vb = c.t.allocate(now, "c1", Side::B, 1).unwrap();
    assert!(![c.pa, c.pb].contains(&vb));
    let _ = c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(1, 0, 1));
    let ended = c.t.end("c1").unwrap();
    assert_eq!(ended.stats.a_to_b.packets, 1);
    assert_eq!(ended.ports.len(), 3);
    assert!(c.t.is_empty());
    assert_eq!(
        c.t.handle_packet(now, c.pa, addr(A_SDP), &rtp(2, 0, 1)),
        Action::Drop(DropCause::UnknownPort)
    );
    assert_eq!(c.t.end("c1"), None);
    // The old session's timer does not fire for anyone.
    c.t.handle_timeout(now + Duration::from_secs(3600));
    assert_eq!(c.t.poll_event(), None);
}

#[test]
fn ports_run_out_and_come_back() {
    let mut t = RelayTable::new(config()).unwrap(); // 10 pairs
    let now = Instant::now();
    for i in 0..10 {
        t.allocate(now, &format!("c{i}"), Side::A, 0).unwrap();
    }
    assert_eq!(
        t.allocate(now, "c10", Side::A, 0),
        Err(RelayError::PortsExhausted)
    );
    t.end("c3").unwrap();
    assert!(t.allocate(now, "c10", Side::A, 0).is_ok());
    assert!(t.allocate(now, "c10", Side::A, 16).is_err());
}

#[test]
fn no_answer_yet_and_unknown_ports() {
    let mut t = RelayTable::new(config()).unwrap();
    let now = Instant::now();
    let pb = t.allocate(now, "c1", Side::B, 0).unwrap();
    t.set_remote("c1", Side::A, 0, addr(A_SDP).into()).unwrap();
    // B answers media before its SDP answer reached us: nowhere to send it from yet.
    assert_eq!(
        t.handle_packet(now, pb, addr(B_SDP), &rtp(1, 0, 2)),
        Action::Drop(DropCause::NoPeerPort)
    );
    assert_eq!(
        t.handle_packet(now, 39999, addr(B_SDP), &rtp(1, 0, 2)),
        Action::Drop(DropCause::UnknownPort)
    );
    assert_eq!(
        t.handle_packet(now, 65535, addr(B_SDP), &[]),
        Action::Drop(DropCause::UnknownPort)
    );
    assert_eq!(
        t.set_remote("nope", Side::A, 0, addr(A_SDP).into()),
        Err(RelayError::UnknownCall("nope".into()))
    );
}
