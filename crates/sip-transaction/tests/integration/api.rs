//! Refusals, keys and branches.

use std::collections::HashSet;
use std::time::Instant;

use sip_message::Method;
use sip_transaction::{TimerConfig, TransactionLayer, TxError, MAGIC_COOKIE};

use crate::client_invite::outgoing;
use crate::support::*;

#[test]
fn send_request_refusals() {
    let mut l = layer();
    let t0 = Instant::now();
    assert_eq!(
        l.send_request(t0, outgoing(&Method::Ack, "z9hG4bKa"), udp()),
        Err(TxError::AckIsNotATransaction)
    );
    assert_eq!(
        l.send_request(t0, outgoing(&Method::Options, "nocookie"), udp()),
        Err(TxError::MissingBranch)
    );
    assert_eq!(
        l.send_request(t0, outgoing(&Method::Options, "z9hG4bK"), udp()),
        Err(TxError::MissingBranch)
    );
    let resp = remote_response(&outgoing(&Method::Options, "z9hG4bKb"), 200, "x");
    assert_eq!(l.send_request(t0, resp, udp()), Err(TxError::NotARequest));
    l.send_request(t0, outgoing(&Method::Options, "z9hG4bKdup"), udp())
        .unwrap();
    assert_eq!(
        l.send_request(t0, outgoing(&Method::Options, "z9hG4bKdup"), udp()),
        Err(TxError::DuplicateTransaction)
    );
    // Same branch, other method: another transaction (INVITE and its CANCEL).
    l.send_request(t0, outgoing(&Method::Invite, "z9hG4bKdup"), udp())
        .unwrap();
    l.send_request(t0, outgoing(&Method::Cancel, "z9hG4bKdup"), udp())
        .unwrap();
    assert_eq!(l.len(), 3);
}

#[test]
fn branches_and_tags_are_unique_and_carry_the_cookie() {
    let mut l = TransactionLayer::new(TimerConfig::default());
    let mut seen = HashSet::new();
    for _ in 0..10_000 {
        let b = l.new_branch();
        assert!(b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len());
        assert!(seen.insert(b));
        assert!(seen.insert(l.new_tag()));
    }
    // Seeded layers are deterministic; unseeded ones differ.
    let (mut a, mut b) = (layer(), layer());
    assert_eq!(a.new_branch(), b.new_branch());
    let mut c = TransactionLayer::new(TimerConfig::default());
    assert_ne!(
        c.new_branch(),
        TransactionLayer::new(TimerConfig::default()).new_branch()
    );
}

#[test]
fn same_branch_from_another_sent_by_is_another_transaction() {
    let mut l = layer();
    let t0 = Instant::now();
    let a = Req::new("OPTIONS", "z9hG4bKsame");
    let mut b = a.clone();
    b.sent_by = "10.0.0.99:5060";
    b.call_id = "other-call";
    l.handle_message(t0, a.msg(), udp());
    l.handle_message(t0, b.msg(), udp());
    assert_eq!(events(&mut l).len(), 2);
    assert_eq!(l.len(), 2);
}

#[test]
fn stateless_sends_pass_through() {
    let mut l = layer();
    l.send_stateless(bytes::Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n"), tcp());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, tcp());
    assert_eq!(l.len(), 0);
}

#[test]
fn responses_and_requests_without_keys_are_dropped() {
    let mut l = layer();
    let t0 = Instant::now();
    // A response with a Via without branch.
    let raw =
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\n\
               Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    l.handle_message(t0, parse(raw), udp());
    // A request without Via.
    let raw = "OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\n\
               Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    l.handle_message(t0, parse(raw), udp());
    assert!(events(&mut l).is_empty());
    assert!(transmits(&mut l).is_empty());
    assert_eq!(l.len(), 0);
}
