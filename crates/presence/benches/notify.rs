//! NOTIFYs built per second when one presentity with 1,000 watchers changes.
//!
//! - `single`: 1,000 `Event: presence` subscriptions to bob; bob re-publishes a changed
//!   document; each iteration builds the 1,000 NOTIFYs (whole requests, PIDF body) and
//!   answers them 200 (so the next change is not held behind a NOTIFY in flight).
//! - `list`: 1,000 resource-list subscriptions whose 50-buddy lists all contain bob; each
//!   change builds 1,000 partial multipart/RLMI NOTIFYs.
//!
//! Throughput is reported in NOTIFYs (elements) per second. The NOTIFYs go through an
//! outbox over a real transaction layer (a fresh one per change), as in the server, so the
//! figure includes starting each NOTIFY's client transaction.

use std::net::SocketAddr;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use presence::{Buddy, Origin, PresenceConfig, PresenceServer};
use sip_message::{ConnId, Message, Peer, Transport};
use sip_transaction::{ClientKey, Event, Outbox, ServerKey, TimerConfig, TransactionLayer};

const WATCHERS: usize = 1_000;

fn origin(i: usize) -> Origin {
    Origin {
        peer: Peer {
            transport: Transport::Tcp,
            remote: SocketAddr::from(([10, 1, (i / 250) as u8, (i % 250) as u8], 5060)),
            local: SocketAddr::from(([10, 0, 0, 1], 5060)),
            conn: Some(ConnId(i as u64)),
        },
        sent_by: "10.0.0.1:5060".into(),
        contact: "<sip:10.0.0.1:5060;transport=tcp>".into(),
    }
}

fn subscribe(i: usize, resource: Option<&str>) -> Message {
    let login = format!("w{i}");
    let (target, list) = match resource {
        Some(r) => (r.to_owned(), ""),
        None => (login.clone(), "Supported: eventlist\r\n"),
    };
    Message::parse(Bytes::from(format!(
        "SUBSCRIBE sip:{target}@ex.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.1.0.1:5060;branch=z9hG4bK{i}\r\n\
         From: <sip:{login}@ex.com>;tag=f{i}\r\nTo: <sip:{target}@ex.com>\r\nCall-ID: c{i}\r\n\
         CSeq: 1 SUBSCRIBE\r\nContact: <sip:{login}@10.1.0.1:5060;transport=tcp>\r\n\
         Event: presence\r\nExpires: 3600\r\n{list}Content-Length: 0\r\n\r\n"
    )))
    .unwrap()
}

fn publish(n: u64, etag: Option<&str>) -> Message {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         entity=\"sip:bob@ex.com\"><tuple id=\"t1\"><status><basic>open</basic></status>\
         <note>change {n}</note></tuple></presence>"
    );
    let if_match = etag
        .map(|e| format!("SIP-If-Match: {e}\r\n"))
        .unwrap_or_default();
    Message::parse(Bytes::from(format!(
        "PUBLISH sip:bob@ex.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.2.0.1:5060;branch=z9hG4bKp{n}\r\n\
         From: <sip:bob@ex.com>;tag=p\r\nTo: <sip:bob@ex.com>\r\nCall-ID: pub{n}\r\nCSeq: 1 PUBLISH\r\n\
         Event: presence\r\nExpires: 3600\r\n{if_match}Content-Type: application/pidf+xml\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )))
    .unwrap()
}

/// `ms` after the bench's start: the core's clock.
fn at(ms: u64) -> std::time::Instant {
    static T0: std::sync::LazyLock<std::time::Instant> =
        std::sync::LazyLock::new(std::time::Instant::now);
    *T0 + std::time::Duration::from_millis(ms)
}

/// The outbox: NOTIFYs start client transactions in `tx` (their keys are kept to answer
/// them), the response to a PUBLISH is kept.
struct Out {
    tx: TransactionLayer,
    now: std::time::Instant,
    sent: Vec<ClientKey>,
    response: Option<Bytes>,
}

impl Out {
    fn new(now: u64) -> Self {
        Self {
            tx: TransactionLayer::with_seed(TimerConfig::default(), 5),
            now: at(now),
            sent: Vec::new(),
            response: None,
        }
    }
}

impl Outbox for Out {
    fn respond(&mut self, _key: &ServerKey, response: Bytes) {
        self.response = Some(response);
    }
    fn send_request(&mut self, request: Message, to: Peer) -> Option<ClientKey> {
        let k = self.tx.send_request(self.now, request, to).ok()?;
        self.sent.push(k);
        Some(k)
    }
    fn send_stateless(&mut self, _payload: Bytes, _to: Peer) {}
}

/// A server transaction key to answer requests on (the outbox keeps responses itself).
fn server_key() -> ServerKey {
    let mut tx = TransactionLayer::with_seed(TimerConfig::default(), 6);
    let options = Message::parse(Bytes::from_static(
        b"OPTIONS sip:x@ex.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.9:5060;branch=z9hG4bKk\r\n\
          From: <sip:x@ex.com>;tag=1\r\nTo: <sip:x@ex.com>\r\nCall-ID: k\r\n\
          CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    ))
    .unwrap();
    tx.handle_message(at(0), options, origin(0).peer);
    let Some(Event::Request { key, .. }) = tx.poll_event() else {
        panic!("no request event");
    };
    key
}

/// Answers every NOTIFY `out` sent 200; returns how many there were.
fn answer(s: &mut PresenceServer, out: &mut Out) -> usize {
    let sent = std::mem::take(&mut out.sent);
    for k in &sent {
        s.response(out.now, *k, 200, out);
    }
    sent.len()
}

/// The SIP-ETag of the response to a PUBLISH.
fn etag_of(out: &Out) -> String {
    Message::parse(out.response.clone().unwrap())
        .unwrap()
        .headers()
        .iter()
        .find(|h| h.name.matches("SIP-ETag"))
        .unwrap()
        .value()
        .to_owned()
}

fn setup(list: bool, key: ServerKey) -> (PresenceServer, String) {
    let cfg = PresenceConfig {
        domain: "ex.com".into(),
        max_subscriptions_per_login: 10,
        ..PresenceConfig::default()
    };
    let mut s = PresenceServer::new(cfg, 1);
    let peer = origin(0).peer;
    let mut out = Out::new(0);
    s.handle_publish(at(0), key, "bob", &publish(0, None), peer, &mut out);
    let mut etag = etag_of(&out);
    answer(&mut s, &mut out);
    for i in 0..WATCHERS {
        let login = format!("w{i}");
        let req = subscribe(i, if list { None } else { Some("bob") });
        let sub = s.handle_subscribe(at(0), key, &login, &req, &origin(i), &mut out);
        if list {
            let sub = sub.unwrap();
            let mut buddies: Vec<Buddy> = (0..49)
                .map(|b| Buddy::new(format!("b{b}"), b % 2 == 0))
                .collect();
            buddies.push(Buddy::new("bob", true));
            while s.poll_action().is_some() {}
            s.buddies_fetched(at(0), sub, buddies, &mut out);
        }
        answer(&mut s, &mut out);
    }
    while s.poll_action().is_some() {}
    // one warm-up change
    let mut out = Out::new(1);
    s.handle_publish(at(1), key, "bob", &publish(1, Some(&etag)), peer, &mut out);
    etag = etag_of(&out);
    assert_eq!(answer(&mut s, &mut out), WATCHERS);
    while s.poll_action().is_some() {}
    (s, etag)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("notify_1000_watchers");
    g.throughput(Throughput::Elements(WATCHERS as u64));
    g.sample_size(20);
    for (name, list) in [("single", false), ("list", true)] {
        let key = server_key();
        let (mut s, mut etag) = setup(list, key);
        let peer = origin(0).peer;
        let mut n = 2u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Out::new(n);
                s.handle_publish(at(n), key, "bob", &publish(n, Some(&etag)), peer, &mut out);
                etag = etag_of(&out);
                while s.poll_action().is_some() {}
                let sent = answer(&mut s, &mut out);
                assert_eq!(sent, WATCHERS);
                n += 1;
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
