//! Capacity of the WebRTC gateway on one core: N bridged calls, each with a str0m "browser"
//! and a plain G.711 phone sending 20 ms packets both ways, all in memory (the gateway is
//! sans-IO, so the time is virtual and only the gateway's own work is timed: ICE/DTLS/SRTP,
//! re-packetising and, for an Opus-only browser, Opus <-> G.711).
//!
//! `cargo bench -p webrtc-gw --bench gateway_load` (bounded: 10 s of media per run).
//! Prints the gateway's CPU time per packet (p50/p99/max: the latency it adds), per stream and
//! second, and the streams one core could carry at 100 % (and at a 70 % planning load).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::sdp::Sdp;
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Input, Output, Rtc, RtcConfig};
use webrtc_gw::{Datagram, Gateway, GatewayConfig, Leg};

const CALLS: usize = 100;
const SECONDS: u64 = 10;

struct Pair {
    client: Rtc,
    mid: Mid,
    pt: Pt,
    client_addr: SocketAddr,
    gw: Gateway,
    gw_addr: SocketAddr,
    phone: SocketAddr,
    phone_seq: u16,
}

fn client_pump(c: &mut Rtc, to_gw: &mut Vec<Vec<u8>>) {
    loop {
        match c.poll_output().unwrap() {
            Output::Timeout(_) => return,
            Output::Transmit(t) => to_gw.push(t.contents.to_vec()),
            Output::Event(_) => {}
        }
    }
}

fn feed_client(c: &mut Rtc, now: Instant, from: SocketAddr, to: SocketAddr, d: &[u8]) {
    let r = Receive {
        proto: Protocol::Udp,
        source: from,
        destination: to,
        contents: d.try_into().unwrap(),
    };
    let _ = c.handle_input(Input::Receive(now, r));
}

fn setup(i: usize, cfg: &GatewayConfig, codec: Codec, now: Instant) -> (Pair, Duration) {
    let client_addr: SocketAddr = format!("10.0.{}.{}:5000", i / 250, i % 250 + 1)
        .parse()
        .unwrap();
    let gw_addr: SocketAddr = format!("10.1.0.1:{}", 20000 + 2 * i).parse().unwrap();
    let phone: SocketAddr = format!("10.2.0.1:{}", 30000 + 2 * i).parse().unwrap();
    let mut rc = RtcConfig::new()
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs();
    rc = if codec == Codec::Opus {
        rc.enable_opus(true, false)
    } else {
        rc.enable_pcmu(true, false)
    };
    let mut client = rc.build(now);
    client.add_local_candidate(Candidate::host(client_addr, "udp").unwrap());
    let mut api = client.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let t0 = Instant::now();
    let mut gw = Gateway::accept_offer(now, cfg, &offer.to_sdp_string(), gw_addr).unwrap();
    let _ = gw.plain_offer("10.1.0.1".parse().unwrap(), 40000);
    let answer = format!(
        "v=0\r\no=p 1 1 IN IP4 10.2.0.1\r\ns=-\r\nc=IN IP4 10.2.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
        phone.port()
    );
    gw.set_plain(&Sdp::parse(answer.as_bytes()).unwrap())
        .unwrap();
    let mut cost = t0.elapsed();
    client
        .sdp_api()
        .accept_answer(
            pending,
            SdpAnswer::from_sdp_string(gw.browser_answer()).unwrap(),
        )
        .unwrap();
    // ICE + DTLS in memory
    let mut t = now;
    let mut to_gw = Vec::new();
    for _ in 0..2000 {
        let _ = client.handle_input(Input::Timeout(t));
        client_pump(&mut client, &mut to_gw);
        let t0 = Instant::now();
        for d in to_gw.drain(..) {
            gw.handle_browser(t, client_addr, &d);
        }
        gw.handle_timeout(t);
        let out: Vec<Datagram> = std::iter::from_fn(|| gw.poll_transmit()).collect();
        cost += t0.elapsed();
        for d in out {
            feed_client(&mut client, t, gw_addr, client_addr, &d.data);
            client_pump(&mut client, &mut to_gw);
        }
        if client.is_connected() && gw.is_connected() {
            break;
        }
        t += Duration::from_millis(1);
    }
    assert!(gw.is_connected(), "call {i} did not connect");
    let pt = {
        let w = client.writer(mid).unwrap();
        let p = w
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .unwrap()
            .pt();
        p
    };
    (
        Pair {
            client,
            mid,
            pt,
            client_addr,
            gw,
            gw_addr,
            phone,
            phone_seq: 0,
        },
        cost,
    )
}

fn tone_frames(codec: Codec) -> (Vec<u8>, Vec<u8>) {
    // browser payload (Opus 20 ms at 48 kHz or PCMU) and phone payload (PCMU 20 ms)
    let pcm8: Vec<i16> = (0..160)
        .map(|k| ((k as f64 * 1000.0 * 2.0 * std::f64::consts::PI / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let ulaw: Vec<u8> = pcm8
        .iter()
        .map(|s| webrtc_gw::g711::ulaw_encode(*s))
        .collect();
    let browser = if codec == Codec::Opus {
        let pcm48: Vec<i16> = (0..960)
            .map(|k| {
                ((k as f64 * 1000.0 * 2.0 * std::f64::consts::PI / 48000.0).sin() * 8000.0) as i16
            })
            .collect();
        let mut enc =
            opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        enc.encode_vec(&pcm48, 400).unwrap()
    } else {
        ulaw.clone()
    };
    (browser, ulaw)
}

fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

fn percentile(v: &mut [u64], p: f64) -> u64 {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn run(label: &str, codec: Codec) {
    let cfg = GatewayConfig::new().unwrap();
    let start = Instant::now();
    let mut setup_cost = Duration::ZERO;
    let mut pairs: Vec<Pair> = (0..CALLS)
        .map(|i| {
            let (p, c) = setup(i, &cfg, codec, start);
            setup_cost += c;
            p
        })
        .collect();
    let (browser_payload, phone_payload) = tone_frames(codec);
    let mut b2p: Vec<u64> = Vec::new();
    let mut p2b: Vec<u64> = Vec::new();
    let mut timers = Duration::ZERO;
    let mut now = start + Duration::from_millis(500);
    let ticks = SECONDS * 50;
    let step = if codec == Codec::Opus { 960 } else { 160 };
    let rate = if codec == Codec::Opus {
        Frequency::FORTY_EIGHT_KHZ
    } else {
        Frequency::EIGHT_KHZ
    };
    let (mut to_plain, mut to_browser) = (0u64, 0u64);
    // the gateway's own CPU time (thread clock: a busy shared machine does not inflate it)
    let mut gw_cpu = Duration::ZERO;
    for tick in 0..ticks {
        now += Duration::from_millis(20);
        // 1. the browsers send one frame each, the phones one PCMU packet each (not timed)
        let mut inputs: Vec<(Vec<Vec<u8>>, Vec<u8>)> = Vec::with_capacity(pairs.len());
        for p in &mut pairs {
            let w = p.client.writer(p.mid).unwrap();
            w.write(
                p.pt,
                now,
                MediaTime::new(tick * step, rate),
                browser_payload.clone(),
            )
            .unwrap();
            let mut to_gw = Vec::new();
            let _ = p.client.handle_input(Input::Timeout(now));
            client_pump(&mut p.client, &mut to_gw);
            let mut rtp = vec![0x80, 0x00];
            rtp.extend_from_slice(&p.phone_seq.to_be_bytes());
            rtp.extend_from_slice(&(u32::from(p.phone_seq) * 160).to_be_bytes());
            rtp.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            rtp.extend_from_slice(&phone_payload);
            p.phone_seq = p.phone_seq.wrapping_add(1);
            inputs.push((to_gw, rtp));
        }
        // 2. the gateways (timed)
        let mut outputs: Vec<Vec<Datagram>> = Vec::with_capacity(pairs.len());
        let cpu0 = thread_cpu();
        for (p, (to_gw, rtp)) in pairs.iter_mut().zip(&inputs) {
            let mut out = Vec::new();
            for d in to_gw {
                let t0 = Instant::now();
                p.gw.handle_browser(now, p.client_addr, d);
                out.extend(std::iter::from_fn(|| p.gw.poll_transmit()));
                b2p.push(t0.elapsed().as_nanos() as u64);
            }
            let t0 = Instant::now();
            p.gw.handle_plain(now, p.phone, rtp);
            out.extend(std::iter::from_fn(|| p.gw.poll_transmit()));
            p2b.push(t0.elapsed().as_nanos() as u64);
            let t1 = Instant::now();
            if p.gw.poll_timeout() <= now {
                p.gw.handle_timeout(now);
            }
            out.extend(std::iter::from_fn(|| p.gw.poll_transmit()));
            timers += t1.elapsed();
            outputs.push(out);
        }
        gw_cpu += thread_cpu() - cpu0;
        // 3. the browsers receive (not timed)
        for (p, out) in pairs.iter_mut().zip(outputs) {
            for d in out {
                match d.leg {
                    Leg::Plain => to_plain += 1,
                    Leg::PlainRtcp => {}
                    Leg::Browser => {
                        to_browser += 1;
                        feed_client(&mut p.client, now, p.gw_addr, p.client_addr, &d.data);
                        client_pump(&mut p.client, &mut Vec::new());
                    }
                }
            }
        }
    }
    let wall: u64 = b2p.iter().sum::<u64>() + p2b.iter().sum::<u64>() + timers.as_nanos() as u64;
    let total = gw_cpu.as_nanos() as u64;
    // ns of gateway CPU per stream and second of media
    let per_stream_per_s = total as f64 / (CALLS as f64 * SECONDS as f64);
    let streams = 1e9 / per_stream_per_s;
    let n = b2p.len();
    println!("== {label}: {CALLS} calls x {SECONDS} s, 50 pps each way");
    println!(
        "   packets through the gateway: browser->plain {to_plain} / {n} in, plain->browser {to_browser}"
    );
    println!(
        "   browser->plain per packet (SRTP unprotect, re-packetise{}): p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        if codec == Codec::Opus { ", Opus decode + G.711 encode" } else { "" },
        percentile(&mut b2p, 0.5) as f64 / 1e3,
        percentile(&mut b2p, 0.99) as f64 / 1e3,
        percentile(&mut b2p, 1.0) as f64 / 1e3
    );
    println!(
        "   plain->browser per packet ({}SRTP protect): p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        if codec == Codec::Opus {
            "G.711 decode + Opus encode, "
        } else {
            ""
        },
        percentile(&mut p2b, 0.5) as f64 / 1e3,
        percentile(&mut p2b, 0.99) as f64 / 1e3,
        percentile(&mut p2b, 1.0) as f64 / 1e3
    );
    println!(
        "   timers (RTCP, ICE consent): {:.1} us per stream-second",
        timers.as_nanos() as f64 / 1e3 / (CALLS as f64 * SECONDS as f64)
    );
    println!(
        "   gateway time: {:.2} s CPU (thread clock), {:.2} s wall (inflated by other processes)",
        total as f64 / 1e9,
        wall as f64 / 1e9
    );
    println!(
        "   CPU per bridged stream: {:.1} us per second -> {:.0} streams per core at 100 %, {:.0} at 70 %",
        per_stream_per_s / 1e3,
        streams,
        streams * 0.7
    );
    println!(
        "   call setup (offer/answer + ICE + DTLS handshake, gateway side): {:.2} ms per call",
        setup_cost.as_secs_f64() * 1e3 / CALLS as f64
    );
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: keep that quick
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    run("PCMU browser, no transcoding", Codec::PCMU);
    run("Opus-only browser, Opus <-> PCMU transcoding", Codec::Opus);
}
