//! Playback by message id over real sockets: the test is the caller's phone (a UDP SIP socket
//! and an RTP socket), against a message stored by a real deposit.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::support::{have_sipp, sipp, start, Service};

/// A phone: sends an INVITE for `user` from `from_user`, returns the final status and, on 200,
/// the RTP socket and the ACK-ed dialog's To tag.
pub(crate) struct Phone {
    pub(crate) sip: UdpSocket,
    pub(crate) rtp: UdpSocket,
}

impl Phone {
    pub(crate) async fn new() -> Self {
        Self {
            sip: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            rtp: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    async fn recv_sip(&self) -> String {
        let mut buf = vec![0u8; 65536];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), self.sip.recv_from(&mut buf))
            .await
            .expect("no SIP answer")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// INVITE; returns the final response.
    pub(crate) async fn invite(
        &self,
        to: SocketAddr,
        user: &str,
        from_user: &str,
        call_id: &str,
    ) -> String {
        let local = self.sip.local_addr().unwrap();
        let rtp = self.rtp.local_addr().unwrap();
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
            rtp.port()
        );
        let invite = format!(
            "INVITE sip:{user}@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{call_id}\r\n\
             From: <sip:{from_user}@example.com>;tag=t{call_id}\r\nTo: <sip:{user}@example.com>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{from_user}@{local}>\r\n\
             Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        self.sip.send_to(invite.as_bytes(), to).await.unwrap();
        loop {
            let r = self.recv_sip().await;
            if !r.starts_with("SIP/2.0 100") {
                return r;
            }
        }
    }

    pub(crate) async fn ack_and_bye(&self, to: SocketAddr, ok: &str, call_id: &str, bye: bool) {
        let to_hdr = ok
            .lines()
            .find(|l| l.starts_with("To:"))
            .unwrap()
            .to_owned();
        let local = self.sip.local_addr().unwrap();
        for (method, cseq) in [("ACK", 1), ("BYE", 2)] {
            if method == "BYE" && !bye {
                break;
            }
            let m = format!(
                "{method} sip:voicemail@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{method}{call_id}\r\n\
                 From: <sip:x@example.com>;tag=t{call_id}\r\n{to_hdr}\r\nCall-ID: {call_id}\r\n\
                 CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            );
            self.sip.send_to(m.as_bytes(), to).await.unwrap();
        }
    }
}

async fn deposit(svc: &mut Service) -> store::VoiceMessage {
    let out = sipp("vm_deposit.xml", svc.addr, "bob;alice").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let change = tokio::time::timeout(Duration::from_secs(5), svc.changes.recv())
        .await
        .unwrap()
        .unwrap();
    change.deposited.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_hears_message_n_and_it_is_marked_old_others_are_refused() {
    if !have_sipp("the_owner_hears_message_n_and_it_is_marked_old_others_are_refused") {
        return;
    }
    let mut svc = start().await;
    let m = deposit(&mut svc).await;
    let stored = voicemail::wav::read(&std::fs::read(&m.file_path).unwrap()).unwrap();

    // Another user asks for alice's message: refused.
    let mallory = Phone::new().await;
    let r = mallory
        .invite(svc.addr, &format!("950msg{}", m.id), "mallory", "c-mallory")
        .await;
    assert!(r.starts_with("SIP/2.0 403"), "{r}");
    mallory.ack_and_bye(svc.addr, &r, "c-mallory", false).await;
    // A message that does not exist.
    let r = mallory
        .invite(svc.addr, "950msg999999", "alice", "c-none")
        .await;
    assert!(r.starts_with("SIP/2.0 404"), "{r}");

    // The owner.
    let alice = Phone::new().await;
    let r = alice
        .invite(svc.addr, &format!("950msg{}", m.id), "alice", "c-alice")
        .await;
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    alice.ack_and_bye(svc.addr, &r, "c-alice", false).await;
    let change = tokio::time::timeout(Duration::from_secs(5), svc.changes.recv())
        .await
        .expect("marked old at once")
        .unwrap();
    assert_eq!((change.counts.new, change.counts.old), (0, 1));
    assert!(!svc.store.voice_message(m.id).await.unwrap().unwrap().new);

    // The RTP received is the stored message: 20 ms packets of 160 PCMU bytes, sequence and
    // timestamp advancing by 1 and 160, then the menu prompt after it.
    let mut buf = vec![0u8; 2048];
    let mut got: Vec<i16> = Vec::new();
    let mut last: Option<(u16, u32)> = None;
    let started = std::time::Instant::now();
    while got.len() < stored.len() {
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), alice.rtp.recv_from(&mut buf))
            .await
            .expect("RTP stopped before the end of the message")
            .unwrap();
        let p = voicemail::rtp::parse(&buf[..n]).unwrap();
        assert_eq!(p.header.payload_type, 0);
        assert_eq!(p.payload.len(), 160);
        if let Some((seq, ts)) = last {
            assert_eq!(p.header.seq, seq.wrapping_add(1));
            assert_eq!(p.header.timestamp, ts.wrapping_add(160));
            assert!(!p.header.marker);
        } else {
            assert!(p.header.marker, "first packet of the talkspurt");
        }
        last = Some((p.header.seq, p.header.timestamp));
        voicemail::Codec::Pcmu.decode(p.payload, &mut got);
    }
    let elapsed = started.elapsed();
    let expected = stored.len() as f64 / 8000.0;
    assert!(
        (elapsed.as_secs_f64() - expected).abs() < 0.5,
        "paced in real time: {elapsed:?} for {expected} s"
    );
    // µ-law of the stored 16-bit samples is lossless (they were decoded from µ-law).
    assert_eq!(
        &got[..stored.len()],
        &stored[..],
        "the payload is the stored file"
    );
    alice.ack_and_bye(svc.addr, &r, "c-alice", true).await;
}
