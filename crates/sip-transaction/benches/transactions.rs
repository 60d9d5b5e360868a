//! Transaction layer throughput with 100k transactions live (Timer J keeps REGISTER
//! transactions for 32 s: at 3,000 REGISTER/s that is ~100k).
//!
//! Every iteration advances the virtual clock by 32 s / 100k and fires due timers, so the
//! live count stays at ~100k and the cost of expiring one transaction is included.
//!
//! `cargo bench -p sip-transaction --bench transactions`

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use sip_message::{Message, MessageBuilder, Peer, Transport};
use sip_transaction::{Event, TimerConfig, TransactionLayer};

const LIVE: usize = 100_000;

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        remote: SocketAddr::from(([192, 0, 2, 10], 5062)),
        local: SocketAddr::from(([198, 51, 100, 1], 5060)),
        conn: None,
    }
}

fn register(i: usize) -> Message {
    let raw = format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.1.{}.{}:5060;branch=z9hG4bK{i:x}.bench;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:u{i}@example.com>;tag=f{i:x}\r\n\
         To: <sip:u{i}@example.com>\r\n\
         Call-ID: c{i:x}@10.1.0.1\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:u{i}@10.1.0.1:5060;transport=udp>;expires=3600\r\n\
         Authorization: Digest username=\"u{i}\", realm=\"example.com\", nonce=\"abc\", uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\"\r\n\
         User-Agent: bench/1.0\r\n\
         Content-Length: 0\r\n\r\n",
        i / 256 % 256,
        i % 256
    );
    Message::parse(Bytes::from(raw)).expect("valid REGISTER")
}

fn ok(req: &Message) -> Bytes {
    let mut b = MessageBuilder::response_to(req, 200, Some("srv1"), Some(peer().remote));
    b.header(
        "Contact",
        "<sip:u@10.1.0.1:5060;transport=udp>;expires=3600",
    );
    b.finish()
}

/// A layer holding `LIVE` REGISTER transactions whose Timer J deadlines are spread over the
/// next 32 s, and the clock at which the next one would arrive in the steady state.
struct World {
    layer: TransactionLayer,
    now: Instant,
    step: Duration,
    next: usize,
}

impl World {
    fn new() -> Self {
        let cfg = TimerConfig::default();
        let step = cfg.t1 * 64 / LIVE as u32;
        let mut w = Self {
            layer: TransactionLayer::with_seed(cfg, 1),
            now: Instant::now(),
            step,
            next: 0,
        };
        for _ in 0..LIVE {
            let msg = register(w.next);
            let resp = ok(&msg);
            w.register(msg, resp);
        }
        assert!(
            (LIVE - 2..=LIVE).contains(&w.layer.len()),
            "{}",
            w.layer.len()
        );
        w
    }

    /// One REGISTER arrives, the TU answers 200, the 200 is sent; time moves on by one step
    /// and due timers fire.
    fn register(&mut self, msg: Message, resp: Bytes) {
        self.next += 1;
        self.now += self.step;
        if self.layer.poll_timeout().is_some_and(|t| t <= self.now) {
            self.layer.handle_timeout(self.now);
        }
        self.layer.handle_message(self.now, msg, peer());
        let Some(Event::Request { key, .. }) = self.layer.poll_event() else {
            panic!("no request")
        };
        self.layer.respond(self.now, &key, resp).expect("respond");
        let _ = black_box(self.layer.poll_transmit().expect("the 200"));
    }
}

fn bench(c: &mut Criterion) {
    let mut w = World::new();
    let mut g = c.benchmark_group("transaction_layer_100k_live");

    let mut i = 1_000_000;
    g.bench_function("register_200_layer_only", |b| {
        b.iter_batched(
            || {
                i += 1;
                let msg = register(i);
                let resp = ok(&msg);
                (msg, resp)
            },
            |(msg, resp)| w.register(msg, resp),
            BatchSize::SmallInput,
        );
    });
    assert!(
        w.layer.len() <= LIVE + 2,
        "steady state kept: {}",
        w.layer.len()
    );

    let mut i = 50_000_000;
    g.bench_function("register_200_with_tu_building_the_200", |b| {
        b.iter_batched(
            || {
                i += 1;
                register(i)
            },
            |msg| {
                w.next += 1;
                w.now += w.step;
                if w.layer.poll_timeout().is_some_and(|t| t <= w.now) {
                    w.layer.handle_timeout(w.now);
                }
                w.layer.handle_message(w.now, msg, peer());
                let Some(Event::Request { key, request, from }) = w.layer.poll_event() else {
                    panic!()
                };
                let mut b =
                    MessageBuilder::response_to(&request, 200, Some("srv1"), Some(from.remote));
                b.header(
                    "Contact",
                    "<sip:u@10.1.0.1:5060;transport=udp>;expires=3600",
                );
                w.layer.respond(w.now, &key, b.finish()).expect("respond");
                let _ = black_box(w.layer.poll_transmit().expect("the 200"));
            },
            BatchSize::SmallInput,
        );
    });

    // A retransmitted REGISTER hitting a Completed transaction: lookup + resend of the 200.
    let retransmit = register(99_999_999);
    w.register(retransmit.clone(), ok(&retransmit));
    g.bench_function("retransmission_absorbed", |b| {
        b.iter_batched(
            || retransmit.clone(),
            |msg| {
                w.layer.handle_message(w.now, msg, peer());
                let _ = black_box(w.layer.poll_transmit().expect("the stored 200"));
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
    println!(
        "live transactions at the end: {}, timer entries: {}",
        w.layer.len(),
        w.layer.timer_entries()
    );
    batches(&mut w);
}

/// The same REGISTER + 200 cycle timed in batches of 1,000 with warm inputs, reporting the
/// fastest and the median batch: on a shared machine the fastest batches are the ones not
/// preempted, so they approximate the CPU cost better than a mean.
fn batches(w: &mut World) {
    const BATCH: usize = 1_000;
    let mut per_op = Vec::new();
    let mut i = 200_000_000;
    for _ in 0..300 {
        let inputs: Vec<(Message, Bytes)> = (0..BATCH)
            .map(|_| {
                i += 1;
                let msg = register(i);
                let resp = ok(&msg);
                (msg, resp)
            })
            .collect();
        let start = Instant::now();
        for (msg, resp) in inputs {
            w.register(msg, resp);
        }
        per_op.push(start.elapsed().as_nanos() as f64 / BATCH as f64);
    }
    per_op.sort_by(f64::total_cmp);
    println!(
        "REGISTER + respond(200) + poll_transmit + one Timer J expiry, {} live: \
         {:.0} ns/op fastest batch, {:.0} ns/op median batch ({} batches of {BATCH})",
        w.layer.len(),
        per_op[0],
        per_op[per_op.len() / 2],
        per_op.len(),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
