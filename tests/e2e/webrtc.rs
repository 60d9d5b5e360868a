//! The WebRTC media gateway end to end: a browser (a str0m client: full ICE agent, DTLS,
//! SRTP, its offer `UDP/TLS/RTP/SAVPF`) calls, over SIP from a Rust UA, a SIPp phone that
//! answers plain `RTP/AVP` and echoes RTP (`-rtp_echo`). The phone's scenario fails if its
//! INVITE carries anything of WebRTC; the browser completes ICE + DTLS with the relay and gets
//! its audio (and DTMF) back as SRTP; the CDR counts media both ways.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sip_message::{HeaderName, Message};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::{Codec, CodecExtra};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, TelephoneEvent};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use crate::calls::{cdrs, free_port, register_device, Sipp};
use crate::harness::Site;
use crate::ua::{Ua, REALM};

pub(crate) struct Browser {
    rtc: Rtc,
    mid: Mid,
    sock: UdpSocket,
    pending: Option<SdpPendingOffer>,
    /// (codec, payload, telephone-event) of the media received
    pub(crate) got: Vec<(Codec, Vec<u8>, Option<TelephoneEvent>)>,
    /// where SRTP came from
    sources: Vec<SocketAddr>,
}

impl Browser {
    fn offer(codecs: &[Codec]) -> (Self, String) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        let mut rc = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs();
        for c in codecs {
            rc = match c {
                Codec::Opus => rc.enable_opus(true, false),
                Codec::PCMU => rc.enable_pcmu(true, false),
                _ => rc.enable_pcma(true, false),
            };
        }
        let rate = if codecs == [Codec::Opus] {
            Frequency::FORTY_EIGHT_KHZ
        } else {
            Frequency::EIGHT_KHZ
        };
        rc.codec_config().add_config(
            126.into(),
            None,
            Codec::Tele,
            rate,
            None,
            Default::default(),
        );
        let mut rtc = rc.build(Instant::now());
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
            sources: Vec::new(),
        };
        (b, offer.to_sdp_string())
    }

    /// A browser (PCMU, PCMA, Opus) answering the relay's WebRTC `offer`: itself and its
    /// answer.
    pub(crate) fn answering(offer: &[u8]) -> (Self, String) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs()
            .enable_opus(true, false)
            .enable_pcmu(true, false)
            .enable_pcma(true, false)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(sock.local_addr().unwrap(), "udp").unwrap());
        let text = std::str::from_utf8(offer).unwrap();
        let offer = str0m::change::SdpOffer::from_sdp_string(text)
            .unwrap_or_else(|e| panic!("{e}: {text}"));
        let answer = rtc.sdp_api().accept_offer(offer).unwrap().to_sdp_string();
        let mid = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("a=mid:"))
            .expect("a=mid in the offer");
        let b = Self {
            rtc,
            mid: Mid::from(mid),
            sock,
            pending: None,
            got: Vec::new(),
            sources: Vec::new(),
        };
        (b, answer)
    }

    /// Answers a new offer from the relay in the same call (a re-INVITE).
    pub(crate) fn reanswer(&mut self, offer: &[u8]) -> String {
        let text = std::str::from_utf8(offer).unwrap();
        let offer = str0m::change::SdpOffer::from_sdp_string(text)
            .unwrap_or_else(|e| panic!("{e}: {text}"));
        self.rtc
            .sdp_api()
            .accept_offer(offer)
            .unwrap()
            .to_sdp_string()
    }

    /// A new offer with the audio `dir` (hold: `SendOnly`; resume: `SendRecv`); the answer goes
    /// to [`Self::answer`].
    pub(crate) fn reoffer(&mut self, dir: Direction) -> String {
        let mut api = self.rtc.sdp_api();
        api.set_direction(self.mid, dir);
        let (offer, pending) = api.apply().expect("a direction change to offer");
        self.pending = Some(pending);
        offer.to_sdp_string()
    }

    /// How many frames of `codec` with exactly `payload` it received.
    pub(crate) fn got_back(&self, codec: Codec, payload: &[u8]) -> usize {
        self.got
            .iter()
            .filter(|(c, p, _)| *c == codec && p == payload)
            .count()
    }

    pub(crate) fn answer(&mut self, sdp: &[u8]) {
        let text = std::str::from_utf8(sdp).unwrap();
        let a = SdpAnswer::from_sdp_string(text).unwrap_or_else(|e| panic!("{e}: {text}"));
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
                    let tele = match d.codec_extra {
                        CodecExtra::Tele(t) => Some(t),
                        _ => None,
                    };
                    self.got
                        .push((d.params.spec().codec, d.data.to_vec(), tele));
                }
                Output::Event(_) => {}
            }
        }
    }

    /// I/O for `ms` milliseconds.
    pub(crate) fn run(&mut self, ms: u64) {
        let until = Instant::now() + Duration::from_millis(ms);
        let mut buf = [0u8; 2000];
        loop {
            self.drain();
            while let Ok((n, source)) = self.sock.recv_from(&mut buf) {
                self.sources.push(source);
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
            if Instant::now() >= until {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub(crate) fn connect(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.rtc.is_connected() {
            assert!(
                Instant::now() < deadline,
                "ICE + DTLS with the relay did not complete"
            );
            self.run(5);
        }
    }

    /// Sends 20 ms frames of `codec` for `frames` frames.
    pub(crate) fn send(&mut self, codec: Codec, frames: u64, mut frame: impl FnMut() -> Vec<u8>) {
        let (rate, step) = if codec == Codec::Opus {
            (Frequency::FORTY_EIGHT_KHZ, 960)
        } else {
            (Frequency::EIGHT_KHZ, 160)
        };
        for i in 0..frames {
            let w = self.rtc.writer(self.mid).unwrap();
            let pt = w
                .payload_params()
                .find(|p| p.spec().codec == codec)
                .unwrap()
                .pt();
            w.write(pt, Instant::now(), MediaTime::new(i * step, rate), frame())
                .unwrap();
            self.run(20);
        }
    }

    fn dtmf(&mut self, codec: Codec, digit: u8) {
        let w = self.rtc.writer(self.mid).unwrap();
        let pt = w
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .unwrap()
            .pt();
        let ev = TelephoneEvent {
            event: digit,
            end: true,
            volume: 10,
            duration: Duration::from_millis(100),
        };
        let rate = if codec == Codec::Opus {
            Frequency::FORTY_EIGHT_KHZ
        } else {
            Frequency::EIGHT_KHZ
        };
        w.telephone_event(ev)
            .write(
                pt,
                Instant::now(),
                MediaTime::new(100_000, rate),
                Vec::<u8>::new(),
            )
            .unwrap();
        self.run(600);
    }
}

fn header_tag(m: &Message, h: HeaderName) -> String {
    let v = m.header(&h).unwrap();
    v.split(";tag=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_owned()
}

/// Alice's browser calls bob's SIPp phone; returns after the 200/ACK with what is needed to
/// hang up: (alice, the 200, relay ports seen).
fn call(site: &Site, server: &crate::harness::Server, offer: &str) -> (Ua, Message) {
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
    let _ = site;
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
        "ACK {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKwebrtcack{};rport\r\nFrom: {}\r\nTo: {}\r\n\
         Call-ID: {}\r\nCSeq: {} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        alice.local,
        rand::random::<u32>(),
        ok.header(&HeaderName::From).unwrap(),
        ok.header(&HeaderName::To).unwrap(),
        ok.call_id().unwrap(),
        ok.cseq().unwrap().seq
    );
    alice.sock.send_to(ack.as_bytes(), server.udp).unwrap();
    (alice, ok)
}

fn hang_up(alice: &mut Ua, ok: &Message) {
    let contact = ok
        .header(&HeaderName::Contact)
        .unwrap()
        .trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let from_tag = header_tag(ok, HeaderName::From);
    let to_tag = header_tag(ok, HeaderName::To);
    let uri = format!("sip:bob@{REALM}");
    let bye = alice.request(
        "BYE",
        &contact,
        &uri,
        "",
        None,
        Some((
            ok.call_id().unwrap(),
            &from_tag,
            ok.cseq().unwrap().seq + 1,
            Some(&to_tag),
        )),
    );
    assert_eq!(bye.status(), Some(200), "{bye:?}");
}

fn site(port_min: u16) -> Site {
    let site = Site::with_sections(&format!(
        "[media]\nbind_address = \"127.0.0.1\"\nport_min = {port_min}\nport_max = {}\n",
        port_min + 99
    ));
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    site
}

/// bob's SIPp phone: checks the INVITE is plain RTP/AVP, answers PCMU, echoes RTP.
pub(crate) fn phone(site: &Site, server: &crate::harness::Server) -> crate::calls::Running {
    let port = free_port();
    register_device(site, server, "bob", "builder", port);
    Sipp::new(site, "uas_answer_plain_from_webrtc.xml", port)
        .args(&["-mp", &crate::calls::media_port().to_string(), "-rtp_echo"])
        .spawn()
}

#[test]
fn a_browser_calls_a_plain_sip_phone_through_the_webrtc_gateway() {
    let site = site(41800);
    let server = site.start();
    let bob = phone(&site, &server);
    let (mut browser, offer) = Browser::offer(&[Codec::Opus, Codec::PCMU, Codec::PCMA]);
    assert!(offer.contains("UDP/TLS/RTP/SAVPF"));
    let (mut alice, ok) = call(&site, &server, &offer);
    // the browser gets WebRTC back: the relay's ICE-lite answer with its DTLS fingerprint
    let answer = String::from_utf8_lossy(ok.body()).into_owned();
    for w in [
        "UDP/TLS/RTP/SAVPF",
        "a=ice-lite",
        "a=fingerprint:sha-256",
        "a=rtcp-mux",
        "typ host",
    ] {
        assert!(answer.contains(w), "{w} missing in {answer}");
    }
    browser.answer(ok.body());
    browser.connect();

    // audio: PCMU both ways, no transcoding (the echo brings back the very bytes)
    browser.send(Codec::PCMU, 25, || vec![0x2a; 160]);
    browser.run(300);
    let pcmu: Vec<_> = browser
        .got
        .iter()
        .filter(|(c, _, _)| *c == Codec::PCMU)
        .collect();
    assert!(
        pcmu.len() >= 20,
        "browser got {} PCMU frames back",
        pcmu.len()
    );
    assert!(pcmu.iter().all(|(_, p, _)| p == &vec![0x2a; 160]));
    // only SRTP/DTLS/STUN from the relay's port (str0m decrypted it: it was SRTP)
    let relay_ports = 41800..=41899;
    assert!(browser
        .sources
        .iter()
        .all(|s| relay_ports.contains(&s.port())));

    // DTMF: browser -> phone as telephone-event 101, echoed -> browser as its telephone-event
    browser.dtmf(Codec::PCMU, 7);
    let tele: Vec<_> = browser.got.iter().filter_map(|(_, _, t)| *t).collect();
    assert!(!tele.is_empty(), "no DTMF came back");
    assert!(tele.iter().all(|t| t.event == 7), "{tele:?}");
    assert!(tele.iter().any(|t| t.end), "{tele:?}");

    hang_up(&mut alice, &ok);
    let (ok_phone, out) = bob.wait();
    assert!(
        ok_phone,
        "the phone (plain RTP/AVP INVITE expected):\n{out}"
    );
    let rows = cdrs(&site, 1);
    let c = &rows[0];
    assert_eq!(c.final_code, 200);
    assert!(c.media_a_packets.unwrap_or(0) >= 20, "{c:?}");
    assert!(c.media_b_packets.unwrap_or(0) >= 20, "{c:?}");
    server.stop();
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

#[test]
fn an_opus_only_browser_is_transcoded_to_g711_for_the_phone() {
    let site = site(41900);
    let server = site.start();
    let bob = phone(&site, &server);
    let (mut browser, offer) = Browser::offer(&[Codec::Opus]);
    let (mut alice, ok) = call(&site, &server, &offer);
    let answer = String::from_utf8_lossy(ok.body()).into_owned();
    assert!(answer.contains("opus/48000"), "{answer}");
    browser.answer(ok.body());
    browser.connect();

    // a 1 kHz tone in Opus; the phone (PCMU) echoes it; it comes back in Opus
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    let mut phase = 0usize;
    browser.send(Codec::Opus, 50, || {
        let pcm: Vec<i16> = (0..960)
            .map(|k| {
                let t = (phase + k) as f64 / 48_000.0;
                ((2.0 * std::f64::consts::PI * 1000.0 * t).sin() * 10_000.0) as i16
            })
            .collect();
        phase += 960;
        enc.encode_vec(&pcm, 400).unwrap()
    });
    browser.run(300);
    let mut dec = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
    let mut pcm = Vec::new();
    let mut buf = vec![0i16; 5760];
    for (c, p, _) in &browser.got {
        if *c == Codec::Opus {
            let n = dec.decode(p, &mut buf, false).unwrap();
            pcm.extend(buf[..n].iter().map(|s| f64::from(*s)));
        }
    }
    assert!(pcm.len() >= 960 * 30, "decoded {} samples", pcm.len());
    let tail = &pcm[960 * 10..];
    let at = goertzel(tail, 1000.0, 48_000.0);
    let off = goertzel(tail, 400.0, 48_000.0).max(goertzel(tail, 2500.0, 48_000.0));
    assert!(at > 20.0 * off, "1 kHz {at} vs {off}");

    // DTMF with a 48 kHz telephone-event clock on the browser side
    browser.dtmf(Codec::Opus, 3);
    let tele: Vec<_> = browser.got.iter().filter_map(|(_, _, t)| *t).collect();
    assert!(tele.iter().any(|t| t.event == 3 && t.end), "{tele:?}");

    hang_up(&mut alice, &ok);
    let (ok_phone, out) = bob.wait();
    assert!(ok_phone, "the phone:\n{out}");
    server.stop();
}
