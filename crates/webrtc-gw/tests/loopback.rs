//! The gateway against a str0m "browser" over real UDP sockets on loopback: real ICE checks
//! (the client is a full ICE agent, the gateway ICE-lite), a real DTLS handshake, real SRTP; a
//! plain RTP "phone" socket that echoes what it gets (like SIPp's `-rtp_echo`).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::sdp::Sdp;
use str0m::change::SdpAnswer;
use str0m::format::{Codec, CodecExtra};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt, TelephoneEvent};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use webrtc_gw::{Gateway, GatewayConfig, Leg};

fn sock() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

/// What the client (browser) and the phone saw.
#[derive(Default)]
struct Seen {
    /// (pt, payload) of plain RTP at the phone
    phone_rtp: Vec<(u8, Vec<u8>)>,
    /// media frames at the browser: (codec, payload, telephone-event)
    browser: Vec<(Codec, Vec<u8>, Option<TelephoneEvent>)>,
}

struct Call {
    client: Rtc,
    mid: Mid,
    gw: Gateway,
    client_sock: UdpSocket,
    gw_browser: UdpSocket,
    gw_plain: UdpSocket,
    phone: UdpSocket,
    plain_offer: String,
    seen: Seen,
    /// the phone sends back what it receives
    echo: bool,
}

impl Call {
    fn new(codecs: &[Codec]) -> Self {
        let now = Instant::now();
        let (client_sock, gw_browser, gw_plain, phone) = (sock(), sock(), sock(), sock());
        let mut rc = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs();
        for c in codecs {
            match c {
                Codec::Opus => rc = rc.enable_opus(true, false),
                Codec::PCMU => rc = rc.enable_pcmu(true, false),
                Codec::PCMA => rc = rc.enable_pcma(true, false),
                _ => unreachable!(),
            }
        }
        rc.codec_config().add_config(
            126.into(),
            None,
            Codec::Tele,
            Frequency::EIGHT_KHZ,
            None,
            Default::default(),
        );
        let mut client = rc.build(now);
        client.add_local_candidate(
            Candidate::host(client_sock.local_addr().unwrap(), "udp").unwrap(),
        );
        let mut api = client.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let offer = offer.to_sdp_string();
        assert!(offer.contains("UDP/TLS/RTP/SAVPF"));

        let cfg = GatewayConfig::new().unwrap();
        let mut gw =
            Gateway::accept_offer(now, &cfg, &offer, gw_browser.local_addr().unwrap()).unwrap();
        let answer = gw.browser_answer().to_owned();
        assert!(answer.contains("a=ice-lite"), "{answer}");
        assert!(answer.contains("a=fingerprint:sha-256"), "{answer}");
        assert!(answer.contains("a=rtcp-mux"), "{answer}");
        let gp = gw_browser.local_addr().unwrap().port();
        assert!(
            answer.contains(&format!("127.0.0.1 {gp} typ host")),
            "{answer}"
        );
        client
            .sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();

        let plain_offer = gw.plain_offer(
            "127.0.0.1".parse().unwrap(),
            gw_plain.local_addr().unwrap().port(),
        );
        let pp = phone.local_addr().unwrap().port();
        let plain_answer = format!(
            "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {pp} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
        );
        gw.set_plain(&Sdp::parse(plain_answer.as_bytes()).unwrap())
            .unwrap();
        Self {
            client,
            mid,
            gw,
            client_sock,
            gw_browser,
            gw_plain,
            phone,
            plain_offer,
            seen: Seen::default(),
            echo: true,
        }
    }

    /// One round of I/O on all four sockets and timers; returns after ~1 ms.
    fn pump(&mut self) {
        let mut buf = [0u8; 2000];
        let now = Instant::now();
        // client
        self.drain_client();
        while let Ok((n, src)) = self.client_sock.recv_from(&mut buf) {
            let input = Input::Receive(
                Instant::now(),
                Receive {
                    proto: Protocol::Udp,
                    source: src,
                    destination: self.client_sock.local_addr().unwrap(),
                    contents: buf[..n].try_into().unwrap(),
                },
            );
            self.client.handle_input(input).unwrap();
            self.drain_client();
        }
        // gateway
        while let Ok((n, src)) = self.gw_browser.recv_from(&mut buf) {
            self.gw.handle_browser(Instant::now(), src, &buf[..n]);
        }
        while let Ok((n, src)) = self.gw_plain.recv_from(&mut buf) {
            self.gw.handle_plain(Instant::now(), src, &buf[..n]);
        }
        if self.gw.poll_timeout() <= now {
            self.gw.handle_timeout(now);
        }
        while let Some(d) = self.gw.poll_transmit() {
            let s = match d.leg {
                Leg::Browser => &self.gw_browser,
                Leg::Plain | Leg::PlainRtcp => &self.gw_plain,
            };
            s.send_to(&d.data, d.to).unwrap();
        }
        // phone
        while let Ok((n, src)) = self.phone.recv_from(&mut buf) {
            let p = &buf[..n];
            self.seen.phone_rtp.push((p[1] & 0x7f, p[12..].to_vec()));
            if self.echo {
                self.phone.send_to(p, src).unwrap();
            }
        }
        let now = Instant::now();
        self.client.handle_input(Input::Timeout(now)).unwrap();
        self.drain_client();
        std::thread::sleep(Duration::from_millis(1));
    }

    fn drain_client(&mut self) {
        loop {
            match self.client.poll_output().unwrap() {
                Output::Timeout(_) => return,
                Output::Transmit(t) => {
                    self.client_sock
                        .send_to(&t.contents, t.destination)
                        .unwrap();
                }
                Output::Event(Event::MediaData(d)) => {
                    let tele = match d.codec_extra {
                        CodecExtra::Tele(t) => Some(t),
                        _ => None,
                    };
                    self.seen
                        .browser
                        .push((d.params.spec().codec, d.data.to_vec(), tele));
                }
                Output::Event(_) => {}
            }
        }
    }

    fn connect(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(self.client.is_connected() && self.gw.is_connected()) {
            assert!(Instant::now() < deadline, "ICE + DTLS did not complete");
            self.pump();
        }
    }

    fn pt(&mut self, codec: Codec) -> Pt {
        let w = self.client.writer(self.mid).unwrap();
        let pt = w
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .unwrap()
            .pt();
        pt
    }

    /// Sends `frames` 20 ms frames from the browser, produced by `frame(i)`.
    fn send(&mut self, codec: Codec, frames: usize, mut frame: impl FnMut(usize) -> Vec<u8>) {
        let pt = self.pt(codec);
        let rate = if codec == Codec::Opus { 48_000 } else { 8000 };
        let step = rate / 50;
        for i in 0..frames {
            let t = MediaTime::new(
                1000 + (i as u64) * step,
                Frequency::new(rate as u32).unwrap(),
            );
            self.client
                .writer(self.mid)
                .unwrap()
                .write(pt, Instant::now(), t, frame(i))
                .unwrap();
            self.drain_client();
            let until = Instant::now() + Duration::from_millis(20);
            while Instant::now() < until {
                self.pump();
            }
        }
        for _ in 0..100 {
            self.pump();
        }
    }
}

fn goertzel(samples: &[f64], freq: f64, rate: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / rate).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = x + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - k * s1 * s2) / samples.len() as f64
}

/// The tone at 1 kHz dominates 400 Hz and 2.5 kHz.
fn assert_tone(samples: &[f64], rate: f64) {
    let at = goertzel(samples, 1000.0, rate);
    let off1 = goertzel(samples, 400.0, rate);
    let off2 = goertzel(samples, 2500.0, rate);
    assert!(
        at > 20.0 * off1 && at > 20.0 * off2,
        "1 kHz {at}, 400 Hz {off1}, 2.5 kHz {off2}"
    );
    let rms = (samples.iter().map(|x| x * x).sum::<f64>() / samples.len() as f64).sqrt();
    assert!(rms > 1000.0, "rms {rms}");
}

#[test]
fn pcmu_browser_bridged_without_transcoding_both_ways() {
    let mut c = Call::new(&[Codec::Opus, Codec::PCMU, Codec::PCMA]);
    // the plain side sees plain RTP/AVP with G.711 and telephone-event, no WebRTC
    assert!(c.plain_offer.contains("m=audio "), "{}", c.plain_offer);
    assert!(
        c.plain_offer.contains(" RTP/AVP 0 8 101"),
        "{}",
        c.plain_offer
    );
    for w in [
        "SAVPF",
        "fingerprint",
        "ice-",
        "candidate",
        "setup:",
        "crypto",
    ] {
        assert!(!c.plain_offer.contains(w), "{w} in {}", c.plain_offer);
    }
    c.connect();
    c.send(Codec::PCMU, 25, |i| vec![(i as u8) | 0x80; 160]);
    c.gw.handle_timeout(Instant::now());
    assert!(c.gw.is_passthrough());
    // the phone got plain RTP, PCMU, the browser's payload bytes unchanged
    let pcmu: Vec<_> = c.seen.phone_rtp.iter().filter(|(pt, _)| *pt == 0).collect();
    assert!(pcmu.len() >= 20, "phone got {} PCMU packets", pcmu.len());
    assert!(pcmu
        .iter()
        .all(|(_, p)| p.len() == 160 && p.iter().all(|b| *b == p[0])));
    // the echo came back to the browser as SRTP, same payloads
    let back: Vec<_> = c
        .seen
        .browser
        .iter()
        .filter(|(codec, _, _)| *codec == Codec::PCMU)
        .collect();
    assert!(
        back.len() >= 20,
        "browser got {} PCMU frames back",
        back.len()
    );
    let sent: Vec<u8> = (0..25u8).map(|i| i | 0x80).collect();
    assert!(back
        .iter()
        .all(|(_, p, _)| p.len() == 160 && sent.contains(&p[0])));
    let s = c.gw.stats();
    assert!(
        s.browser_to_plain >= 20 && s.plain_to_browser >= 20,
        "{s:?}"
    );
}

#[test]
fn dtmf_passes_both_ways() {
    let mut c = Call::new(&[Codec::PCMU]);
    c.connect();
    c.send(Codec::PCMU, 3, |_| vec![0xff; 160]);
    // browser -> phone: str0m sends the event as RFC 4733 packets on its telephone-event pt
    let pt = c.pt(Codec::PCMU);
    let ev = TelephoneEvent {
        event: 5,
        end: true,
        volume: 10,
        duration: Duration::from_millis(100),
    };
    c.client
        .writer(c.mid)
        .unwrap()
        .telephone_event(ev)
        .write(
            pt,
            Instant::now(),
            MediaTime::new(8000, Frequency::EIGHT_KHZ),
            Vec::<u8>::new(),
        )
        .unwrap();
    c.drain_client();
    let until = Instant::now() + Duration::from_millis(600);
    while Instant::now() < until {
        c.pump();
    }
    let events: Vec<_> = c
        .seen
        .phone_rtp
        .iter()
        .filter(|(pt, _)| *pt == 101)
        .collect();
    assert!(!events.is_empty(), "no telephone-event at the phone");
    assert!(events.iter().all(|(_, p)| p[0] == 5), "{events:?}");
    assert!(
        events.iter().any(|(_, p)| p[1] & 0x80 != 0),
        "no end bit: {events:?}"
    );
    // phone -> browser: the echoed events arrive as telephone-events of the browser's pt
    let tele: Vec<_> = c.seen.browser.iter().filter_map(|(_, _, t)| *t).collect();
    assert!(!tele.is_empty(), "no telephone-event at the browser");
    assert!(tele.iter().all(|t| t.event == 5));
    assert!(
        tele.iter()
            .any(|t| t.end && t.duration >= Duration::from_millis(90)),
        "{tele:?}"
    );
}

#[test]
fn opus_only_browser_is_transcoded_to_g711_and_back() {
    let mut c = Call::new(&[Codec::Opus]);
    assert!(c.plain_offer.contains(" RTP/AVP 0 8 101"));
    c.connect();
    assert!(!c.gw.is_passthrough());
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    let mut phase = 0usize;
    c.send(Codec::Opus, 40, |_| {
        let pcm: Vec<i16> = (0..960)
            .map(|k| {
                let t = (phase + k) as f64 / 48_000.0;
                ((2.0 * std::f64::consts::PI * 1000.0 * t).sin() * 10_000.0) as i16
            })
            .collect();
        phase += 960;
        enc.encode_vec(&pcm, 400).unwrap()
    });
    // the phone got PCMU at 8 kHz carrying the 1 kHz tone
    let pcm8: Vec<f64> = c
        .seen
        .phone_rtp
        .iter()
        .filter(|(pt, _)| *pt == 0)
        .skip(5)
        .flat_map(|(_, p)| {
            p.iter()
                .map(|b| f64::from(webrtc_gw::g711::ulaw_decode(*b)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(pcm8.len() >= 160 * 20, "phone got {} samples", pcm8.len());
    assert_tone(&pcm8, 8000.0);
    // the echo came back as Opus and decodes to the tone at 48 kHz
    let mut dec = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
    let mut pcm48 = Vec::new();
    let mut out = vec![0i16; 5760];
    for (codec, p, _) in &c.seen.browser {
        if *codec == Codec::Opus {
            let n = dec.decode(p, &mut out, false).unwrap();
            pcm48.extend(out[..n].iter().map(|s| f64::from(*s)));
        }
    }
    assert!(
        pcm48.len() >= 960 * 20,
        "browser decoded {} samples",
        pcm48.len()
    );
    assert_tone(&pcm48[960 * 5..], 48_000.0);
}

#[test]
fn a_refused_datagram_never_panics() {
    let mut c = Call::new(&[Codec::PCMU]);
    let src: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let now = Instant::now();
    for junk in [
        &b""[..],
        &[0u8; 1][..],
        &[0x80; 12][..],
        &[22, 254, 253, 0, 0][..],
        &[0xff; 1500][..],
    ] {
        c.gw.handle_browser(now, src, junk);
        c.gw.handle_plain(now, src, junk);
    }
    assert!(c.gw.stats().dropped > 0);
    c.connect();
}

#[test]
fn a_second_plain_source_cannot_take_over_a_live_stream() {
    let mut c = Call::new(&[Codec::PCMU]);
    c.connect();
    c.send(Codec::PCMU, 5, |_| vec![0x55; 160]);
    let before = c.seen.browser.len();
    assert!(before >= 3, "echo works: {before}");
    // an intruder sends RTP to the gateway's plain port from another socket
    let intruder = sock();
    let mut rtp = vec![0x80, 0x00, 0, 9, 0, 0, 0, 9, 0, 0, 0, 9];
    rtp.extend_from_slice(&[0x66; 160]);
    for _ in 0..10 {
        intruder
            .send_to(&rtp, c.gw_plain.local_addr().unwrap())
            .unwrap();
        c.pump();
    }
    for _ in 0..50 {
        c.pump();
    }
    assert!(
        c.seen.browser.iter().all(|(_, p, _)| p[0] != 0x66),
        "the intruder's audio reached the browser"
    );
    // and the phone still gets the browser's audio
    let n = c.seen.phone_rtp.len();
    c.send(Codec::PCMU, 3, |_| vec![0x55; 160]);
    assert!(c.seen.phone_rtp.len() > n);
}
