//! INVITE server transactions (RFC 3261 §17.2.1, RFC 6026), CANCEL and merged requests.

use std::time::Instant;

use sip_message::HeaderName;
use sip_transaction::Event;

use crate::support::*;

fn invite(branch: &str) -> Req {
    Req::new("INVITE", branch)
}

#[test]
fn trying_at_once_with_received_rport_and_timestamp() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(
        t0,
        invite("z9hG4bKinv1").header("Timestamp", "54").msg(),
        udp(),
    );
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, udp(), "back to the source address and port");
    let trying = parse(sent[0].payload.clone());
    assert_eq!(trying.status(), Some(100));
    let via = trying.top_via().unwrap();
    assert_eq!(via.branch(), Some("z9hG4bKinv1"));
    assert_eq!(via.received(), Some("192.0.2.10"));
    assert_eq!(via.rport(), Some(Some("5062")));
    assert_eq!(trying.header(&HeaderName::Timestamp), Some("54"));
    assert_eq!(
        trying.to_header().unwrap().tag(),
        None,
        "no To tag on 100 Trying"
    );
    assert_eq!(trying.cseq().unwrap().seq, 1);
    let (_, req, _) = take_request(&mut l);
    assert_eq!(req.method(), Some(&sip_message::Method::Invite));
}

#[test]
fn retransmitted_invite_gets_the_last_provisional() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKinv2");
    l.handle_message(t0, inv.msg(), udp());
    let trying = transmits(&mut l).remove(0).payload;
    let (key, req, from) = take_request(&mut l);

    l.handle_message(t0 + ms(500), inv.msg(), udp());
    assert_eq!(transmits(&mut l)[0].payload, trying);
    assert!(
        events(&mut l).is_empty(),
        "a retransmission is not a new request"
    );

    let ringing = tu_response(&req, 180, &from);
    l.respond(t0 + secs(1), &key, ringing.clone()).unwrap();
    assert_eq!(transmits(&mut l)[0].payload, ringing);
    l.handle_message(t0 + ms(1500), inv.msg(), udp());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload, ringing);
    assert!(events(&mut l).is_empty());
    // No timer while Proceeding: the TU decides how long it rings.
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn busy_is_retransmitted_with_timer_g_until_the_ack() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKinv3");
    l.handle_message(t0, inv.msg(), udp());
    let _ = transmits(&mut l);
    let (key, req, from) = take_request(&mut l);
    let busy = tu_response(&req, 486, &from);
    l.respond(t0 + secs(1), &key, busy.clone()).unwrap();
    assert_eq!(transmits(&mut l)[0].payload, busy);

    let run = run_until(&mut l, t0, ms(5000));
    assert_eq!(sent_at(&run), [1500, 2500, 4500]);
    assert!(run
        .iter()
        .all(|(_, o)| matches!(o, Output::Sent(t) if t.payload == busy)));

    // A retransmitted INVITE gets the final response again.
    l.handle_message(t0 + ms(5000), inv.msg(), udp());
    assert_eq!(transmits(&mut l)[0].payload, busy);

    // The ACK (same branch, RFC 3261 non-2xx ACK) is absorbed.
    let ack = Req::new("ACK", "z9hG4bKinv3").with_to_tag("uas-tag");
    l.handle_message(t0 + ms(5100), ack.msg(), udp());
    assert!(
        events(&mut l).is_empty(),
        "no Event::Ack for the ACK of a non-2xx"
    );
    assert!(transmits(&mut l).is_empty());
    // ACK retransmissions and INVITE retransmissions are absorbed in Confirmed.
    l.handle_message(t0 + ms(5200), ack.msg(), udp());
    l.handle_message(t0 + ms(5300), inv.msg(), udp());
    assert!(events(&mut l).is_empty());
    assert!(transmits(&mut l).is_empty());

    // Timer I = T4, no more G.
    let run = run_until(&mut l, t0, secs(60));
    assert!(run.is_empty(), "{run:?}");
    assert_eq!(l.len(), 0);
}

#[test]
fn timer_g_schedule_and_timer_h_ack_timeout() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(t0, invite("z9hG4bKinv4").msg(), udp());
    let _ = transmits(&mut l);
    let (key, req, from) = take_request(&mut l);
    l.respond(t0, &key, tu_response(&req, 603, &from)).unwrap();
    let _ = transmits(&mut l);
    let run = run_until(&mut l, t0, secs(40));
    // G: T1, 2T1, 4T1, then capped at T2; H = 64*T1.
    assert_eq!(
        sent_at(&run),
        [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    let evs = events_at(&run);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].0, 32000);
    assert!(matches!(evs[0].1, Event::AckTimeout { key: k } if *k == key));
    assert_eq!(l.len(), 0);
}

#[test]
fn tcp_has_no_timer_g_and_the_ack_ends_the_transaction() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(t0, invite("z9hG4bKinv5").msg(), tcp());
    let _ = transmits(&mut l);
    let (key, req, from) = take_request(&mut l);
    l.respond(t0, &key, tu_response(&req, 486, &from)).unwrap();
    assert_eq!(transmits(&mut l).len(), 1);
    assert_eq!(l.poll_timeout(), Some(t0 + secs(32)), "only Timer H");
    l.handle_message(
        t0 + secs(1),
        Req::new("ACK", "z9hG4bKinv5").with_to_tag("uas-tag").msg(),
        tcp(),
    );
    assert!(events(&mut l).is_empty());
    assert_eq!(l.len(), 0, "Timer I is zero on a reliable transport");
}

#[test]
fn two_hundred_passes_and_the_ack_comes_up() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("z9hG4bKinv6");
    l.handle_message(t0, inv.msg(), udp());
    let _ = transmits(&mut l);
    let (key, req, from) = take_request(&mut l);
    let ok = tu_response(&req, 200, &from);
    l.respond(t0 + secs(2), &key, ok.clone()).unwrap();
    assert_eq!(transmits(&mut l)[0].payload, ok);

    // The layer does not retransmit a 2xx.
    let run = run_until(&mut l, t0, secs(10));
    assert!(sent_at(&run).is_empty());
    // A retransmitted INVITE is absorbed, not a new request (RFC 6026 Accepted).
    l.handle_message(t0 + secs(10), inv.msg(), udp());
    assert!(events(&mut l).is_empty());
    assert!(transmits(&mut l).is_empty());
    // The TU retransmits the 2xx through the transaction.
    l.respond(t0 + secs(10), &key, ok.clone()).unwrap();
    assert_eq!(transmits(&mut l)[0].payload, ok);

    // The ACK for the 2xx has its own branch and goes to the TU.
    let ack = Req::new("ACK", "z9hG4bKack6").with_to_tag("uas-tag");
    l.handle_message(t0 + secs(11), ack.msg(), udp());
    let evs = events(&mut l);
    assert_eq!(evs.len(), 1);
    assert!(
        matches!(&evs[0], Event::Ack { request, from: f } if request.method() == Some(&sip_message::Method::Ack) && *f == udp())
    );

    // Timer L = 64*T1 after the 2xx; after it an ACK still comes up.
    let _ = run_until(&mut l, t0, secs(40));
    assert_eq!(l.len(), 0);
    l.handle_message(t0 + secs(41), ack.msg(), udp());
    assert_eq!(events(&mut l).len(), 1);
}

#[test]
fn cancel_gets_200_and_the_tu_learns_of_it() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(t0, invite("z9hG4bKinv7").msg(), udp());
    let _ = transmits(&mut l);
    let (key, req, from) = take_request(&mut l);
    l.respond(t0, &key, tu_response(&req, 180, &from)).unwrap();
    let _ = transmits(&mut l);

    let cancel = Req::new("CANCEL", "z9hG4bKinv7");
    l.handle_message(t0 + secs(3), cancel.msg(), udp());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    let ok = parse(sent[0].payload.clone());
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.cseq().unwrap().method, sip_message::Method::Cancel);
    assert_eq!(
        ok.to_header().unwrap().tag(),
        Some("uas-tag"),
        "To tag of the INVITE's responses"
    );
    assert_eq!(ok.top_via().unwrap().received(), Some("192.0.2.10"));
    let evs = events(&mut l);
    assert_eq!(evs.len(), 1);
    match &evs[0] {
        Event::Cancelled { invite, cancel } => {
            assert_eq!(*invite, key);
            assert_eq!(cancel.method(), Some(&sip_message::Method::Cancel));
        }
        other => panic!("{other:?}"),
    }
    // The TU ends the INVITE with 487.
    l.respond(t0 + secs(3), &key, tu_response(&req, 487, &from))
        .unwrap();
    assert_eq!(
        first_line(&transmits(&mut l)[0].payload),
        "SIP/2.0 487 Request Terminated"
    );

    // A retransmitted CANCEL gets the same 200, and no second event.
    l.handle_message(t0 + secs(4), cancel.msg(), udp());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(parse(sent[0].payload.clone()).status(), Some(200));
    assert!(events(&mut l).is_empty());
    assert_eq!(l.len(), 2, "the INVITE and the CANCEL transactions");
}

#[test]
fn cancel_after_the_final_response_gets_200_without_event() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(t0, invite("z9hG4bKinv8").msg(), udp());
    let _ = transmits(&mut l);
    let (key, req, from) = take_request(&mut l);
    l.respond(t0, &key, tu_response(&req, 200, &from)).unwrap();
    let _ = transmits(&mut l);
    l.handle_message(t0 + secs(1), Req::new("CANCEL", "z9hG4bKinv8").msg(), udp());
    let sent = transmits(&mut l);
    assert_eq!(parse(sent[0].payload.clone()).status(), Some(200));
    assert!(events(&mut l).is_empty());
}

#[test]
fn cancel_before_any_tagged_response_gets_a_tag() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(t0, invite("z9hG4bKinv9").msg(), udp());
    let _ = transmits(&mut l);
    let _ = take_request(&mut l);
    l.handle_message(t0, Req::new("CANCEL", "z9hG4bKinv9").msg(), udp());
    let ok = parse(transmits(&mut l)[0].payload.clone());
    assert_eq!(ok.status(), Some(200));
    assert!(ok.to_header().unwrap().tag().is_some());
    assert!(matches!(events(&mut l)[..], [Event::Cancelled { .. }]));
}

#[test]
fn unknown_cancel_gets_481() {
    let mut l = layer();
    let t0 = Instant::now();
    let cancel = Req::new("CANCEL", "z9hG4bKnothing");
    l.handle_message(t0, cancel.msg(), udp());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        first_line(&sent[0].payload),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
    assert_eq!(sent[0].to, udp());
    assert!(events(&mut l).is_empty());
    // Its retransmission gets the same 481 from the CANCEL's own transaction.
    l.handle_message(t0 + ms(500), cancel.msg(), udp());
    assert_eq!(transmits(&mut l)[0].payload, sent[0].payload);
    // A CANCEL whose branch matches an INVITE from another sent-by does not match it.
    l.handle_message(t0, invite("z9hG4bKx").msg(), udp());
    let _ = transmits(&mut l);
    let _ = events(&mut l);
    let mut other = Req::new("CANCEL", "z9hG4bKx");
    other.sent_by = "10.0.0.6:5060";
    l.handle_message(t0, other.msg(), udp());
    assert_eq!(
        first_line(&transmits(&mut l)[0].payload),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
}

#[test]
fn merged_request_gets_482() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(t0, invite("z9hG4bKpath1").msg(), udp());
    let _ = transmits(&mut l);
    let (key, req, from) = take_request(&mut l);

    // The same request (From tag, Call-ID, CSeq) arriving by another path: another branch.
    let merged = invite("z9hG4bKpath2");
    l.handle_message(t0 + ms(10), merged.msg(), udp());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    let loop_detected = parse(sent[0].payload.clone());
    assert_eq!(loop_detected.status(), Some(482));
    assert_eq!(
        loop_detected.top_via().unwrap().branch(),
        Some("z9hG4bKpath2")
    );
    assert!(
        events(&mut l).is_empty(),
        "the TU does not see the merged request"
    );
    // The 482 is an INVITE server transaction: its ACK is absorbed.
    l.handle_message(t0 + ms(20), Req::new("ACK", "z9hG4bKpath2").msg(), udp());
    assert!(events(&mut l).is_empty());

    // Once the first request has its final response it is no longer being handled.
    l.respond(t0 + secs(1), &key, tu_response(&req, 486, &from))
        .unwrap();
    let _ = transmits(&mut l);
    l.handle_message(t0 + secs(2), invite("z9hG4bKpath3").msg(), udp());
    assert!(matches!(events(&mut l)[..], [Event::Request { .. }]));

    // In-dialog requests (To tag) are not checked.
    l.handle_message(
        t0,
        Req::new("INFO", "z9hG4bKi1").with_to_tag("x").msg(),
        udp(),
    );
    l.handle_message(
        t0,
        Req::new("INFO", "z9hG4bKi2").with_to_tag("x").msg(),
        udp(),
    );
    assert_eq!(events(&mut l).len(), 2);
}

#[test]
fn merged_non_invite_gets_482() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(t0, Req::new("MESSAGE", "z9hG4bKm1").msg(), udp());
    let _ = take_request(&mut l);
    l.handle_message(t0, Req::new("MESSAGE", "z9hG4bKm2").msg(), udp());
    assert_eq!(
        first_line(&transmits(&mut l)[0].payload),
        "SIP/2.0 482 Loop Detected"
    );
    assert!(events(&mut l).is_empty());
    // A different CSeq is a different request.
    l.handle_message(t0, Req::new("MESSAGE", "z9hG4bKm3").cseq(2).msg(), udp());
    assert_eq!(events(&mut l).len(), 1);
}

#[test]
fn rfc2543_requests_match_without_the_cookie() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite("old1");
    l.handle_message(t0, inv.msg(), udp());
    let trying = transmits(&mut l).remove(0).payload;
    let (key, req, from) = take_request(&mut l);
    l.handle_message(t0 + ms(500), inv.msg(), udp());
    assert_eq!(transmits(&mut l)[0].payload, trying);
    assert!(events(&mut l).is_empty());
    l.respond(t0 + secs(1), &key, tu_response(&req, 486, &from))
        .unwrap();
    let _ = transmits(&mut l);
    // The ACK (To tag of the response) matches the INVITE transaction.
    l.handle_message(
        t0 + secs(2),
        Req::new("ACK", "old1").with_to_tag("uas-tag").msg(),
        udp(),
    );
    assert!(events(&mut l).is_empty());
    let run = run_until(&mut l, t0, secs(3));
    assert!(sent_at(&run).is_empty(), "Timer G stopped by the ACK");
}

#[test]
fn unacknowledged_482_ends_without_telling_the_tu() {
    let mut l = layer();
    let t0 = Instant::now();
    l.handle_message(t0, invite("z9hG4bKfirst").msg(), udp());
    let _ = take_request(&mut l);
    l.handle_message(t0, invite("z9hG4bKsecond").msg(), udp());
    let _ = transmits(&mut l);
    let run = run_until(&mut l, t0, secs(40));
    // The 482 is retransmitted with Timer G, then Timer H ends it: the TU never saw its key.
    assert_eq!(
        sent_at(&run),
        [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert!(events_at(&run).is_empty(), "{run:?}");
    assert_eq!(l.len(), 1, "only the first INVITE, still Proceeding");
}

#[test]
fn holds_invite_names_the_transaction_a_retransmission_or_a_cancel_belongs_to() {
    let mut l = layer();
    let t0 = Instant::now();
    let (inv, cancel) = (invite("z9hG4bKheld1"), Req::new("CANCEL", "z9hG4bKheld1"));
    assert!(!l.holds_invite(&inv.msg()), "nothing yet");
    assert!(!l.holds_invite(&cancel.msg()));
    l.handle_message(t0, inv.msg(), udp());
    let _ = transmits(&mut l);
    let (key, req, from) = take_request(&mut l);
    assert!(l.holds_invite(&inv.msg()), "its retransmission");
    assert!(l.holds_invite(&cancel.msg()), "its CANCEL");
    assert!(
        !l.holds_invite(&invite("z9hG4bKother").msg()),
        "another branch"
    );
    assert!(
        !l.holds_invite(&Req::new("OPTIONS", "z9hG4bKopt1").msg()),
        "no INVITE of that branch"
    );
    // a non-INVITE server transaction of the same branch is not an INVITE's
    l.handle_message(t0, Req::new("OPTIONS", "z9hG4bKopt1").msg(), udp());
    assert!(!l.holds_invite(&Req::new("OPTIONS", "z9hG4bKopt1").msg()));
    // through its final response (Completed) and until it ends
    l.respond(t0, &key, tu_response(&req, 486, &from)).unwrap();
    assert!(l.holds_invite(&cancel.msg()), "Completed");
    l.handle_timeout(t0 + secs(40));
    assert!(!l.holds_invite(&inv.msg()), "ended with timer H");
}
