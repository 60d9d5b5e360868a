//! STUN Binding answers per second on one core: parse the request, build the success response
//! (XOR-MAPPED-ADDRESS, SOFTWARE, FINGERPRINT). Target: at least 200,000/s.
//!
//! `cargo bench -p media --bench stun`

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use media::stun::{answer, is_stun};

/// What a softphone sends: a Binding request with only a FINGERPRINT (libnice/pjnath style).
fn request() -> Vec<u8> {
    let mut v = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
    v.extend_from_slice(&[0x5a; 12]);
    // CRC-32 of the message up to (excluding) the FINGERPRINT attribute.
    let crc = crc32(&v[..]) ^ 0x5354_554e;
    v.extend_from_slice(&[0x80, 0x28, 0x00, 0x04]);
    v.extend_from_slice(&crc.to_be_bytes());
    v
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (!(crc & 1)).wrapping_add(1));
        }
    }
    !crc
}

/// RFC 5769 §2.1 (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT).
const RFC5769_REQUEST: [u8; 108] = [
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
];

fn bench(c: &mut Criterion) {
    let simple = request();
    let v4: SocketAddr = "203.0.113.77:40123".parse().unwrap();
    let v6: SocketAddr = "[2001:db8::77]:40123".parse().unwrap();
    let mut out = Vec::with_capacity(128);
    let o = answer(&simple, v4, &mut out);
    assert!(o.should_send(), "{o:?}");

    let mut g = c.benchmark_group("stun");
    g.throughput(Throughput::Elements(1));
    g.bench_function("answer_binding_v4", |b| {
        b.iter(|| black_box(answer(black_box(&simple), v4, &mut out)))
    });
    g.bench_function("answer_binding_v6", |b| {
        b.iter(|| black_box(answer(black_box(&simple), v6, &mut out)))
    });
    g.bench_function("answer_rfc5769_request", |b| {
        b.iter(|| black_box(answer(black_box(&RFC5769_REQUEST), v4, &mut out)))
    });
    g.bench_function("is_stun_on_rtp", |b| {
        let rtp = [0x80u8; 172];
        b.iter(|| black_box(is_stun(black_box(&rtp))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
