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

fn body(m: &Message) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

/// A click-to-call's hold or resume, one leg after the other: the destination's re-INVITE
/// (answered 200), our ACK and the user's re-INVITE. Returns (the destination's, the user's).
fn reinvites(a: &mut ApiCalls, now: Instant, inv_b: &Message) -> (Message, Message) {
    let out = sent(a);
    assert_eq!(out.len(), 1, "the destination first: {out:?}");
    let re_b = out[0].clone();
    assert_eq!(method(&re_b), &Method::Invite);
    assert_eq!(re_b.call_id(), inv_b.call_id());
    answer(a, now, &re_b, 200, "tb", Some(ANSWER));
    let out = sent(a);
    assert_eq!(
        out.len(),
        2,
        "ACK to the destination, re-INVITE to the user: {out:?}"
    );
    assert_eq!(method(&out[0]), &Method::Ack);
    assert_eq!(method(&out[1]), &Method::Invite);
    assert_ne!(out[1].call_id(), inv_b.call_id());
    assert!(statuses(a).is_empty(), "the event waits for the user's leg");
    (re_b, out[1].clone())
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
    let (re_b, re_a) = reinvites(&mut a, now, &inv_b);
    assert!(
        body(&re_b).contains("a=sendonly"),
        "the destination is held"
    );
    // the user's own device: the destination's SDP, inactive (its microphone stops too)
    assert!(body(&re_a).contains("m=audio 5000"), "{}", body(&re_a));
    assert!(body(&re_a).contains("a=inactive"), "{}", body(&re_a));
    assert!(
        body(&re_a).contains("o=b 1 2 "),
        "version bumped: {}",
        body(&re_a)
    );
    answer(&mut a, now, &re_a, 200, "ta", Some(OFFER));
    let acks = sent(&mut a);
    assert_eq!(acks.len(), 1);
    assert_eq!(method(&acks[0]), &Method::Ack);
    assert_eq!(acks[0].call_id(), inv_a.call_id());
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

#[test]
fn resume_restores_both_legs_of_a_click_to_call() {
    let mut a = agent();
    let now = Instant::now();
    let id = a.click_to_call(now, "alice", "bob").unwrap();
    let inv_a = sent(&mut a).remove(0);
    answer(&mut a, now, &inv_a, 200, "ta", Some(OFFER));
    let inv_b = sent(&mut a).remove(0);
    answer(&mut a, now, &inv_b, 200, "tb", Some(ANSWER));
    sent(&mut a);
    statuses(&mut a);
    a.hold(now, id).unwrap();
    let (_, re_a) = reinvites(&mut a, now, &inv_b);
    answer(&mut a, now, &re_a, 200, "ta", Some(OFFER));
    sent(&mut a);
    statuses(&mut a);
    a.resume(now, id).unwrap();
    let (re_b, re_a) = reinvites(&mut a, now, &inv_b);
    assert!(body(&re_b).contains("a=sendrecv"));
    assert!(body(&re_a).contains("a=sendrecv") && !body(&re_a).contains("inactive"));
    assert!(body(&re_a).contains("o=b 1 3 "), "{}", body(&re_a));
    answer(&mut a, now, &re_a, 200, "ta", Some(OFFER));
    assert_eq!(statuses(&mut a), [(CallStatus::Resumed, Some(200))]);
}

#[test]
fn an_endpoint_call_holds_only_the_destination() {
    let mut a = agent();
    let now = Instant::now();
    let id = a.call_from_endpoint(now, "alice", "bob", OFFER).unwrap();
    let inv_b = sent(&mut a).remove(0);
    answer(&mut a, now, &inv_b, 200, "tb", Some(ANSWER));
    sent(&mut a);
    a.hold(now, id).unwrap();
    let out = sent(&mut a);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].call_id(), inv_b.call_id());
    answer(&mut a, now, &out[0], 200, "tb", Some(ANSWER));
    let out = sent(&mut a);
    assert_eq!(
        out.len(),
        1,
        "an ACK, no other leg: the app holds its own media"
    );
    assert_eq!(method(&out[0]), &Method::Ack);
    assert_eq!(
        statuses(&mut a).last(),
        Some(&(CallStatus::Hold, Some(200)))
    );
}

#[test]
fn ring_limits_and_lingers_come_from_the_timer_heap() {
    let mut a = agent();
    let t0 = Instant::now();
    let ms = |n: u64| Duration::from_millis(n);
    // 300 calls placed 1 ms apart, all ringing (no transaction timers left)
    let mut ids = Vec::new();
    for i in 0..300 {
        let now = t0 + ms(i);
        ids.push(a.call_from_endpoint(now, "alice", "bob", OFFER).unwrap());
        let inv = sent(&mut a).remove(0);
        answer(&mut a, now, &inv, 180, &format!("t{i}"), None);
        if i == 0 {
            // the first is answered later on
            answer(&mut a, now + ms(300), &inv, 200, "t0", Some(ANSWER));
        }
    }
    sent(&mut a);
    statuses(&mut a);
    // the transactions' own timers (the answered INVITE's) until just before the limit
    a.handle_timeout(t0 + RING_LIMIT - ms(1));
    assert!(statuses(&mut a).is_empty());
    // the next deadline is a peek: the first call's (answered: its timer is stale)
    assert_eq!(a.poll_timeout(), Some(t0 + RING_LIMIT));
    a.handle_timeout(t0 + RING_LIMIT);
    assert!(
        statuses(&mut a).is_empty(),
        "the answered call keeps ringing no more"
    );
    assert_eq!(a.poll_timeout(), Some(t0 + RING_LIMIT + ms(1)));
    a.handle_timeout(t0 + RING_LIMIT + ms(1));
    let evs: Vec<ApiEvent> = std::iter::from_fn(|| a.poll_event()).collect();
    assert_eq!(evs.len(), 1);
    assert_eq!((evs[0].call, evs[0].status), (ids[1], CallStatus::NoAnswer));
    // the ended call lingers for a minute, then goes; the others stay
    let n = a.len();
    a.handle_timeout(t0 + RING_LIMIT + ms(1) + LINGER);
    assert!(a.info(ids[1]).is_none());
    assert_eq!(a.len(), n - 1);
    assert_eq!(a.info(ids[0]).unwrap().status, CallStatus::Connected);
}
