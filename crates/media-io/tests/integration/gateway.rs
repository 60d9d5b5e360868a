//! The WebRTC gateway inside the running relay: a str0m client (a browser: full ICE agent,
//! DTLS, SRTP) and a plain RTP phone on 127.0.0.1, the SDP going through `RelayHandle` as the
//! B2BUA sends it.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::sdp::Sdp;
use media_io::{MediaConfig, Mode, Relay, RelayHandle, Side};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

pub(crate) fn start(port_min: u16, pairs: u16) -> RelayHandle {
    let mut config = MediaConfig::new("127.0.0.1".parse().unwrap());
    config.port_min = port_min;
    config.port_max = port_min + 2 * pairs - 1;
    Relay::start(config).unwrap().0
}

pub(crate) fn sock() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

pub(crate) struct Browser {
    rtc: Rtc,
    mid: Mid,
    sock: UdpSocket,
    pending: Option<SdpPendingOffer>,
    /// PCMU payloads received
    got: Vec<Vec<u8>>,
    /// audio frames received, any codec
    media_frames: usize,
}

impl Browser {
    fn offer() -> (Self, String) {
        let sock = sock();
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs()
            .enable_opus(true, false)
            .enable_pcmu(true, false)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(sock.local_addr().unwrap(), "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let b = Self {
            rtc,
            mid,
            sock,
            pending: Some(pending),
            got: Vec::new(),
            media_frames: 0,
        };
        (b, offer.to_sdp_string())
    }

    fn answer(&mut self, sdp: &[u8]) {
        let a = SdpAnswer::from_sdp_string(std::str::from_utf8(sdp).unwrap()).unwrap();
        self.rtc
            .sdp_api()
            .accept_answer(self.pending.take().unwrap(), a)
            .unwrap();
    }

    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(_) => return,
                Output::Transmit(t) => {
                    let _ = self.sock.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::MediaData(d)) => {
                    self.media_frames += 1;
                    if d.params.spec().codec == Codec::PCMU {
                        self.got.push(d.data.to_vec())
                    }
                }
                Output::Event(_) => {}
            }
        }
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 2000];
        self.drain();
        while let Ok((n, source)) = self.sock.recv_from(&mut buf) {
            let r = Receive {
                proto: Protocol::Udp,
                source,
                destination: self.sock.local_addr().unwrap(),
                contents: buf[..n].try_into().unwrap(),
            };
            self.rtc
                .handle_input(Input::Receive(Instant::now(), r))
                .unwrap();
            self.drain();
        }
        self.rtc
            .handle_input(Input::Timeout(Instant::now()))
            .unwrap();
        self.drain();
    }

    fn send_pcmu(&mut self, i: u64, payload: Vec<u8>) {
        let w = self.rtc.writer(self.mid).unwrap();
        let pt = w
            .payload_params()
            .find(|p| p.spec().codec == Codec::PCMU)
            .unwrap()
            .pt();
        let t = MediaTime::new(i * 160, Frequency::EIGHT_KHZ);
        w.write(pt, Instant::now(), t, payload).unwrap();
        self.drain();
    }
}

impl Browser {
    /// A browser answering the relay's WebRTC `offer`: itself and its answer.
    pub(crate) fn answering(offer: &str) -> (Self, String) {
        let sock = sock();
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs()
            .enable_opus(true, false)
            .enable_pcmu(true, false)
            .enable_pcma(true, false)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(sock.local_addr().unwrap(), "udp").unwrap());
        let answer = rtc
            .sdp_api()
            .accept_offer(str0m::change::SdpOffer::from_sdp_string(offer).unwrap())
            .unwrap()
            .to_sdp_string();
        let b = Self {
            rtc,
            mid: Mid::from("0"),
            sock,
            pending: None,
            got: Vec::new(),
            media_frames: 0,
        };
        (b, answer)
    }
}

/// Waits for ICE + DTLS between `browser` and the gateway of `call`, then the `phone` sends
/// PCMA to the relay's plain port `relay_plain` for 0.8 s: (frames the browser got, sent).
pub(crate) fn phone_to_browser(
    relay: &RelayHandle,
    call: &str,
    phone: &UdpSocket,
    relay_plain: std::net::SocketAddr,
    browser: &mut Browser,
) -> (usize, u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !browser.rtc.is_connected() || relay.bridge_connected(call) != Some(true) {
        assert!(Instant::now() < deadline, "not connected");
        browser.pump();
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut sent = 0u16;
    let until = Instant::now() + Duration::from_millis(800);
    let mut received = 0;
    while Instant::now() < until {
        let mut p = vec![0x80, 8];
        p.extend_from_slice(&sent.to_be_bytes());
        p.extend_from_slice(&(u32::from(sent) * 160).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 5]);
        p.extend_from_slice(&[0xd5; 160]);
        phone.send_to(&p, relay_plain).unwrap();
        sent += 1;
        let t = Instant::now() + Duration::from_millis(20);
        while Instant::now() < t {
            browser.pump();
            std::thread::sleep(Duration::from_millis(1));
        }
        received = browser.media_frames;
    }
    (received, sent)
}

pub(crate) fn phone_answer(port: u16) -> String {
    format!(
        "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
}

#[test]
fn a_webrtc_offer_is_bridged_to_plain_rtp_by_the_relay() {
    let relay = start(31800, 10);
    let (mut browser, offer) = Browser::offer();
    // INVITE from the browser (side A) to a plain phone (side B); ONNET mode does not matter
    let to_phone = relay
        .offer("gw1", Side::A, offer.as_bytes(), Mode::CandidateOnly)
        .unwrap();
    assert!(relay.is_bridged("gw1"));
    let text = std::str::from_utf8(&to_phone).unwrap();
    assert!(text.contains(" RTP/AVP 0 8 101"), "{text}");
    for w in ["SAVPF", "fingerprint", "ice-ufrag", "candidate"] {
        assert!(!text.contains(w), "{w} in {text}");
    }
    let relay_plain = Sdp::parse(&to_phone).unwrap().remote_media(0).unwrap().rtp;
    assert_eq!(relay_plain.ip().to_string(), "127.0.0.1");

    let phone = sock();
    let answer = phone_answer(phone.local_addr().unwrap().port());
    let to_browser = relay
        .answer("gw1", Side::B, answer.as_bytes(), Mode::CandidateOnly)
        .unwrap();
    let text = std::str::from_utf8(&to_browser).unwrap();
    assert!(text.contains("UDP/TLS/RTP/SAVPF"), "{text}");
    assert!(
        text.contains("a=ice-lite") && text.contains("a=fingerprint:"),
        "{text}"
    );
    browser.answer(&to_browser);

    // ICE + DTLS through the relay thread
    let deadline = Instant::now() + Duration::from_secs(10);
    while !browser.rtc.is_connected() || relay.bridge_connected("gw1") != Some(true) {
        assert!(Instant::now() < deadline, "not connected");
        browser.pump();
        std::thread::sleep(Duration::from_millis(2));
    }

    // browser -> phone (plain RTP from the relay's port), phone echoes -> browser (SRTP)
    let mut buf = [0u8; 2000];
    let mut at_phone = 0;
    for i in 0..30u64 {
        browser.send_pcmu(i, vec![0x11; 160]);
        let until = Instant::now() + Duration::from_millis(20);
        while Instant::now() < until {
            browser.pump();
            while let Ok((n, src)) = phone.recv_from(&mut buf) {
                assert_eq!(src, relay_plain, "plain RTP comes from the port in the SDP");
                assert_eq!(buf[0] >> 6, 2);
                assert_eq!(buf[1] & 0x7f, 0);
                assert_eq!(&buf[12..n], &[0x11; 160][..]);
                at_phone += 1;
                phone.send_to(&buf[..n], src).unwrap();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    for _ in 0..100 {
        browser.pump();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(at_phone >= 25, "phone got {at_phone}");
    assert!(browser.got.len() >= 25, "browser got {}", browser.got.len());
    assert!(browser.got.iter().all(|p| p == &vec![0x11; 160]));

    let stats = relay.end("gw1").unwrap();
    assert!(
        stats.a_to_b.packets >= 25 && stats.b_to_a.packets >= 25,
        "{stats:?}"
    );
    assert!(!relay.is_bridged("gw1"));
    assert_eq!(relay.free_port_pairs(), 10);
}

#[test]
fn webrtc_to_a_known_webrtc_peer_is_relayed_unchanged() {
    let relay = start(31840, 4);
    let (_browser, offer) = Browser::offer();
    relay.set_peer_webrtc("gw2", Side::B, true);
    let out = relay
        .offer("gw2", Side::A, offer.as_bytes(), Mode::CandidateOnly)
        .unwrap();
    assert!(!relay.is_bridged("gw2"));
    let text = std::str::from_utf8(&out).unwrap();
    assert!(text.contains("UDP/TLS/RTP/SAVPF") && text.contains("a=fingerprint:"));
}

#[test]
fn a_plain_call_is_not_bridged_and_a_bad_webrtc_offer_leaves_nothing_behind() {
    let relay = start(31860, 4);
    let plain = phone_answer(4000);
    relay
        .offer("gw3", Side::A, plain.as_bytes(), Mode::Anchor)
        .unwrap();
    assert!(!relay.is_bridged("gw3"));
    relay.end("gw3");
    // WebRTC profile but no codec we bridge (G.722 only)
    let bad = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 9\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:9 G722/8000\r\n\
        a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
        a=fingerprint:sha-256 00:11\r\na=setup:actpass\r\na=mid:0\r\na=rtcp-mux\r\n";
    assert!(relay
        .offer("gw4", Side::A, bad.as_bytes(), Mode::Anchor)
        .is_err());
    assert!(!relay.is_bridged("gw4"));
    assert_eq!(relay.free_port_pairs(), 4);
    assert_eq!(relay.sessions(), 0);
}

#[test]
fn a_plain_offer_to_a_webrtc_callee_gets_a_webrtc_offer_from_the_relay() {
    let relay = start(31880, 4);
    let phone = sock();
    let plain = format!(
        "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\n",
        phone.local_addr().unwrap().port()
    );
    // the callee (side B) is a browser: the signalling says so
    relay.set_peer_webrtc("gw5", Side::B, true);
    // the ONNET shortcut (no candidates: SDP not given to the relay) must not apply
    assert!(relay.gateway_wants_sdp("gw5"));
    let to_browser = relay
        .offer("gw5", Side::A, plain.as_bytes(), Mode::CandidateOnly)
        .unwrap();
    assert!(relay.is_bridged("gw5"));
    let offer = String::from_utf8(to_browser.to_vec()).unwrap();
    for w in [
        "UDP/TLS/RTP/SAVPF",
        "a=ice-lite",
        "a=fingerprint:",
        "a=setup:actpass",
        "typ host",
    ] {
        assert!(offer.contains(w), "{w} missing in {offer}");
    }
    // the browser answers
    let (mut browser, answer) = Browser::answering(&offer);
    let to_phone = relay
        .answer("gw5", Side::B, answer.as_bytes(), Mode::CandidateOnly)
        .unwrap();
    let text = std::str::from_utf8(&to_phone).unwrap();
    // the phone gets a plain answer: its first codec (PCMA) and its telephone-event pt
    assert!(text.contains(" RTP/AVP 8 96\r\n"), "{text}");
    assert!(
        !text.contains("SAVPF") && !text.contains("fingerprint"),
        "{text}"
    );
    let relay_plain = Sdp::parse(&to_phone).unwrap().remote_media(0).unwrap().rtp;

    let (received, sent) = phone_to_browser(&relay, "gw5", &phone, relay_plain, &mut browser);
    assert!(received >= 20, "browser got {received} of {sent}");
    relay.end("gw5");
    assert_eq!(relay.free_port_pairs(), 4);
}
