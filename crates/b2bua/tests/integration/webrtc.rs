//! What the call engine tells the relay about WebRTC callees (the WebRTC gateway's seam):
//! `MediaRelay::peer_webrtc(call, Side::B, ..)` before the first offer, from the contacts the
//! call forks to (`;transport=ws`/`wss`, RFC 7118).

use std::sync::{Arc, Mutex};

use b2bua::{CallStats, MediaMode, MediaRelay, Side};
use bytes::Bytes;
use sip_message::Method;

use crate::net::*;

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
    fn answer(&mut self, _: u64, _: Side, _: &Bytes, _: MediaMode) -> Option<Bytes> {
        None
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
    log
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
