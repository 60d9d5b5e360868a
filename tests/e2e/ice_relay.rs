//! The `typ relay` candidate the relay injects, used by a real ICE agent (`is`, str0m's
//! standalone sans-IO ICE agent) on each side of an ONNET call: each agent learns only the
//! other side's relay candidate (their host candidates name an unreachable TEST-NET address),
//! so the connectivity checks, the nomination and then the media all cross the relay.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use is::stun::StunMessage;
use is::{Candidate, IceAgent, IceAgentEvent, IceConnectionState, IceCreds, Protocol};
use sip_message::{HeaderName, Message, MessageBuilder};

use crate::harness::Site;
use crate::ua::{Ua, REALM};

/// An ICE offer/answer body: the socket's real address in `c=`/`m=`, a host candidate that
/// cannot be reached (192.0.2.1, TEST-NET-1), and the agent's credentials.
fn sdp(media: SocketAddr, creds: &IceCreds) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\na=ice-ufrag:{u}\r\na=ice-pwd:{p}\r\n\
         a=candidate:1 1 UDP 2130706431 192.0.2.1 {port} typ host\r\n",
        ip = media.ip(),
        port = media.port(),
        u = creds.ufrag,
        p = creds.pass
    )
}

/// The remote agent's credentials and its `typ relay` candidates, from an SDP body.
fn remote(body: &[u8]) -> (IceCreds, Vec<Candidate>) {
    let text = String::from_utf8_lossy(body);
    let attr = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in {text}"))
            .trim()
            .to_owned()
    };
    let creds = IceCreds {
        ufrag: attr("a=ice-ufrag:"),
        pass: attr("a=ice-pwd:"),
    };
    let relays: Vec<Candidate> = text
        .lines()
        .filter(|l| l.contains("typ relay"))
        .map(|l| {
            Candidate::from_sdp_string(l.trim().trim_start_matches("a="))
                .unwrap_or_else(|e| panic!("{l}: {e}"))
        })
        .collect();
    assert!(!relays.is_empty(), "the relay added its candidate: {text}");
    (creds, relays)
}

struct Peer {
    agent: IceAgent,
    sock: UdpSocket,
    nominated: Option<SocketAddr>,
    /// Non-STUN datagrams received, with their source.
    media: Vec<(Vec<u8>, SocketAddr)>,
}

impl Peer {
    fn new(controlling: bool) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        let mut agent = IceAgent::new(IceCreds::new());
        agent.set_controlling(controlling);
        agent.add_local_candidate(Candidate::host(sock.local_addr().unwrap(), "udp").unwrap());
        Self {
            agent,
            sock,
            nominated: None,
            media: Vec::new(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    fn learn(&mut self, body: &[u8]) {
        let (creds, relays) = remote(body);
        self.agent.set_remote_credentials(creds);
        for c in relays {
            self.agent.add_remote_candidate(c);
        }
    }

    /// One round: timers, what the agent sends, what arrived, its events.
    fn step(&mut self, now: Instant) {
        self.agent.handle_timeout(now);
        while let Some(t) = self.agent.poll_transmit() {
            let _ = self.sock.send_to(&t.contents, t.destination);
        }
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = self.sock.recv_from(&mut buf) {
            match StunMessage::parse(&buf[..n]) {
                Ok(message) => {
                    let _ = self.agent.handle_packet(
                        now,
                        is::stun::StunPacket {
                            proto: Protocol::Udp,
                            source: from,
                            destination: self.addr(),
                            message,
                        },
                    );
                }
                Err(_) => self.media.push((buf[..n].to_vec(), from)),
            }
        }
        while let Some(e) = self.agent.poll_event() {
            if let IceAgentEvent::NominatedSend { destination, .. } = e {
                self.nominated = Some(destination);
            }
        }
    }
}

/// The callee's 200 with its SDP (the B2BUA relays it to the caller).
fn ok_with_sdp(invite: &Message, contact: SocketAddr, body: &str) -> bytes::Bytes {
    let mut b = MessageBuilder::response_to(invite, 200, Some("bobice"), None);
    b.header("Contact", format_args!("<sip:bob@{contact}>"));
    b.finish_with_body("application/sdp", body.as_bytes())
}

#[test]
fn a_real_ice_agent_connects_through_the_injected_relay_candidate() {
    let site = Site::with_sections(
        "[media]\nbind_address = \"127.0.0.1\"\nport_min = 41600\nport_max = 41700\n",
    );
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    let server = site.start();
    let mut bob = Ua::new(server.udp, "bob", "builder");
    bob.register(300);
    let mut caller = Peer::new(true);
    let mut callee = Peer::new(false);
    let offer = sdp(caller.addr(), caller.agent.local_credentials());
    let answer = sdp(callee.addr(), callee.agent.local_credentials());

    // bob answers the INVITE (relayed with the relay candidate added) with his SDP
    let to_server = server.udp;
    let bob_thread = std::thread::spawn(move || {
        let invite = bob.expect_request("INVITE", 10);
        let ok = ok_with_sdp(&invite, bob.local, &answer);
        bob.sock.send_to(&ok, to_server).unwrap();
        (invite, bob)
    });
    let mut alice = Ua::new(server.udp, "alice", "wonderland");
    let uri = format!("sip:bob@{REALM}");
    let ok = alice.request(
        "INVITE",
        &uri,
        &uri,
        "",
        Some(("application/sdp", offer.as_bytes())),
        None,
    );
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let (invite, _bob) = bob_thread.join().unwrap();
    // the ACK for the 200
    let contact = ok
        .header(&HeaderName::Contact)
        .expect("Contact in the 200")
        .trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let ack = format!(
        "ACK {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKiceack;rport\r\nFrom: {}\r\nTo: {}\r\n\
         Call-ID: {}\r\nCSeq: {} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        alice.local,
        ok.header(&HeaderName::From).unwrap(),
        ok.header(&HeaderName::To).unwrap(),
        ok.call_id().unwrap(),
        ok.cseq().unwrap().seq
    );
    alice.sock.send_to(ack.as_bytes(), server.udp).unwrap();

    caller.learn(ok.body());
    callee.learn(invite.body());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && (caller.nominated.is_none()
            || callee.nominated.is_none()
            || !matches!(
                caller.agent.state(),
                IceConnectionState::Connected | IceConnectionState::Completed
            ))
    {
        let now = Instant::now();
        caller.step(now);
        callee.step(now);
        std::thread::sleep(Duration::from_millis(5));
    }
    let (Some(to_callee), Some(to_caller)) = (caller.nominated, callee.nominated) else {
        panic!(
            "ICE did not complete: caller {:?}, callee {:?}",
            caller.agent.state(),
            callee.agent.state()
        );
    };
    let relay_ports = 41600..=41700;
    assert!(
        relay_ports.contains(&to_callee.port()) && to_callee.ip() == caller.addr().ip(),
        "the caller nominated the relay candidate: {to_callee}"
    );
    assert!(
        relay_ports.contains(&to_caller.port()),
        "the callee's path is the relay too: {to_caller}"
    );
    // media over the nominated pairs crosses the relay, both ways
    let rtp = |seq: u8| {
        let mut p = vec![0x80, 0x00, 0, seq, 0, 0, 0, seq, 0, 0, 0, 7];
        p.resize(172, 0xd5);
        p
    };
    for seq in 1..=5 {
        caller.sock.send_to(&rtp(seq), to_callee).unwrap();
        callee.sock.send_to(&rtp(seq + 100), to_caller).unwrap();
    }
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until && (caller.media.len() < 5 || callee.media.len() < 5) {
        let now = Instant::now();
        caller.step(now);
        callee.step(now);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(callee.media.len(), 5, "caller → callee");
    assert_eq!(caller.media.len(), 5, "callee → caller");
    assert!(callee
        .media
        .iter()
        .all(|(_, from)| relay_ports.contains(&from.port())));
    assert_eq!(callee.media[0].0, rtp(1));
    assert_eq!(caller.media[0].0, rtp(101));
    server.stop();
}
