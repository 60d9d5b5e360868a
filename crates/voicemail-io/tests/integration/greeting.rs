//! 750: the owner records a greeting, which the next deposit into the mailbox plays.

use std::net::SocketAddr;
use std::time::Duration;

use voicemail::dtmf::event_payload;
use voicemail::rtp::{self, RtpHeader};
use voicemail::Codec;

use crate::playback::Phone;
use crate::support::{start, tone};

fn sdp_port(response: &str) -> u16 {
    let m = response
        .lines()
        .find(|l| l.starts_with("m=audio "))
        .unwrap();
    m.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn send_rtp(phone: &Phone, to: SocketAddr, pt: u8, seq: u16, ts: u32, payload: &[u8]) {
    let mut out = Vec::new();
    let h = RtpHeader {
        marker: false,
        payload_type: pt,
        seq,
        timestamp: ts,
        ssrc: 0xABCD,
    };
    rtp::write(&h, payload, &mut out);
    phone.rtp.send_to(&out, to).await.unwrap();
}

async fn pound(phone: &Phone, to: SocketAddr, seq: &mut u16, ts: u32) {
    for end in [false, true, true, true] {
        send_rtp(phone, to, 101, *seq, ts, &event_payload(11, end, 10, 800)).await;
        *seq = seq.wrapping_add(1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greeting_recorded_at_750_is_played_on_the_next_deposit() {
    let svc = start().await;
    let alice = Phone::new().await;
    let r = alice.invite(svc.addr, "750", "alice", "c-greet").await;
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    alice.ack_and_bye(svc.addr, &r, "c-greet", false).await;
    let media: SocketAddr = ([127, 0, 0, 1], sdp_port(&r)).into();
    // The (short, test) "record after the tone" prompt and the beep: 0.7 s.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let take = tone(1500, 600.0);
    let mut seq = 1u16;
    let mut ts = 8000u32;
    for frame in take.chunks(160) {
        let mut payload = Vec::new();
        Codec::Pcmu.encode(frame, &mut payload);
        send_rtp(&alice, media, 0, seq, ts, &payload).await;
        seq += 1;
        ts += 160;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pound(&alice, media, &mut seq, ts).await; // ends the take: replayed, then "# to keep"
    tokio::time::sleep(Duration::from_millis(300)).await;
    pound(&alice, media, &mut seq, ts + 4000).await; // keep it
    let mut path = None;
    for _ in 0..50 {
        if let Some(p) = svc
            .store
            .voicemail_user("alice")
            .await
            .unwrap()
            .and_then(|u| u.greeting_path)
        {
            path = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let path = path.expect("greeting saved");
    let greeting = voicemail::wav::read(&std::fs::read(&path).unwrap()).unwrap();
    let sent: Vec<i16> = take
        .iter()
        .map(|&s| Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(s)))
        .collect();
    assert_eq!(greeting, sent, "the greeting is the take");

    // bob calls alice's mailbox: the first thing he hears is her greeting.
    let bob = Phone::new().await;
    let r = bob.invite(svc.addr, "alice", "bob", "c-dep").await;
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    bob.ack_and_bye(svc.addr, &r, "c-dep", false).await;
    let mut buf = vec![0u8; 2048];
    let mut got = Vec::new();
    while got.len() < greeting.len() {
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), bob.rtp.recv_from(&mut buf))
            .await
            .expect("greeting RTP")
            .unwrap();
        Codec::Pcmu.decode(rtp::parse(&buf[..n]).unwrap().payload, &mut got);
    }
    assert_eq!(
        &got[..greeting.len()],
        &greeting[..],
        "her greeting, not the standard one"
    );
    bob.ack_and_bye(svc.addr, &r, "c-dep", true).await;
}
