//! INVITE client transactions (RFC 3261 §17.1.1, RFC 6026).

use std::time::Instant;

use bytes::Bytes;
use sip_message::{HeaderName, Message, MessageBuilder, Method};
use sip_transaction::{ClientKey, Event, TransactionLayer};

use crate::support::*;

/// An INVITE as the b2bua would send it, with a fresh branch and a route set.
pub(crate) fn outgoing(method: &Method, branch: &str) -> Message {
    let mut b = MessageBuilder::request(method, "sip:bob@192.0.2.10:5062");
    b.header(
        "Via",
        format_args!("SIP/2.0/UDP 198.51.100.1:5060;branch={branch};rport"),
    )
    .header("Route", "<sip:p1.example.com;lr>")
    .header("Route", "<sip:p2.example.com;lr>")
    .header("Max-Forwards", 70)
    .header("From", "\"Alice\" <sip:alice@example.com>;tag=a1")
    .header("To", "<sip:bob@example.com>")
    .header("Call-ID", "out-1@198.51.100.1")
    .header("CSeq", format_args!("7 {method}"))
    .header("Contact", "<sip:alice@198.51.100.1>");
    parse(b.finish_with_body("application/sdp", b"v=0\r\n"))
}

fn start_invite(
    l: &mut TransactionLayer,
    t0: Instant,
    to: sip_message::Peer,
) -> (ClientKey, Message) {
    let branch = l.new_branch();
    let inv = outgoing(&Method::Invite, &branch);
    let key = l.send_request(t0, inv.clone(), to).unwrap();
    let sent = transmits(l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, to);
    assert_eq!(
        parse(sent[0].payload.clone()).method(),
        Some(&Method::Invite)
    );
    (key, inv)
}

#[test]
fn udp_retransmission_schedule_then_timer_b() {
    let mut l = layer();
    let t0 = Instant::now();
    let (key, _) = start_invite(&mut l, t0, udp());
    let run = run_until(&mut l, t0, secs(60));
    // A doubles with no cap: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s (the first send was at 0).
    assert_eq!(sent_at(&run), [500, 1500, 3500, 7500, 15500, 31500]);
    let evs = events_at(&run);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].0, 32000);
    assert!(matches!(evs[0].1, Event::Timeout { key: k } if *k == key));
    assert_eq!(l.len(), 0);
}

#[test]
fn tcp_has_no_retransmissions() {
    let mut l = layer();
    let t0 = Instant::now();
    let (key, _) = start_invite(&mut l, t0, tcp());
    let run = run_until(&mut l, t0, secs(60));
    assert!(sent_at(&run).is_empty());
    assert!(matches!(events_at(&run)[..], [(32000, Event::Timeout { key: k })] if *k == key));
}

#[test]
fn provisional_stops_timer_a_and_timer_b() {
    let mut l = layer();
    let t0 = Instant::now();
    let (key, inv) = start_invite(&mut l, t0, udp());
    let _ = run_until(&mut l, t0, ms(600));
    l.handle_message(t0 + ms(700), remote_response(&inv, 180, "b1"), udp());
    assert!(
        matches!(&events(&mut l)[..], [Event::Response { key: k, response, .. }] if *k == key && response.status() == Some(180))
    );
    let run = run_until(&mut l, t0, secs(120));
    assert!(run.is_empty(), "{run:?}");
    assert_eq!(l.len(), 1, "Proceeding waits for the final response");
}

#[test]
fn busy_is_acked_by_the_transaction() {
    let mut l = layer();
    let t0 = Instant::now();
    let (key, inv) = start_invite(&mut l, t0, udp());
    l.handle_message(t0 + ms(100), remote_response(&inv, 180, "b1"), udp());
    let busy = remote_response(&inv, 486, "b1");
    l.handle_message(t0 + ms(200), busy.clone(), udp());

    let evs = events(&mut l);
    assert_eq!(evs.len(), 2);
    assert!(
        matches!(&evs[1], Event::Response { key: k, response, .. } if *k == key && response.status() == Some(486))
    );
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, udp());
    let ack = parse(sent[0].payload.clone());

    // RFC 3261 §17.1.1.3.
    assert_eq!(
        first_line(&sent[0].payload),
        "ACK sip:bob@192.0.2.10:5062 SIP/2.0"
    );
    let vias: Vec<_> = ack.header_list(&HeaderName::Via).collect();
    assert_eq!(vias, [inv.header_list(&HeaderName::Via).next().unwrap()]);
    let routes: Vec<_> = ack.header_values(&HeaderName::Route).collect();
    assert_eq!(
        routes,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(ack.header(&HeaderName::From), inv.header(&HeaderName::From));
    assert_eq!(ack.header(&HeaderName::To), busy.header(&HeaderName::To));
    assert_eq!(ack.to_header().unwrap().tag(), Some("b1"));
    assert_eq!(ack.call_id(), inv.call_id());
    assert_eq!(
        ack.cseq().unwrap(),
        sip_message::CSeq {
            seq: 7,
            method: Method::Ack
        }
    );
    assert_eq!(ack.max_forwards().unwrap(), Some(70));
    assert!(ack.body().is_empty());
    assert!(ack.sanity_check().is_ok());

    // A retransmitted 486 is ACKed again and not passed up.
    l.handle_message(t0 + secs(1), busy.clone(), udp());
    let again = transmits(&mut l);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].payload, sent[0].payload);
    assert!(events(&mut l).is_empty());

    // Timer D = 32 s, no retransmissions of the INVITE meanwhile.
    let run = run_until(&mut l, t0, secs(40));
    assert!(run.is_empty(), "{run:?}");
    assert_eq!(l.len(), 0);
}

#[test]
fn tcp_final_response_ends_at_once() {
    let mut l = layer();
    let t0 = Instant::now();
    let (_, inv) = start_invite(&mut l, t0, tcp());
    l.handle_message(t0 + ms(200), remote_response(&inv, 404, "b1"), tcp());
    assert_eq!(transmits(&mut l).len(), 1, "the ACK");
    assert_eq!(events(&mut l).len(), 1);
    assert_eq!(l.len(), 0, "Timer D is zero on a reliable transport");
}

#[test]
fn every_2xx_comes_up_and_is_not_acked_by_the_layer() {
    let mut l = layer();
    let t0 = Instant::now();
    let (key, inv) = start_invite(&mut l, t0, udp());
    let ok = remote_response(&inv, 200, "b1");
    l.handle_message(t0 + ms(300), ok.clone(), udp());
    assert!(transmits(&mut l).is_empty(), "the TU ACKs a 2xx");
    assert_eq!(events(&mut l).len(), 1);
    // Retransmission and a 2xx from another fork: both up, same key.
    l.handle_message(t0 + ms(800), ok.clone(), udp());
    l.handle_message(t0 + ms(900), remote_response(&inv, 200, "b2"), udp());
    let evs = events(&mut l);
    assert_eq!(evs.len(), 2);
    assert!(evs
        .iter()
        .all(|e| matches!(e, Event::Response { key: k, .. } if *k == key)));
    // No retransmission of the INVITE after the 2xx; Timer M ends the transaction.
    let run = run_until(&mut l, t0, secs(40));
    assert!(run.is_empty(), "{run:?}");
    assert_eq!(l.len(), 0);
    l.handle_message(t0 + secs(41), ok, udp());
    assert!(
        events(&mut l).is_empty(),
        "after Timer M a 2xx matches nothing"
    );
    // The TU sends its ACK statelessly.
    l.send_stateless(Bytes::from_static(b"ACK"), udp());
    assert_eq!(transmits(&mut l).len(), 1);
}

#[test]
fn cancelled_invite_without_final_response_times_out() {
    let mut l = layer();
    let t0 = Instant::now();
    let (key, inv) = start_invite(&mut l, t0, udp());
    l.handle_message(t0 + ms(100), remote_response(&inv, 180, "b1"), udp());
    let _ = events(&mut l);
    let branch = inv.top_via().unwrap().branch().unwrap().to_owned();
    let cancel = outgoing(&Method::Cancel, &branch);
    let ckey = l
        .send_request(t0 + secs(10), cancel.clone(), udp())
        .unwrap();
    assert_ne!(ckey, key);
    assert_eq!(
        first_line(&transmits(&mut l)[0].payload),
        "CANCEL sip:bob@192.0.2.10:5062 SIP/2.0"
    );
    l.handle_message(t0 + ms(10_100), remote_response(&cancel, 200, "b1"), udp());
    assert!(matches!(&events(&mut l)[..], [Event::Response { key: k, .. }] if *k == ckey));
    // No 487 ever comes: the INVITE ends 64*T1 after the CANCEL.
    let run = run_until(&mut l, t0, secs(60));
    let evs = events_at(&run);
    assert!(
        matches!(evs[..], [(42000, Event::Timeout { key: k })] if *k == key),
        "{evs:?}"
    );
}

#[test]
fn responses_match_by_branch_and_method() {
    let mut l = layer();
    let t0 = Instant::now();
    let (_, inv) = start_invite(&mut l, t0, udp());
    // Unknown branch: dropped.
    let other = outgoing(&Method::Invite, "z9hG4bKsomeoneelse");
    l.handle_message(t0, remote_response(&other, 180, "x"), udp());
    assert!(events(&mut l).is_empty());
    // Same branch, other CSeq method: dropped.
    let branch = inv.top_via().unwrap().branch().unwrap().to_owned();
    let bye = outgoing(&Method::Bye, &branch);
    l.handle_message(t0, remote_response(&bye, 200, "x"), udp());
    assert!(events(&mut l).is_empty());
    assert!(transmits(&mut l).is_empty());
    // The right one passes.
    l.handle_message(t0, remote_response(&inv, 100, "x"), udp());
    assert_eq!(events(&mut l).len(), 1);
}

#[test]
fn a_failed_send_ends_the_invite_at_once_as_a_transport_error() {
    let mut l = layer();
    let t0 = Instant::now();
    let branch = l.new_branch();
    let key = l
        .send_request(t0, outgoing(&Method::Invite, &branch), tcp())
        .unwrap();
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(l.handle_send_error(&sent[0]), Some(key));
    let evs = events(&mut l);
    assert!(matches!(evs[..], [Event::TransportError { key: k }] if k == key));
    // nothing is left: no Timer B, no retransmission, a second report changes nothing
    assert_eq!(l.len(), 0);
    assert_eq!(l.poll_timeout(), None);
    assert_eq!(l.handle_send_error(&sent[0]), None);
}

#[test]
fn a_failed_send_after_the_final_answer_changes_nothing() {
    let mut l = layer();
    let t0 = Instant::now();
    let (_, inv) = start_invite(&mut l, t0, udp());
    l.handle_message(t0 + ms(100), remote_response(&inv, 486, "b1"), udp());
    let _ = events(&mut l);
    // the ACK the layer sent for the 486 fails: the transaction is already completed
    let ack = transmits(&mut l);
    assert_eq!(ack.len(), 1);
    assert_eq!(l.handle_send_error(&ack[0]), None);
    assert!(events(&mut l).is_empty());
}
