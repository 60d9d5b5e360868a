//! The agent against a scripted switch on a virtual clock: what it sends, in which order,
//! and the statuses it reports.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip_message::{Message, MessageBuilder, Method};

use super::*;

const SWITCH: &str = "127.0.0.1:5060";
const OFFER: &str = "v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const ANSWER: &str = "v=0\r\no=b 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

fn agent() -> ApiCalls {
    ApiCalls::new(AgentConfig {
        local: "127.0.0.1:5999".parse().unwrap(),
        switch: SWITCH.parse().unwrap(),
        domain: "example.test".into(),
        user_agent: "test".into(),
    })
}

fn sent(a: &mut ApiCalls) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(t) = a.poll_transmit() {
        assert_eq!(t.to.remote, SWITCH.parse::<SocketAddr>().unwrap());
        out.push(Message::parse(t.payload).unwrap());
    }
    out
}

fn statuses(a: &mut ApiCalls) -> Vec<(CallStatus, Option<u16>)> {
    let mut out = Vec::new();
    while let Some(e) = a.poll_event() {
        out.push((e.status, e.code));
    }
    out
}

/// The switch answers `req` with `code` (To tag `tag`, Contact, optional SDP).
fn answer(a: &mut ApiCalls, now: Instant, req: &Message, code: u16, tag: &str, sdp: Option<&str>) {
    let mut b = MessageBuilder::response_to(req, code, Some(tag), None);
    b.header("Contact", "<sip:sw@127.0.0.1:5060>");
    let bytes = match sdp {
        Some(s) => b.finish_with_body("application/sdp", s.as_bytes()),
        None => b.finish(),
    };
    a.handle_datagram(now, bytes, SWITCH.parse().unwrap());
}

fn method(m: &Message) -> &Method {
    m.method().unwrap()
}

#[test]
fn click_to_call_rings_the_user_then_the_destination_and_bridges_the_sdp() {
    let mut a = agent();
    let now = Instant::now();
    let id = a.click_to_call(now, "alice", "bob").unwrap();
    let out = sent(&mut a);
    assert_eq!(out.len(), 1);
    let inv_a = out[0].clone();
    assert_eq!(method(&inv_a), &Method::Invite);
    assert_eq!(inv_a.request_uri_str(), Some("sip:alice@example.test"));
    assert!(
        inv_a.body().is_empty(),
        "flow I: no SDP to the user's devices"
    );
    assert_eq!(statuses(&mut a), [(CallStatus::Initial, None)]);

    answer(&mut a, now, &inv_a, 200, "ta", Some(OFFER));
    let out = sent(&mut a);
    assert_eq!(out.len(), 1, "B's INVITE, A's ACK waits for B's answer");
    let inv_b = out[0].clone();
    assert_eq!(inv_b.request_uri_str(), Some("sip:bob@example.test"));
    assert_eq!(&inv_b.body()[..], OFFER.as_bytes(), "A's offer goes to B");
    assert_eq!(inv_b.from_user().unwrap(), "alice");
    assert_eq!(statuses(&mut a), [(CallStatus::Progressing, None)]);

    answer(&mut a, now, &inv_b, 180, "tb", None);
    answer(&mut a, now, &inv_b, 183, "tb", None);
    assert_eq!(
        statuses(&mut a),
        [
            (CallStatus::Ringing, Some(180)),
            (CallStatus::SessionProgress, Some(183))
        ]
    );
    answer(&mut a, now, &inv_b, 200, "tb", Some(ANSWER));
    let out = sent(&mut a);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|m| method(m) == &Method::Ack));
    let ack_a = out.iter().find(|m| m.call_id() == inv_a.call_id()).unwrap();
    assert_eq!(
        &ack_a.body()[..],
        ANSWER.as_bytes(),
        "B's answer goes to A in the ACK"
    );
    assert_eq!(statuses(&mut a), [(CallStatus::Connected, Some(200))]);

    // hold, then DTMF, then hang up
    a.hold(now, id).unwrap();
    let out = sent(&mut a);
    assert_eq!(method(&out[0]), &Method::Invite);
    assert!(String::from_utf8_lossy(out[0].body()).contains("a=sendonly"));
    answer(&mut a, now, &out[0], 200, "tb", Some(ANSWER));
    assert_eq!(method(&sent(&mut a)[0]), &Method::Ack);
    assert_eq!(statuses(&mut a), [(CallStatus::Hold, Some(200))]);
    a.dtmf(now, id, "12").unwrap();
    let out = sent(&mut a);
    assert_eq!(out.len(), 1, "one INFO at a time");
    assert!(String::from_utf8_lossy(out[0].body()).contains("Signal=1"));
    answer(&mut a, now, &out[0], 200, "tb", None);
    let out = sent(&mut a);
    assert!(String::from_utf8_lossy(out[0].body()).contains("Signal=2"));
    assert_eq!(
        a.dtmf(now, id, "x"),
        Err(CommandError::Invalid(
            "digits must be 1 to 32 of 0-9, *, #, A-D".into()
        ))
    );
    a.hang_up(now, id).unwrap();
    let out = sent(&mut a);
    assert_eq!(out.iter().filter(|m| method(m) == &Method::Bye).count(), 2);
    assert_eq!(statuses(&mut a), [(CallStatus::Terminating, None)]);
    assert_eq!(a.info(id).unwrap().status, CallStatus::Terminating);
}

#[test]
fn a_busy_destination_ends_the_user_leg_and_reports_busy() {
    let mut a = agent();
    let now = Instant::now();
    a.click_to_call(now, "alice", "bob").unwrap();
    let inv_a = sent(&mut a).remove(0);
    answer(&mut a, now, &inv_a, 200, "ta", Some(OFFER));
    let inv_b = sent(&mut a).remove(0);
    statuses(&mut a);
    answer(&mut a, now, &inv_b, 486, "tb", None);
    let out = sent(&mut a);
    let methods: Vec<&Method> = out.iter().map(method).collect();
    assert!(
        methods.contains(&&Method::Ack) && methods.contains(&&Method::Bye),
        "{methods:?}"
    );
    assert_eq!(statuses(&mut a), [(CallStatus::Busy, Some(486))]);
}

#[test]
fn the_destination_that_never_answers_is_cancelled_at_the_ring_limit() {
    let mut a = agent();
    let now = Instant::now();
    a.click_to_call(now, "alice", "bob").unwrap();
    let inv_a = sent(&mut a).remove(0);
    answer(&mut a, now, &inv_a, 200, "ta", Some(OFFER));
    let inv_b = sent(&mut a).remove(0);
    answer(&mut a, now, &inv_b, 180, "tb", None);
    statuses(&mut a);
    let later = now + RING_LIMIT;
    assert!(a.poll_timeout().unwrap() <= later);
    a.handle_timeout(later);
    let out = sent(&mut a);
    assert!(out.iter().any(|m| method(m) == &Method::Cancel));
    assert!(out.iter().any(|m| method(m) == &Method::Bye));
    assert_eq!(statuses(&mut a), [(CallStatus::NoAnswer, Some(408))]);
    a.handle_timeout(later + Duration::from_secs(61));
    assert!(a.is_empty(), "ended calls linger, then go");
}

#[test]
fn bad_commands_are_refused() {
    let mut a = agent();
    let now = Instant::now();
    assert!(matches!(
        a.click_to_call(now, "alice", "b ob"),
        Err(CommandError::Invalid(_))
    ));
    assert!(matches!(
        a.call_from_endpoint(now, "alice", "bob", "garbage"),
        Err(CommandError::Invalid(_))
    ));
    assert_eq!(a.hold(now, 42), Err(CommandError::NoSuchCall));
    let id = a.click_to_call(now, "alice", "bob").unwrap();
    assert_eq!(a.hold(now, id), Err(CommandError::NotConnected));
}
