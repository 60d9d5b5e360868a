//! What a registrar pays per REGISTER: parse, read the headers it needs, build the 200 OK.
//!
//! `cargo bench -p sip-message --bench parse`

use std::hint::black_box;
use std::net::SocketAddr;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sip_message::{ContactList, Message, MessageBuilder, Method};

/// A REGISTER as a softphone sends it on its second attempt (with credentials).
const REGISTER: &[u8] = b"REGISTER sip:ferro.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK-524287-1---2f7e1a2b9c3d4e5f;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:alice@192.0.2.4:5060;rinstance=8c1c1d9d2d4e0a3f;transport=udp>;+sip.instance=\"<urn:uuid:5b2c8f3e-1a2b-4c3d-9e8f-0a1b2c3d4e5f>\";reg-id=1;expires=3600\r\n\
To: \"Alice\" <sip:alice@ferro.example.com>\r\n\
From: \"Alice\" <sip:alice@ferro.example.com>;tag=8a9b0c1d\r\n\
Call-ID: ZDk4YmQ1ZjM2YzE0NWM5ODhiNTYxZmQ0ZGJmOGI1ZTA\r\n\
CSeq: 2 REGISTER\r\n\
Expires: 3600\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
Supported: replaces, outbound, path, gruu\r\n\
User-Agent: Zoiper rv2.10.20.2\r\n\
Authorization: Digest username=\"alice\",realm=\"ferro.example.com\",nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\",uri=\"sip:ferro.example.com\",response=\"6629fae49393a05397450978507c4ef1\",cnonce=\"0a4f113b\",nc=00000001,qop=auth,algorithm=MD5\r\n\
Allow-Events: presence, kpml, talk\r\n\
Content-Length: 0\r\n\r\n";

fn registrar_reads(m: &Message) -> usize {
    let mut n = 0;
    let via = m.top_via().unwrap();
    n += via.branch().unwrap().len();
    n += m.from_header().unwrap().tag().unwrap().len();
    n += m.to_header().unwrap().uri.aor().len();
    n += m.call_id().unwrap().len();
    n += m.cseq().unwrap().seq as usize;
    if let Some(ContactList::Contacts(cs)) = m.contacts().unwrap() {
        n += cs[0].expires().unwrap().unwrap() as usize;
    }
    let c = m.authorization().unwrap().unwrap();
    n += c.username.len() + c.response.len() + c.nc.unwrap() as usize;
    n
}

fn bench(c: &mut Criterion) {
    let raw = Bytes::from_static(REGISTER);
    let mut g = c.benchmark_group("register");
    g.throughput(Throughput::Bytes(REGISTER.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| Message::parse(black_box(raw.clone())).unwrap())
    });
    g.bench_function("parse_and_read", |b| {
        b.iter(|| registrar_reads(&Message::parse(black_box(raw.clone())).unwrap()))
    });
    let m = Message::parse(raw.clone()).unwrap();
    let src: SocketAddr = "192.0.2.4:5060".parse().unwrap();
    g.bench_function("response_to_200", |b| {
        b.iter(|| {
            let mut r = MessageBuilder::response_to(black_box(&m), 200, Some("as7d9f"), Some(src));
            r.header(
                "Contact",
                "<sip:alice@192.0.2.4:5060;rinstance=8c1c1d9d2d4e0a3f;transport=udp>;expires=3600",
            );
            r.finish()
        })
    });
    // The pipeline's questions after sanity: the transaction layer (merged request: To tag,
    // From tag), the dispatcher (in dialog?), response_to (To tag), stable_tag (branch).
    // Before the tags were remembered by sanity_check, each was a name-addr or Via parse.
    g.bench_function("sanity_then_pipeline_reads", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(raw.clone())).unwrap();
            m.sanity_check().unwrap();
            let n = m.to_tag().map_or(0, str::len)
                + m.from_tag().map_or(0, str::len)
                + m.to_tag().map_or(0, str::len)
                + m.to_tag().map_or(0, str::len);
            (n, m.stable_tag())
        })
    });
    g.finish();

    // What the B2BUA pays for a B-leg INVITE until the transaction layer holds its bytes:
    // build, then parse the print and print the parse again (before), or build once (now).
    let mut g = c.benchmark_group("b_leg_invite");
    g.bench_function("finish_parse_print", |b| {
        b.iter(|| {
            let m =
                Message::parse(b_leg_invite().finish_with_body("application/sdp", SDP)).unwrap();
            let sent = m.clone();
            (m, sent.to_bytes())
        })
    });
    g.bench_function("finish_request", |b| {
        b.iter(|| {
            let m = b_leg_invite()
                .finish_request_with_body("application/sdp", SDP)
                .unwrap();
            let sent = m.clone();
            (m, sent.to_bytes())
        })
    });
    g.finish();

    // What a shard pays for the tokens of its requests (each must name the shard) and to find
    // the owner of a key it reads: a Call-ID, a branch and a tag per turn.
    let mut g = c.benchmark_group("shard_tokens");
    for shards in [1usize, 2, 32] {
        let mut ids = sip_message::Ids::for_shard(9, shards - 1, shards);
        g.bench_function(format!("call_id_branch_tag/{shards}"), |b| {
            b.iter(|| (ids.call_id(), ids.branch(), ids.tag()))
        });
        let (call_id, branch) = (ids.call_id(), ids.branch());
        g.bench_function(format!("index_call_id_branch/{shards}"), |b| {
            b.iter(|| {
                sip_message::shard::index(black_box(&call_id), shards)
                    + sip_message::shard::index(black_box(&branch), shards)
            })
        });
    }
    g.finish();
}

const SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn b_leg_invite() -> MessageBuilder {
    let mut b = MessageBuilder::request(&Method::Invite, black_box("sip:bob@192.0.2.9:5070"));
    b.header(
        "Via",
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK7f3a9c1e5b2d4f60;rport",
    )
    .header("Max-Forwards", 69)
    .header(
        "From",
        "\"Alice\" <sip:alice@ferro.example.com>;tag=3b8f0c2a",
    )
    .header("To", "<sip:bob@ferro.example.com>")
    .header("Call-ID", "b2b-5e1f9a0c7d3b@ferro.example.com")
    .header("CSeq", "1 INVITE")
    .header("Contact", "<sip:alice@192.0.2.1:5060>")
    .header(
        "Allow",
        "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY, MESSAGE",
    )
    .header("User-Agent", "ferroswitch");
    b
}

criterion_group!(benches, bench);
criterion_main!(benches);
