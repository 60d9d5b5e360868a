//! Non-INVITE server transactions (RFC 3261 §17.2.2).

use std::time::Instant;

use sip_transaction::{Event, TxError};

use crate::support::*;

#[test]
fn udp_retransmissions_get_the_stored_final_until_timer_j() {
    let mut l = layer();
    let t0 = Instant::now();
    let reg = Req::new("REGISTER", "z9hG4bKreg1");
    l.handle_message(t0, reg.msg(), udp());
    let (key, req, from) = take_request(&mut l);
    assert_eq!(from, udp());
    assert!(transmits(&mut l).is_empty(), "no 100 Trying for non-INVITE");

    // Trying: a retransmission is absorbed.
    l.handle_message(t0 + ms(50), reg.msg(), udp());
    assert!(transmits(&mut l).is_empty());
    assert!(events(&mut l).is_empty());

    let ok = tu_response(&req, 200, &from);
    l.respond(t0 + ms(100), &key, ok.clone()).unwrap();
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload, ok);
    assert_eq!(sent[0].to, udp());

    // Completed: every retransmission gets the same final response, no new request.
    for t in [ms(600), secs(5), secs(31)] {
        l.handle_message(t0 + t, reg.msg(), udp());
        let sent = transmits(&mut l);
        assert_eq!(sent.len(), 1, "at {t:?}");
        assert_eq!(sent[0].payload, ok);
        assert!(events(&mut l).is_empty());
    }
    assert_eq!(l.len(), 1);

    // Timer J = 64*T1 after the final response.
    assert_eq!(l.poll_timeout(), Some(t0 + ms(100) + secs(32)));
    let run = run_until(&mut l, t0, secs(40));
    assert!(run.is_empty(), "{run:?}");
    assert_eq!(l.len(), 0);
    assert_eq!(l.poll_timeout(), None);

    // After J the same request is new again.
    l.handle_message(t0 + secs(41), reg.msg(), udp());
    let (key2, _, _) = take_request(&mut l);
    assert_ne!(key2, key);
}

#[test]
fn provisional_is_resent_in_proceeding() {
    let mut l = layer();
    let t0 = Instant::now();
    let m = Req::new("MESSAGE", "z9hG4bKmsg1");
    l.handle_message(t0, m.msg(), udp());
    let (key, req, from) = take_request(&mut l);
    let trying = tu_response(&req, 100, &from);
    l.respond(t0, &key, trying.clone()).unwrap();
    assert_eq!(transmits(&mut l).len(), 1);
    l.handle_message(t0 + secs(1), m.msg(), udp());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload, trying);
    // The final response still goes through.
    l.respond(t0 + secs(2), &key, tu_response(&req, 202, &from))
        .unwrap();
    assert_eq!(
        first_line(&transmits(&mut l)[0].payload),
        "SIP/2.0 202 Accepted"
    );
}

#[test]
fn tcp_final_response_ends_the_transaction_at_once() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(t0, Req::new("REGISTER", "z9hG4bKtcp1").msg(), tcp());
    let (key, req, from) = take_request(&mut l);
    assert_eq!(from.conn, tcp().conn);
    l.respond(t0, &key, tu_response(&req, 200, &from)).unwrap();
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, tcp(), "back on the same connection");
    assert_eq!(l.len(), 0, "Timer J is zero on a reliable transport");
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn respond_errors() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(t0, Req::new("OPTIONS", "z9hG4bKopt1").msg(), udp());
    let (key, req, from) = take_request(&mut l);
    assert_eq!(
        l.respond(t0, &key, "garbage".into()),
        Err(TxError::NotAResponse)
    );
    l.respond(t0, &key, tu_response(&req, 200, &from)).unwrap();
    assert_eq!(
        l.respond(t0, &key, tu_response(&req, 500, &from)),
        Err(TxError::ResponseAfterFinal { status: 500 })
    );
    let _ = transmits(&mut l);
    run_until(&mut l, t0, secs(33));
    assert_eq!(
        l.respond(t0 + secs(33), &key, tu_response(&req, 200, &from)),
        Err(TxError::NoSuchTransaction)
    );
}

#[test]
fn unanswered_request_is_dropped_after_64_t1() {
    let mut l = layer();
    let t0 = Instant::now();
    let reg = Req::new("REGISTER", "z9hG4bKlost");
    l.handle_message(t0, reg.msg(), udp());
    let (key, req, from) = take_request(&mut l);
    let run = run_until(&mut l, t0, secs(32));
    assert!(run.is_empty());
    assert_eq!(l.len(), 0);
    assert_eq!(
        l.respond(t0 + secs(32), &key, tu_response(&req, 200, &from)),
        Err(TxError::NoSuchTransaction)
    );
}

#[test]
fn requests_in_dialog_and_out_of_dialog_each_get_a_transaction() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(
        t0,
        Req::new("BYE", "z9hG4bKbye").with_to_tag("tt").msg(),
        udp(),
    );
    l.handle_message(t0, Req::new("REGISTER", "z9hG4bKr").cseq(2).msg(), udp());
    let evs = events(&mut l);
    assert_eq!(evs.len(), 2);
    assert!(evs.iter().all(|e| matches!(e, Event::Request { .. })));
    assert_eq!(l.len(), 2);
}

#[test]
fn respond_and_forget_sends_once_and_keeps_no_state() {
    let mut l = layer();
    let t0 = Instant::now();
    let reg = Req::new("REGISTER", "z9hG4bKforget1");
    l.handle_message(t0, reg.msg(), udp());
    let (key, req, from) = take_request(&mut l);
    let challenge = tu_response(&req, 401, &from);
    l.respond_and_forget(&key, challenge.clone()).unwrap();
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload, challenge);
    assert_eq!(sent[0].to, udp());
    assert_eq!(l.len(), 0, "no transaction is kept");
    assert_eq!(l.poll_timeout(), None, "no Timer J");
    // A retransmission is a new request for the TU (which challenges again).
    l.handle_message(t0 + ms(500), reg.msg(), udp());
    let (key2, _, _) = take_request(&mut l);
    assert_ne!(key2, key);
    // Provisional answers are refused.
    assert_eq!(
        l.respond_and_forget(&key2, tu_response(&req, 100, &from)),
        Err(TxError::NotAResponse)
    );
    // An INVITE may be answered so with a non-2xx (a 407 to an unauthenticated INVITE): sent
    // once, never retransmitted, nothing kept; its ACK reaches the TU.
    let inv = Req::new("INVITE", "z9hG4bKforget2");
    l.handle_message(t0 + secs(1), inv.msg(), udp());
    let _ = transmits(&mut l);
    let (ikey, ireq, ifrom) = take_request(&mut l);
    let before = l.len();
    l.respond_and_forget(&ikey, tu_response(&ireq, 407, &ifrom))
        .unwrap();
    assert_eq!(transmits(&mut l).len(), 1);
    assert_eq!(l.len(), before - 1, "no INVITE transaction is kept");
    l.handle_timeout(t0 + secs(40));
    assert!(transmits(&mut l).is_empty(), "no retransmission of the 407");
    l.handle_message(t0 + secs(2), Req::new("ACK", "z9hG4bKforget2").msg(), udp());
    assert!(events(&mut l)
        .iter()
        .any(|e| matches!(e, Event::Ack { .. })));
    // a 2xx belongs to the dialog: refused
    let inv = Req::new("INVITE", "z9hG4bKforget3");
    l.handle_message(t0 + secs(41), inv.msg(), udp());
    let _ = transmits(&mut l);
    let (ikey, ireq, ifrom) = take_request(&mut l);
    assert_eq!(
        l.respond_and_forget(&ikey, tu_response(&ireq, 200, &ifrom)),
        Err(TxError::NoSuchTransaction)
    );
}
