//! NOTIFYs built per second when one presentity with 1,000 watchers changes.
//!
//! - `single`: 1,000 `Event: presence` subscriptions to bob; bob re-publishes a changed
//!   document; each iteration builds the 1,000 NOTIFYs (whole requests, PIDF body) and
//!   answers them 200 (so the next change is not held behind a NOTIFY in flight).
//! - `list`: 1,000 resource-list subscriptions whose 50-buddy lists all contain bob; each
//!   change builds 1,000 partial multipart/RLMI NOTIFYs.
//!
//! Throughput is reported in NOTIFYs (elements) per second.

use std::net::SocketAddr;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use presence::{Action, Buddy, Origin, PresenceConfig, PresenceServer};
use sip_message::{ConnId, Message, Peer, Transport};

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

/// Drains actions, answering every NOTIFY 200; returns how many NOTIFYs there were.
fn drain(s: &mut PresenceServer, now: u64) -> usize {
    let now = at(now);
    let mut keys = Vec::new();
    while let Some(a) = s.poll_action() {
        if let Action::Notify(n) = a {
            keys.push(n.key);
        }
    }
    for k in &keys {
        s.handle_notify_response(now, *k, 200);
    }
    keys.len()
}

fn setup(list: bool) -> (PresenceServer, String) {
    let cfg = PresenceConfig {
        domain: "ex.com".into(),
        max_subscriptions_per_login: 10,
        ..PresenceConfig::default()
    };
    let mut s = PresenceServer::new(cfg, 1);
    let peer = origin(0).peer;
    let r = s.handle_publish(at(0), "bob", &publish(0, None), peer);
    let resp = Message::parse(r.response).unwrap();
    let mut etag = resp
        .headers()
        .iter()
        .find(|h| h.name.matches("SIP-ETag"))
        .unwrap()
        .value()
        .to_owned();
    drain(&mut s, 0);
    for i in 0..WATCHERS {
        let login = format!("w{i}");
        let req = subscribe(i, if list { None } else { Some("bob") });
        let r = s.handle_subscribe(at(0), &login, &req, &origin(i));
        assert_eq!(r.status, 200);
        if list {
            let key = r.subscription.unwrap();
            let mut buddies: Vec<Buddy> = (0..49)
                .map(|b| Buddy::new(format!("b{b}"), b % 2 == 0))
                .collect();
            buddies.push(Buddy::new("bob", true));
            while s.poll_action().is_some() {}
            s.buddies_fetched(at(0), key, buddies);
        }
        drain(&mut s, 0);
    }
    // one warm-up change
    let r = s.handle_publish(at(1), "bob", &publish(1, Some(&etag)), peer);
    etag = Message::parse(r.response)
        .unwrap()
        .headers()
        .iter()
        .find(|h| h.name.matches("SIP-ETag"))
        .unwrap()
        .value()
        .to_owned();
    assert_eq!(drain(&mut s, 1), WATCHERS);
    (s, etag)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("notify_1000_watchers");
    g.throughput(Throughput::Elements(WATCHERS as u64));
    g.sample_size(20);
    for (name, list) in [("single", false), ("list", true)] {
        let (mut s, mut etag) = setup(list);
        let peer = origin(0).peer;
        let mut n = 2u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = s.handle_publish(at(n), "bob", &publish(n, Some(&etag)), peer);
                let resp = Message::parse(r.response).unwrap();
                etag = resp
                    .headers()
                    .iter()
                    .find(|h| h.name.matches("SIP-ETag"))
                    .unwrap()
                    .value()
                    .to_owned();
                let sent = drain(&mut s, n);
                assert_eq!(sent, WATCHERS);
                n += 1;
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
