//! 500k live transactions: time and memory. Run with
//! `cargo test --release -p sip-transaction --test integration -- --ignored --nocapture stress`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_message::{Message, MessageBuilder};
use sip_transaction::Event;

use crate::support::*;
use crate::ALLOC;

fn register(i: usize) -> Message {
    let raw = format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.{}.{}:5060;branch=z9hG4bK{i:x}s;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:u{i}@example.com>;tag=f{i}\r\nTo: <sip:u{i}@example.com>\r\n\
         Call-ID: c{i}@10.1.0.1\r\nCSeq: 1 REGISTER\r\nContact: <sip:u{i}@10.1.0.1:5060>\r\nExpires: 3600\r\n\
         Content-Length: 0\r\n\r\n",
        i / 256 % 256,
        i % 256
    );
    parse(raw)
}

fn ok(req: &Message) -> Bytes {
    MessageBuilder::response_to(req, 200, Some("t"), Some(udp().remote)).finish()
}

#[test]
#[ignore = "stress test: run on purpose, preferably with --release"]
fn stress_500k_register_transactions() {
    const N: usize = 500_000;
    let t0 = Instant::now();

    // Time: messages and responses built up front (the TU's work is not measured).
    let work: Vec<(Message, Bytes)> = (0..N)
        .map(register)
        .map(|m| (ok(&m), m))
        .map(|(r, m)| (m, r))
        .collect();
    let mut l = layer();
    let start = Instant::now();
    for (msg, resp) in work {
        l.handle_message(t0, msg, udp());
        let Some(Event::Request { key, .. }) = l.poll_event() else {
            panic!("no request")
        };
        l.respond(t0, &key, resp).unwrap();
        let _ = l.poll_transmit().unwrap();
    }
    let took = start.elapsed();
    assert_eq!(l.len(), N);
    let start = Instant::now();
    l.handle_timeout(t0 + Duration::from_secs(33));
    let expiry = start.elapsed();
    assert_eq!(l.len(), 0);
    drop(l);

    // Memory: everything the layer still holds after each REGISTER + 200 (its tables and the
    // 200 it keeps for retransmissions), built and dropped one at a time.
    let mut l = layer();
    let mut response_bytes = 0;
    let before = ALLOC.live();
    for i in 0..N {
        let msg = register(i);
        let resp = ok(&msg);
        response_bytes += resp.len();
        l.handle_message(t0, msg, udp());
        let Some(Event::Request { key, .. }) = l.poll_event() else {
            panic!("no request")
        };
        l.respond(t0, &key, resp).unwrap();
        let _ = l.poll_transmit().unwrap();
    }
    let grown = ALLOC.live() - before;
    println!(
        "{N} REGISTER transactions: handle_message + respond(200) + poll_transmit {took:?} ({:.0} ns each); \
         Timer J expiry of all {expiry:?} ({:.0} ns each)",
        took.as_nanos() as f64 / N as f64,
        expiry.as_nanos() as f64 / N as f64,
    );
    println!(
        "live heap of the layer: {} MiB, {} bytes per transaction, of which {} is the kept 200 \
         and {} the tables (slab slot, index entry, timer entries, spare capacity); {} timer entries",
        grown >> 20,
        grown / N,
        response_bytes / N,
        (grown - response_bytes) / N,
        l.timer_entries(),
    );
}
