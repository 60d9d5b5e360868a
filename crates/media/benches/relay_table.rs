//! Cost of the relay table's per-packet decision (lookup, latch check, RTP counters) with 2,000
//! bidirectional calls: what the socket driver adds on top of the syscalls.
//!
//! `cargo bench -p media --bench relay_table`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use media::relay::{RelayConfig, RelayTable, Side};

fn bench(c: &mut Criterion) {
    let calls = 2000u16;
    let mut t = RelayTable::new(RelayConfig {
        port_min: 20000,
        port_max: 30000,
        ..RelayConfig::default()
    })
    .unwrap();
    let t0 = Instant::now();
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut ports = Vec::new();
    for i in 0..calls {
        let call = format!("call-{i}");
        let pb = t.allocate(t0, &call, Side::B, 0).unwrap();
        t.set_remote(&call, Side::A, 0, SocketAddr::new(ip, 10000 + i).into())
            .unwrap();
        let pa = t.allocate(t0, &call, Side::A, 0).unwrap();
        t.set_remote(&call, Side::B, 0, SocketAddr::new(ip, 40000 + i).into())
            .unwrap();
        ports.push((
            pa,
            SocketAddr::new(ip, 10000 + i),
            pb,
            SocketAddr::new(ip, 40000 + i),
        ));
    }
    let mut pkt = vec![0u8; 172];
    pkt[0] = 0x80;
    let mut seq = 0u16;
    let mut n = 0usize;
    let mut g = c.benchmark_group("relay_table");
    g.throughput(Throughput::Elements(1));
    g.bench_function("handle_packet_2000_calls", |b| {
        b.iter(|| {
            let (pa, a, pb, bb) = ports[n % ports.len()];
            n += 1;
            if n % ports.len() == 0 {
                seq = seq.wrapping_add(1);
            }
            pkt[2..4].copy_from_slice(&seq.to_be_bytes());
            pkt[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            let now = t0 + Duration::from_micros(n as u64 * 5);
            let (port, src) = if n % 2 == 0 { (pa, a) } else { (pb, bb) };
            black_box(t.handle_packet(now, port, src, black_box(&pkt)))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
