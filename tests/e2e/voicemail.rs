//! The built-in voicemail end to end (docs/voicemail.md): `[voicemail] enabled` starts the
//! service with the real binary; SIPp callers leave messages when the callee declines or
//! sleeps past the push timeout, the owner's SIPp gets the message-summary NOTIFY at once,
//! plays a message by id through `onnet950msgN` (the test's own RTP socket receives it), nobody
//! else can, and a greeting recorded through `750` greets the next caller.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::calls::{assert_ok, device, free_port, Sipp};
use crate::harness::{block, Server, Site, SIPP_DIR};
use crate::ua::FakeApi;

/// Short test prompts (tones), so the scripts' timing stays small: the replacement prompt
/// directory an operator would set.
fn write_prompts(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, ms, hz) in [
        ("standard_greeting.wav", 300, 440.0),
        ("record_greeting.wav", 300, 330.0),
        ("confirm_greeting.wav", 300, 550.0),
        ("greeting_saved.wav", 200, 660.0),
        ("menu.wav", 300, 770.0),
        ("goodbye.wav", 200, 880.0),
        ("no_more.wav", 200, 990.0),
        ("deleted.wav", 200, 1100.0),
    ] {
        let samples: Vec<i16> = (0..ms * 8)
            .map(|i| {
                (6000.0 * (2.0 * std::f64::consts::PI * hz * f64::from(i) / 8000.0).sin()) as i16
            })
            .collect();
        std::fs::write(dir.join(name), voicemail::wav::write_pcm16(&samples)).unwrap();
    }
}

/// A site with the built-in voicemail on, its short prompts and the test recording in SIPp's
/// working directory; alice and bob.
fn site_with(extra: &str) -> Site {
    let site = Site::with_sections(&format!(
        "[voicemail]\nenabled = true\nprompts = \"prompts\"\nsilence_timeout = 3\n{extra}"
    ));
    write_prompts(&site.dir.path().join("prompts"));
    std::fs::copy(
        Path::new(SIPP_DIR).join("pcap/vm_message.pcap"),
        site.dir.path().join("vm_message.pcap"),
    )
    .unwrap();
    site.add_account("alice", "wonderland");
    site.add_account("bob", "builder");
    site
}

fn store_of(site: &Site) -> store::Store {
    block(store::Store::connect(&site.db_url)).unwrap()
}

/// bob's messages, waiting up to `secs` for at least `n`.
fn wait_messages(site: &Site, login: &str, n: usize, secs: u64) -> Vec<store::VoiceMessage> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = block(async {
            let s = store::Store::connect(&site.db_url).await.unwrap();
            let v = s.voice_messages(login).await.unwrap();
            s.close().await;
            v
        });
        if v.len() >= n || Instant::now() > deadline {
            assert!(v.len() >= n, "{login} has {} messages, not {n}", v.len());
            return v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The decoded samples of the PCMU RTP packets in a pcap (Ethernet, IPv4, UDP).
fn pcap_samples(path: &Path) -> Vec<i16> {
    let b = std::fs::read(path).unwrap();
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= b.len() {
        let len = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &b[at + 16..at + 16 + len];
        let rtp = &frame[14 + 20 + 8..];
        voicemail::Codec::Pcmu.decode(&rtp[12..], &mut out);
        at += 16 + len;
    }
    out
}

fn wav_samples(path: &str) -> Vec<i16> {
    voicemail::wav::read(&std::fs::read(path).unwrap()).unwrap()
}

/// FNV-1a over the samples.
fn checksum(samples: &[i16]) -> u64 {
    samples.iter().fold(0xcbf2_9ce4_8422_2325, |h, s| {
        (h ^ u64::from(*s as u16)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The stored recording is the audio SIPp sent: lengths within 200 ms (the recorder keeps up
/// to 200 ms of the silent tail, a packet may be caught by the BYE) and the same samples
/// where both have them (the recorder places packets by RTP timestamp, so jitter does not
/// move them).
fn assert_same_audio(sent: &[i16], stored: &[i16]) {
    let diff = sent.len().abs_diff(stored.len());
    assert!(
        diff <= 1600 + 160,
        "sent {} samples, stored {}",
        sent.len(),
        stored.len()
    );
    let n = sent.len().min(stored.len());
    assert_eq!(
        checksum(&stored[..n]),
        checksum(&sent[..n]),
        "the stored audio is the audio sent"
    );
}

/// A packet received: when, from where, its payload type and payload.
type Received = (Instant, SocketAddr, u8, Vec<u8>);

/// An RTP socket the test owns, offered in the SDP of a SIPp call: keeps every packet received.
struct Media {
    socket: UdpSocket,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Media {
    fn new() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let (s, g) = (socket.try_clone().unwrap(), got.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                if let Ok(p) = voicemail::rtp::parse(&buf[..n]) {
                    g.lock().unwrap().push((
                        Instant::now(),
                        from,
                        p.header.payload_type,
                        p.payload.to_vec(),
                    ));
                }
            }
        });
        Self { socket, got }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    /// The PCMU payload bytes received so far, in arrival order.
    fn pcmu(&self) -> Vec<u8> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.2 == 0)
            .flat_map(|p| p.3.clone())
            .collect()
    }

    /// Waits for audio, then for a pause of 150 ms in it (a prompt ended); the sender's
    /// address. `skip` earlier packets are ignored.
    fn wait_prompt_end(&self, skip: usize, secs: u64) -> (SocketAddr, usize) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let g = self.got.lock().unwrap();
            if let Some(last) = g.get(skip..).and_then(<[_]>::last) {
                if last.0.elapsed() > Duration::from_millis(150) {
                    return (last.1, g.len());
                }
            }
            drop(g);
            assert!(Instant::now() < deadline, "no prompt (or it never ended)");
        }
    }

    /// Sends PCMU `payloads` paced at 20 ms, then `digits` as RFC 4733 events (PT 101).
    fn send(
        &self,
        to: SocketAddr,
        payloads: &[Vec<u8>],
        digits: &[u8],
        seq: &mut u16,
        ts: &mut u32,
    ) {
        let start = Instant::now();
        for (k, p) in payloads.iter().enumerate() {
            let due = start + Duration::from_millis(20 * k as u64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            self.packet(to, 0, *seq, *ts, p);
            *seq = seq.wrapping_add(1);
            *ts = ts.wrapping_add(160);
        }
        for code in digits {
            for (i, end) in [false, false, true, true, true].into_iter().enumerate() {
                let payload = voicemail::dtmf::event_payload(*code, end, 10, 160 * (i as u16 + 1));
                self.packet(to, 101, *seq, *ts, &payload);
                *seq = seq.wrapping_add(1);
                std::thread::sleep(Duration::from_millis(20));
            }
            *ts = ts.wrapping_add(800);
        }
    }

    fn packet(&self, to: SocketAddr, pt: u8, seq: u16, ts: u32, payload: &[u8]) {
        let mut out = Vec::new();
        let h = voicemail::rtp::RtpHeader {
            marker: false,
            payload_type: pt,
            seq,
            timestamp: ts,
            ssrc: 0x5EED,
        };
        voicemail::rtp::write(&h, payload, &mut out);
        self.socket.send_to(&out, to).unwrap();
    }
}

/// The PCMU payloads of the test recording, 20 ms each.
fn pcap_payloads() -> Vec<Vec<u8>> {
    let samples = pcap_samples(&Path::new(SIPP_DIR).join("pcap/vm_message.pcap"));
    samples
        .chunks(160)
        .map(|c| {
            let mut out = Vec::new();
            voicemail::Codec::Pcmu.encode(c, &mut out);
            out
        })
        .collect()
}

/// `needle` (PCMU bytes) appears in `hay` whole.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn pcmu_of(samples: &[i16]) -> Vec<u8> {
    let mut out = Vec::new();
    voicemail::Codec::Pcmu.encode(samples, &mut out);
    out
}

/// alice calls bob, who declines (a registered SIPp device answering 603), and leaves the
/// test recording with SIPp's play_pcap_audio; returns the stored message.
fn leave_message(site: &Site, server: &Server) -> store::VoiceMessage {
    let before = block(async {
        let s = store::Store::connect(&site.db_url).await.unwrap();
        let n = s.voice_messages("bob").await.unwrap().len();
        s.close().await;
        n
    });
    let bob = device(site, server, "bob", "builder", "uas_603.xml");
    let mp = crate::calls::media_port().to_string();
    let out = Sipp::new(site, "vm_uac_deposit.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .args(&["-mp", &mp, "-mi", "127.0.0.1"])
        .target(server.udp)
        .run();
    assert_ok("alice's deposit", out);
    *CALL_ENDED.lock().unwrap() = Some(Instant::now());
    assert_ok("bob's declining phone", bob.wait());
    let v = wait_messages(site, "bob", before + 1, 5);
    v.into_iter().max_by_key(|m| m.id).unwrap()
}

/// When the last deposit call of [`leave_message`] ended (alice's SIPp got the 200 to its BYE).
static CALL_ENDED: Mutex<Option<Instant>> = Mutex::new(None);

#[test]
fn a_declined_call_is_recorded_and_the_owner_is_notified_at_once() {
    let site = site_with("");
    let server = site.start();
    assert!(
        server
            .startup_log
            .iter()
            .any(|l| l.contains("voicemail service on udp 127.0.0.1:")),
        "{:?}",
        server.startup_log
    );
    // bob's phone watches his mailbox
    let mwi = Sipp::new(&site, "vm_mwi_subscribe.xml", free_port())
        .rows(&["bob;builder"])
        .target(server.udp)
        .spawn();
    let mwi_done = std::thread::spawn(move || {
        let r = mwi.wait();
        (Instant::now(), r)
    });
    std::thread::sleep(Duration::from_millis(500));

    let m = leave_message(&site, &server);
    let call_ended = CALL_ENDED.lock().unwrap().expect("the deposit call ended");
    assert_eq!(
        (m.login.as_str(), m.caller_id.as_str(), m.new),
        ("bob", "alice", true)
    );
    assert!(
        m.file_path.starts_with(
            &site
                .dir
                .path()
                .join("data/voicemail/bob")
                .display()
                .to_string()
        ),
        "messages under the data directory: {}",
        m.file_path
    );
    let sent = pcap_samples(&Path::new(SIPP_DIR).join("pcap/vm_message.pcap"));
    assert_same_audio(&sent, &wav_samples(&m.file_path));
    assert!(
        (m.duration_ms - 5620).abs() <= 250,
        "duration {} ms",
        m.duration_ms
    );

    let (notified_at, r) = mwi_done.join().unwrap();
    assert_ok("bob's message-summary subscription", r);
    // the deposit ends with the call: the NOTIFY came (and SIPp answered and exited) within
    // 1 s of the BYE's 200 reaching alice, not at a subscription refresh (600 s)
    let late = notified_at.saturating_duration_since(call_ended);
    assert!(
        late < Duration::from_secs(1),
        "NOTIFY {late:?} after the deposit call ended"
    );
    eprintln!("message-summary NOTIFY handled by SIPp {late:?} after the deposit call ended");
    // the CDR: alice's call ended at the service
    let cdrs = crate::calls::cdrs(&site, 1);
    assert!(
        cdrs.iter()
            .any(|c| c.caller == "alice" && c.route == "user-lookup"),
        "{cdrs:?}"
    );
}

#[test]
fn a_message_is_played_by_id_to_its_owner_only() {
    let site = site_with("");
    // bob's tech prefix: the number he dials gets `onnet` (950msgN → onnet950msgN)
    crate::calls::cli_ok(
        &site,
        &[
            "account",
            "set",
            "bob",
            "--tech-prefix",
            "DP:int-> OR onnet",
        ],
    );
    let server = site.start();
    let m = leave_message(&site, &server);
    let stored = wav_samples(&m.file_path);

    // someone else asks for bob's message: 403, nothing played
    let number = format!("950msg{}", m.id);
    let (ok, out) = Sipp::new(&site, "vm_uac_403.xml", free_port())
        .rows(&[&format!("alice;wonderland;{number};alice")])
        .args(&["-mp", &crate::calls::media_port().to_string()])
        .target(server.udp)
        .run();
    assert!(ok, "alice must be refused bob's message:\n{out}");
    // nor by naming bob in her From: the B2BUA tells the service who authenticated
    let (ok, out) = Sipp::new(&site, "vm_uac_403.xml", free_port())
        .rows(&[&format!("alice;wonderland;{number};bob")])
        .args(&["-mp", &crate::calls::media_port().to_string()])
        .target(server.udp)
        .run();
    assert!(ok, "a From naming bob must not open his mailbox:\n{out}");

    // bob plays it: the RTP payload is the stored file, encoded
    let media = Media::new();
    let (ok, out) = Sipp::new(&site, "vm_uac_media.xml", free_port())
        .rows(&[&format!("bob;builder;{number};bob;{}", media.port())])
        .target(server.udp)
        .run();
    assert!(ok, "bob's playback call:\n{out}");
    let got = media.pcmu();
    let whole = pcmu_of(&stored[..stored.len() / 160 * 160]);
    assert!(
        contains(&got, &whole),
        "the {} bytes of message {} are not in the {} bytes received",
        whole.len(),
        m.id,
        got.len()
    );
    // heard: old now
    let after = wait_messages(&site, "bob", 1, 1);
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut heard = after.iter().any(|x| x.id == m.id && !x.new);
    while !heard && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        heard = wait_messages(&site, "bob", 1, 1)
            .iter()
            .any(|x| x.id == m.id && !x.new);
    }
    assert!(heard, "message {} still new after playback", m.id);
}

#[test]
fn a_greeting_recorded_at_750_greets_the_next_caller() {
    let site = site_with("");
    crate::calls::cli_ok(
        &site,
        &[
            "account",
            "set",
            "bob",
            "--tech-prefix",
            "DP:int-> OR onnet",
        ],
    );
    let server = site.start();
    let media = Media::new();
    let port = media.port();
    let udp = server.udp;
    let sipp = Sipp::new(&site, "vm_uac_media.xml", free_port())
        .rows(&[&format!("bob;builder;750;bob;{port}")])
        .target(udp)
        .spawn();
    // "record after the tone", the beep: then 1.5 s of speech and #
    let (service, n) = media.wait_prompt_end(0, 10);
    let take: Vec<Vec<u8>> = pcap_payloads().into_iter().skip(25).take(75).collect();
    let (mut seq, mut ts) = (1u16, 8000u32);
    media.send(service, &take, &[11], &mut seq, &mut ts);
    // the take is replayed with "# to keep": keep it
    let _ = media.wait_prompt_end(n, 10);
    media.send(service, &[], &[11], &mut seq, &mut ts);
    assert_ok("bob's 750 call", sipp.wait());
    let path = {
        let s = store_of(&site);
        let u = block(s.voicemail_user("bob"))
            .unwrap()
            .expect("bob's mailbox row");
        block(s.close());
        u.greeting_path.expect("a greeting saved")
    };
    let greeting = wav_samples(&path);
    assert!(
        (greeting.len() as i64 - 75 * 160).abs() <= 1600 + 160,
        "greeting of {} samples",
        greeting.len()
    );

    // alice's next call to bob (declined) hears it
    let bob = device(&site, &server, "bob", "builder", "uas_603.xml");
    let caller = Media::new();
    let (ok, out) = Sipp::new(&site, "vm_uac_media.xml", free_port())
        .rows(&[&format!("alice;wonderland;bob;alice;{}", caller.port())])
        .target(udp)
        .run();
    assert!(ok, "alice's call:\n{out}");
    assert_ok("bob's declining phone", bob.wait());
    let heard = caller.pcmu();
    let expected = pcmu_of(&greeting[..greeting.len() / 160 * 160]);
    assert!(
        contains(&heard, &expected),
        "bob's greeting ({} bytes) is not in what alice heard ({} bytes)",
        expected.len(),
        heard.len()
    );
}

/// bob sleeps (a push token, no registration): alice's call waits for the push timeout, then
/// goes to his mailbox; the deposit posts a `voicemail` push event for his sleeping device.
#[test]
fn a_sleeping_owner_is_pushed_a_voicemail_event() {
    let api = FakeApi::start(|_, _| (200, "{}".into()));
    let site = site_with(&format!(
        "[calls]\ncall_timeout = 5\n[push_service]\nipaddr = \"127.0.0.1\"\nport = {}\nservice = \"emc.ashx\"\npush_timeout = 5\n",
        api.addr.port()
    ));
    let server = site.start();
    let instance = "<urn:uuid:00000000-0000-1000-8000-00000000beef>";
    let mut bob = crate::ua::Ua::new(server.udp, "bob", "builder");
    let r = bob.request(
        "REGISTER",
        &format!("sip:{}", crate::ua::REALM),
        &format!("sip:bob@{}", crate::ua::REALM),
        &format!(
            "Expires: 0\r\nContact: <sip:bob@{};pn-provider=fcm;pn-prid=fcm-vm-1>;+sip.instance=\"{instance}\"\r\n",
            bob.local
        ),
        None,
        None,
    );
    assert_eq!(r.status(), Some(200), "{r:?}");
    let mp = crate::calls::media_port().to_string();
    let out = Sipp::new(&site, "vm_uac_deposit.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .args(&["-mp", &mp, "-mi", "127.0.0.1"])
        .target(server.udp)
        .run();
    assert_ok("alice's deposit after the push timeout", out);
    let m = wait_messages(&site, "bob", 1, 5).remove(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    let event = loop {
        let found = api
            .requests()
            .into_iter()
            .find(|r| r.body.contains("\"event\":\"voicemail\""));
        if let Some(r) = found {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no voicemail push in {:?}",
            api.requests()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let v: serde_json::Value = serde_json::from_str(&event.body).unwrap();
    assert_eq!(v["mailbox"], "bob", "{v}");
    assert_eq!(
        (v["new"].as_u64(), v["old"].as_u64()),
        (Some(1), Some(0)),
        "{v}"
    );
    assert_eq!(v["message"]["id"].as_i64(), Some(m.id), "{v}");
    assert_eq!(v["message"]["caller"]["login"], "alice", "{v}");
    assert_eq!(v["devices"][0]["token"], "fcm-vm-1", "{v}");
    assert_eq!(v["instances"][0], instance, "{v}");
}

/// bob's phone rings and nobody picks up within `calls.call_timeout`: the phone is
/// CANCELled and alice leaves her message.
#[test]
fn an_unanswered_call_goes_to_the_mailbox_after_the_call_timeout() {
    let site = site_with("[calls]\ncall_timeout = 5\n");
    let server = site.start();
    let bob = device(&site, &server, "bob", "builder", "uas_ring_forever.xml");
    let started = Instant::now();
    let mp = crate::calls::media_port().to_string();
    let out = Sipp::new(&site, "vm_uac_deposit.xml", free_port())
        .rows(&["alice;wonderland;bob"])
        .args(&["-mp", &mp, "-mi", "127.0.0.1"])
        .target(server.udp)
        .run();
    assert_ok("alice's deposit after the call timeout", out);
    assert_ok("bob's ringing phone, cancelled", bob.wait());
    assert!(
        started.elapsed() >= Duration::from_secs(5 + 8),
        "the call timeout first"
    );
    let m = wait_messages(&site, "bob", 1, 5).remove(0);
    assert_eq!(m.caller_id, "alice");
    let sent = pcap_samples(&Path::new(SIPP_DIR).join("pcap/vm_message.pcap"));
    assert_same_audio(&sent, &wav_samples(&m.file_path));
}

/// Without `[voicemail]` nothing starts and the access numbers are ordinary numbers.
#[test]
fn off_by_default() {
    let site = Site::new();
    site.add_account("alice", "wonderland");
    let server = site.start();
    assert!(
        !server
            .startup_log
            .iter()
            .any(|l| l.contains("voicemail service on")),
        "{:?}",
        server.startup_log
    );
    let (ok, out) = Sipp::new(&site, "uac_expect_404.xml", free_port())
        .rows(&["alice;wonderland;950msg1"])
        .target(server.udp)
        .run();
    assert!(ok, "950msg1 is no account here:\n{out}");
}
