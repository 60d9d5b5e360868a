//! Non-INVITE client transactions (RFC 3261 §17.1.2).

use std::time::Instant;

use sip_message::{Message, Method, Peer};
use sip_transaction::{ClientKey, Event, TransactionLayer};

use crate::client_invite::outgoing;
use crate::support::*;

fn start(l: &mut TransactionLayer, t0: Instant, to: Peer) -> (ClientKey, Message) {
    let branch = l.new_branch();
    let req = outgoing(&Method::Options, &branch);
    let key = l.send_request(t0, req.clone(), to).unwrap();
    assert_eq!(transmits(l).len(), 1);
    (key, req)
}

#[test]
fn udp_schedule_capped_at_t2_then_timer_f() {
    let mut l = layer();
    let t0 = Instant::now();
    let (key, req) = start(&mut l, t0, udp());
    let run = run_until(&mut l, t0, secs(60));
    assert_eq!(
        sent_at(&run),
        [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert!(run
        .iter()
        .all(|(_, o)| !matches!(o, Output::Sent(t) if t.payload != req.to_bytes())));
    let evs = events_at(&run);
    assert!(
        matches!(evs[..], [(32000, Event::Timeout { key: k })] if *k == key),
        "{evs:?}"
    );
    assert_eq!(l.len(), 0);
}

#[test]
fn provisional_moves_timer_e_to_t2() {
    let mut l = layer();
    let t0 = Instant::now();
    let (key, req) = start(&mut l, t0, udp());
    let run = run_until(&mut l, t0, ms(600));
    assert_eq!(sent_at(&run), [500]);
    l.handle_message(t0 + ms(700), remote_response(&req, 100, "x"), udp());
    assert!(matches!(&events(&mut l)[..], [Event::Response { key: k, .. }] if *k == key));
    // The pending E (due at 1.5 s) fires as armed, then every T2.
    let run = run_until(&mut l, t0, secs(60));
    assert_eq!(
        sent_at(&run),
        [1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]
    );
    assert!(matches!(
        events_at(&run)[..],
        [(32000, Event::Timeout { .. })]
    ));
}

#[test]
fn final_response_stops_retransmissions_and_timer_k_absorbs() {
    let mut l = layer();
    let t0 = Instant::now();
    let (key, req) = start(&mut l, t0, udp());
    let _ = run_until(&mut l, t0, secs(2));
    let ok = remote_response(&req, 200, "x");
    l.handle_message(t0 + secs(2), ok.clone(), udp());
    assert!(
        matches!(&events(&mut l)[..], [Event::Response { key: k, response, .. }] if *k == key && response.status() == Some(200))
    );
    // Retransmitted final: absorbed.
    l.handle_message(t0 + secs(3), ok, udp());
    assert!(events(&mut l).is_empty());
    assert!(transmits(&mut l).is_empty());
    // Timer K = T4.
    assert_eq!(l.poll_timeout(), Some(t0 + secs(7)));
    let run = run_until(&mut l, t0, secs(60));
    assert!(run.is_empty(), "{run:?}");
    assert_eq!(l.len(), 0);
}

#[test]
fn tcp_has_no_retransmissions_and_no_timer_k() {
    let mut l = layer();
    let t0 = Instant::now();
    let (_, req) = start(&mut l, t0, tcp());
    assert_eq!(l.poll_timeout(), Some(t0 + secs(32)), "only Timer F");
    l.handle_message(t0 + secs(1), remote_response(&req, 200, "x"), tcp());
    assert_eq!(events(&mut l).len(), 1);
    assert_eq!(l.len(), 0);
    assert_eq!(l.poll_timeout(), None);
}
