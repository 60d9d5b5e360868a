//! What the call engine tells the relay about WebRTC callees (the WebRTC gateway's seam):
//! `MediaRelay::peer_webrtc(call, Side::B, ..)` before the first offer, from the contacts the
//! call forks to (`;transport=ws`/`wss`, RFC 7118).

use std::sync::{Arc, Mutex};

use b2bua::{CallStats, MediaMode, MediaRelay, Side};
use bytes::Bytes;
use sip_message::{Method, Transport};

const WEBRTC: &[u8] =
    b"v=0\r\no=- 2 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n";

use crate::net::*;

fn kind(webrtc: bool) -> &'static str {
    if webrtc {
        "webrtc"
    } else {
        "plain"
    }
}

/// Records the calls it gets, in order.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl MediaRelay for Recorder {
    fn offer(&mut self, call: u64, from: Side, _: &Bytes, _: MediaMode) -> Option<Bytes> {
        self.0
            .lock()
            .unwrap()
            .push(format!("offer {call} {from:?}"));
        None
    }
    fn answer(&mut self, call: u64, from: Side, _: &Bytes, _: MediaMode) -> Option<Bytes> {
        self.0
            .lock()
            .unwrap()
            .push(format!("answer {call} {from:?}"));
        None
    }
    fn branch_offer(
        &mut self,
        call: u64,
        webrtc: bool,
        caller: &Bytes,
        sdp: &Bytes,
        _: MediaMode,
    ) -> Option<Bytes> {
        assert_eq!(caller, sdp, "no relay rewrote the caller's offer here");
        self.0
            .lock()
            .unwrap()
            .push(format!("branch_offer {call} {}", kind(webrtc)));
        // a browser branch gets an offer of its own
        webrtc.then(|| Bytes::from_static(WEBRTC))
    }
    fn branch_won(&mut self, call: u64, webrtc: bool) {
        self.0
            .lock()
            .unwrap()
            .push(format!("branch_won {call} {}", kind(webrtc)));
    }
    fn end(&mut self, _: u64) -> Option<CallStats> {
        None
    }
    fn peer_webrtc(&mut self, call: u64, side: Side, webrtc: bool) {
        self.0
            .lock()
            .unwrap()
            .push(format!("webrtc {call} {side:?} {webrtc}"));
    }
}

/// Alice calls bob, whose devices are WebSocket contacts (`true`) or plain ones; returns what the
/// relay was told.
fn calls_to(ws: &[bool]) -> Vec<String> {
    let mut n = Net::onnet();
    let rec = Recorder::default();
    n.calls.set_media(Box::new(rec.clone()));
    n.dir.accounts.insert("bob".into());
    for (i, ws) in ws.iter().enumerate() {
        let remote = if i == 0 { BOB1 } else { BOB2 };
        let mut t = target("bob", remote, None);
        if *ws {
            t.uri = format!("sip:bob@{remote};transport=ws");
        }
        n.dir.contacts.entry("bob".into()).or_default().push(t);
    }
    n.deliver(&invite("w1", "bob", true), ALICE);
    let _ = n.request(BOB1, Method::Invite);
    let log = rec.0.lock().unwrap().clone();
    log.into_iter()
        .filter(|l| !l.starts_with("branch_offer"))
        .collect()
}

#[test]
fn the_relay_learns_whether_the_callee_is_a_browser_before_the_offer() {
    // a browser (WebSocket contact): a WebRTC offer stays WebRTC, a plain one gets bridged
    assert_eq!(calls_to(&[true]), ["webrtc 1 B true", "offer 1 A"]);
    // a phone: a WebRTC offer is bridged to plain RTP
    assert_eq!(calls_to(&[false]), ["webrtc 1 B false", "offer 1 A"]);
    // a phone and a browser at once: unknown (one SDP for both branches)
    assert_eq!(calls_to(&[false, true]), ["offer 1 A"]);
}

/// A fork to bob's phone and bob's browser: each branch is offered through
/// `MediaRelay::branch_offer` with its transport (the browser gets the relay's other offer), and
/// the winner is told before its 2xx's answer.
#[test]
fn each_fork_branch_gets_its_own_offer_and_the_winner_is_told_before_its_answer() {
    let mut n = Net::onnet();
    let rec = Recorder::default();
    n.calls.set_media(Box::new(rec.clone()));
    n.dir.accounts.insert("bob".into());
    let phone = target("bob", BOB1, None);
    let mut browser = target("bob", BOB2, None);
    browser.uri = format!("sip:bob@{BOB2};transport=ws");
    browser.peer.transport = Transport::Ws;
    n.dir.contacts.insert("bob".into(), vec![phone, browser]);
    n.deliver(&invite("f1", "bob", true), ALICE);
    let to_phone = n.request(BOB1, Method::Invite);
    let to_browser = n.request(BOB2, Method::Invite);
    assert_eq!(to_phone.body().as_ref(), SDP.as_bytes());
    assert_eq!(to_browser.body().as_ref(), WEBRTC);
    n.deliver_msg(
        reply(&to_phone, 180, "p1", "sip:bob@198.51.100.2", false),
        BOB1,
    );
    n.deliver_msg(
        reply(
            &to_browser,
            200,
            "b2",
            "sip:bob@x.invalid;transport=ws",
            true,
        ),
        BOB2,
    );
    let log = rec.0.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "offer 1 A",
            "branch_offer 1 plain",
            "branch_offer 1 webrtc",
            "branch_won 1 webrtc",
            "answer 1 B"
        ]
    );
    // the phone's branch is cancelled
    assert!(n
        .take(BOB1)
        .iter()
        .any(|m| m.method() == Some(&Method::Cancel)));
}

/// An API WebRTC endpoint (`;endpoint=webrtc`, reached over UDP) forked with a plain phone:
/// its branch gets the WebRTC offer like a browser's, and wins as a WebRTC device.
#[test]
fn an_api_webrtc_endpoint_in_a_fork_gets_the_webrtc_offer() {
    let mut n = Net::onnet();
    let rec = Recorder::default();
    n.calls.set_media(Box::new(rec.clone()));
    n.dir.accounts.insert("bob".into());
    let phone = target("bob", BOB1, None);
    let mut app = target("bob", BOB2, None);
    app.uri = format!("sip:bob@{BOB2};api-session=reg-1;endpoint=webrtc");
    n.dir.contacts.insert("bob".into(), vec![phone, app]);
    n.deliver(&invite("f2", "bob", true), ALICE);
    let to_phone = n.request(BOB1, Method::Invite);
    let to_app = n.request(BOB2, Method::Invite);
    assert_eq!(to_phone.body().as_ref(), SDP.as_bytes());
    assert_eq!(to_app.body().as_ref(), WEBRTC);
    n.deliver_msg(
        reply(&to_app, 200, "b2", "sip:bob@198.51.100.3", true),
        BOB2,
    );
    let log = rec.0.lock().unwrap().clone();
    assert!(log.contains(&"branch_won 1 webrtc".to_owned()), "{log:?}");
}
