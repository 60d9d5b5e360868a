//! Dialog state from real INVITE/2xx exchanges: identity, route sets, CSeq rules and the
//! requests a dialog builds.

use bytes::Bytes;
use sip_dialog::{Dialog, DialogError, DialogState};
use sip_message::{HeaderName, Message, Method, Peer, Transport};

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        remote: "192.0.2.10:5060".parse().unwrap(),
        local: "192.0.2.1:5060".parse().unwrap(),
        conn: None,
    }
}

fn msg(s: &str) -> Message {
    Message::parse(Bytes::from(s.replace('\n', "\r\n"))).expect("test message parses")
}

const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1
Max-Forwards: 70
From: \"Alice\" <sip:alice@example.com>;tag=aaa
To: <sip:bob@example.com>
Call-ID: c1@x
CSeq: 7 INVITE
Contact: <sip:alice@192.0.2.10:5060>
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
Content-Length: 0

";

#[test]
fn uas_dialog_from_invite_keeps_record_route_order_and_builds_bye() {
    let inv = msg(INVITE);
    let mut d = Dialog::from_request(&inv, "our", peer()).unwrap();
    assert_eq!(d.call_id, "c1@x");
    assert_eq!(d.remote_tag, "aaa");
    assert_eq!(d.local_tag, "our");
    assert_eq!(d.remote_target, "sip:alice@192.0.2.10:5060");
    assert_eq!(
        d.route_set,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(d.remote_cseq, Some(7));
    assert!(d.matches("c1@x", Some("our"), Some("aaa")));
    assert!(!d.matches("c1@x", Some("other"), Some("aaa")));
    assert!(!d.matches("c1@x", None, Some("aaa")));

    let bye = Message::parse(d.request(&Method::Bye, "z9hG4bKb1", None).finish()).unwrap();
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.request_uri_str(), Some("sip:alice@192.0.2.10:5060"));
    assert_eq!(bye.cseq().unwrap().seq, 1);
    assert_eq!(bye.from_header().unwrap().tag(), Some("our"));
    assert_eq!(bye.to_header().unwrap().tag(), Some("aaa"));
    assert_eq!(bye.to_header().unwrap().display, Some("\"Alice\""));
    let routes: Vec<&str> = bye.header_list(&HeaderName::Route).collect();
    assert_eq!(
        routes,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(bye.top_via().unwrap().branch(), Some("z9hG4bKb1"));
    // the next request counts on
    let again = Message::parse(d.request(&Method::Info, "z9hG4bKb2", None).finish()).unwrap();
    assert_eq!(again.cseq().unwrap().seq, 2);
}

#[test]
fn uac_dialog_from_2xx_reverses_route_set_and_acks_with_invite_cseq() {
    let inv = msg(INVITE);
    let ok = msg("SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1
From: \"Alice\" <sip:alice@example.com>;tag=aaa
To: <sip:bob@example.com>;tag=bbb
Call-ID: c1@x
CSeq: 7 INVITE
Contact: <sip:bob@198.51.100.2:5080>
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
Content-Length: 0

");
    let d = Dialog::from_response(&inv, &ok, peer()).unwrap();
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.local_tag, "aaa");
    assert_eq!(d.remote_tag, "bbb");
    assert_eq!(d.remote_target, "sip:bob@198.51.100.2:5080");
    assert_eq!(
        d.route_set,
        ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    );
    let ack = Message::parse(d.ack(7, "z9hG4bKack").finish()).unwrap();
    assert_eq!(ack.method(), Some(&Method::Ack));
    let cseq = ack.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (7, Method::Ack));
    assert_eq!(ack.request_uri_str(), Some("sip:bob@198.51.100.2:5080"));

    // a response without To tag makes no dialog
    let no_tag = msg("SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1
From: <sip:alice@example.com>;tag=aaa
To: <sip:bob@example.com>
Call-ID: c1@x
CSeq: 7 INVITE
Content-Length: 0

");
    assert_eq!(
        Dialog::from_response(&inv, &no_tag, peer()),
        Err(DialogError::NoRemoteTag)
    );
}

#[test]
fn out_of_order_remote_cseq_is_refused_and_target_refreshes() {
    let mut d = Dialog::from_request(&msg(INVITE), "our", peer()).unwrap();
    assert!(d.accept_remote_cseq(8));
    assert!(
        d.accept_remote_cseq(8),
        "equal is a retransmission-safe repeat"
    );
    assert!(!d.accept_remote_cseq(3));
    assert_eq!(d.remote_cseq, Some(8));
    let reinvite = msg(&INVITE.replace(
        "Contact: <sip:alice@192.0.2.10:5060>",
        "Contact: <sip:alice@203.0.113.9:6000>",
    ));
    d.refresh_target(&reinvite);
    assert_eq!(d.remote_target, "sip:alice@203.0.113.9:6000");
}
