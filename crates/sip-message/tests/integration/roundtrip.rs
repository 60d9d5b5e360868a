//! Print/parse round trips: `parse → to_bytes → parse` gives the same start line, headers and
//! body, and every typed view reads the same from both.

use bytes::Bytes;
use sip_message::{
    digest::Algorithm, Challenge, ContactList, Credentials, HeaderName, Host, Message,
    MessageBuilder, Method, Scheme, Uri,
};

use crate::torture::{load, VALID};

/// Parses, prints, re-parses; asserts equality and that printing is then a fixed point.
pub(crate) fn round_trip(raw: Bytes) -> Message {
    let m1 = Message::parse(raw).expect("first parse");
    let printed = m1.to_bytes();
    let m2 = Message::parse(printed.clone()).unwrap_or_else(|e| {
        panic!(
            "re-parse failed: {e}\n{}",
            String::from_utf8_lossy(&printed)
        )
    });
    assert_eq!(m1.start_line(), m2.start_line());
    assert_eq!(m1.headers(), m2.headers());
    assert_eq!(m1.body(), m2.body());
    assert_eq!(m1, m2);
    assert_eq!(m2.to_bytes(), printed, "printing is not a fixed point");
    assert_eq!(m1.sanity_check(), m2.sanity_check());
    assert_eq!(m1.request_uri().ok(), m2.request_uri().ok());
    assert_eq!(m1.cseq(), m2.cseq());
    assert_eq!(m1.from_header(), m2.from_header());
    assert_eq!(m1.to_header(), m2.to_header());
    assert_eq!(m1.vias().collect::<Vec<_>>(), m2.vias().collect::<Vec<_>>());
    assert_eq!(m1.contacts(), m2.contacts());
    assert_eq!(m1.authorization(), m2.authorization());
    m2
}

fn parse(s: &str) -> Message {
    Message::parse(Bytes::copy_from_slice(s.as_bytes())).unwrap()
}

#[test]
fn torture_messages_round_trip() {
    for name in VALID {
        let m = round_trip(load("valid", name));
        m.sanity_check().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

const REGISTER: &str = "REGISTER sips:ferro.example.com SIP/2.0\r\n\
Via: SIP/2.0/TLS [2001:db8::10]:50611;branch=z9hG4bK-reg-2;rport;alias\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sips:alice@ferro.example.com>;tag=a73kszlfl\r\n\
To: \"Alice\" <sips:alice@ferro.example.com>\r\n\
Call-ID: 1j9FpLxk3uxtm8tn@2001:db8::10\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sips:alice@[2001:db8::10]:50611;transport=tls;ob>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\";reg-id=1;expires=600\r\n\
Authorization: Digest username=\"alice\", realm=\"ferro.example.com\", nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", uri=\"sips:ferro.example.com\", response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", algorithm=SHA-256, cnonce=\"0a4f113b\", qop=auth, nc=0000000a, opaque=\"\"\r\n\
Supported: path, outbound, gruu\r\n\
User-Agent: ferro-test/1.0\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn register_with_sha256_digest_and_ipv6() {
    let m = round_trip(Bytes::from_static(REGISTER.as_bytes()));
    m.sanity_check().unwrap();
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.scheme, Scheme::Sips);
    let via = m.top_via().unwrap();
    assert_eq!(via.transport, "TLS");
    assert_eq!(via.host, Host::V6("2001:db8::10".parse().unwrap()));
    assert_eq!(via.port, Some(50611));
    assert_eq!(via.rport(), Some(None));
    assert_eq!(via.params.get("alias"), Some(None));
    let Some(ContactList::Contacts(cs)) = m.contacts().unwrap() else {
        panic!("no contacts")
    };
    assert_eq!(cs[0].0.uri.host, Host::V6("2001:db8::10".parse().unwrap()));
    assert_eq!(cs[0].0.uri.port, Some(50611));
    assert_eq!(cs[0].0.uri.param("ob"), Some(None));
    assert_eq!(
        cs[0].instance().unwrap(),
        "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"
    );
    assert_eq!(cs[0].reg_id(), Some(1));
    assert_eq!(cs[0].expires(), Ok(Some(600)));
    let c: Credentials<'_> = m.authorization().unwrap().unwrap();
    assert!(c.is_digest());
    assert_eq!(c.username, "alice");
    assert_eq!(
        c.algorithm.as_deref().and_then(Algorithm::from_name),
        Some(Algorithm::Sha256)
    );
    assert_eq!(c.nc, Some(10));
    assert_eq!(c.qop.as_deref(), Some("auth"));
    assert_eq!(c.opaque.as_deref(), Some(""));
    assert!(m.has_option_tag(&HeaderName::Supported, "outbound"));
}

#[test]
fn invite_with_sdp_compact_forms_and_tel() {
    let sdp = "v=0\r\no=- 1 1 IN IP6 2001:db8::20\r\ns=-\r\nc=IN IP6 2001:db8::20\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let raw = format!(
        "INVITE tel:+1-201-555-0123;phone-context=example.com SIP/2.0\r\n\
v: SIP/2.0/UDP [2001:db8::20];branch=z9hG4bK77ef4c2312983.1;rport\r\n\
v: SIP/2.0/TCP proxy.example.com:5060;branch=z9hG4bKnashds8;received=192.0.2.3\r\n\
Max-Forwards: 69\r\n\
f: Bob <sip:bob@[2001:db8::20]>;tag=8321234356\r\n\
t: <tel:+1-201-555-0123>\r\n\
i: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 1 INVITE\r\n\
m: <sip:bob@[2001:db8::20]:5062;transport=udp>\r\n\
k: 100rel, timer\r\n\
s: lunch?\r\n\
c: application/sdp\r\n\
l: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    let m = round_trip(Bytes::from(raw));
    m.sanity_check().unwrap();
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.scheme, Scheme::Tel);
    assert_eq!(ruri.user, Some("+1-201-555-0123"));
    let vias: Vec<_> = m.vias().collect::<Result<_, _>>().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[1].received(), Some("192.0.2.3"));
    assert_eq!(m.to_header().unwrap().uri.scheme, Scheme::Tel);
    assert_eq!(
        m.from_header().unwrap().uri.host,
        Host::V6("2001:db8::20".parse().unwrap())
    );
    assert_eq!(m.content_type(), Some("application/sdp"));
    assert_eq!(m.header(&HeaderName::Subject), Some("lunch?"));
    assert!(m.has_option_tag(&HeaderName::Supported, "timer"));
    assert_eq!(&m.body()[..], sdp.as_bytes());
    // printing uses the full names
    let printed = m.to_bytes();
    let text = String::from_utf8_lossy(&printed);
    assert!(text.contains("\r\nVia: SIP/2.0/UDP [2001:db8::20]"));
    assert!(text.contains("\r\nContent-Length: "));
    assert!(!text.contains("\r\nv: "));
}

#[test]
fn ok_and_unauthorized_responses() {
    let req = parse(REGISTER);
    let mut b = MessageBuilder::response_to(
        &req,
        200,
        Some("reg-tag"),
        Some("[2001:db8::99]:4444".parse().unwrap()),
    );
    b.header(
        "Contact",
        "<sips:alice@[2001:db8::10]:50611;transport=tls;ob>;expires=600",
    )
    .header("Date", "Sat, 13 Nov 2010 23:29:00 GMT");
    let m = round_trip(b.finish());
    m.sanity_check().unwrap();
    assert_eq!(m.status(), Some(200));
    assert_eq!(m.reason(), Some("OK"));
    assert_eq!(m.to_header().unwrap().tag(), Some("reg-tag"));
    let via = m.top_via().unwrap();
    assert_eq!(via.received(), Some("2001:db8::99"));
    assert_eq!(via.rport(), Some(Some("4444")));
    assert_eq!(m.cseq().unwrap().method, Method::Register);

    let www = "Digest realm=\"ferro.example.com\", nonce=\"n-1\", algorithm=SHA-256, qop=\"auth\", opaque=\"o\", stale=FALSE";
    let mut b = MessageBuilder::response_to(&req, 401, Some("t401"), None);
    b.header("WWW-Authenticate", www);
    b.header(
        "WWW-Authenticate",
        "Digest realm=\"ferro.example.com\", nonce=\"n-1\", algorithm=MD5, qop=\"auth\"",
    );
    let m = round_trip(b.finish());
    m.sanity_check().unwrap();
    assert_eq!(m.status(), Some(401));
    assert_eq!(m.reason(), Some("Unauthorized"));
    let chals: Vec<Challenge<'_>> = m
        .header_values(&HeaderName::WwwAuthenticate)
        .map(|v| Challenge::parse(v).unwrap())
        .collect();
    assert_eq!(chals.len(), 2);
    assert_eq!(chals[0].algorithm.as_deref(), Some("SHA-256"));
    assert!(!chals[0].stale);
    assert_eq!(chals[1].algorithm.as_deref(), Some("MD5"));
}

#[test]
fn binary_body_with_crlf_and_nul_keeps_content_length() {
    let mut body = vec![
        0u8, 1, 2, b'\r', b'\n', b'\r', b'\n', 0, 0xff, 0xfe, b'\n', b'\r',
    ];
    body.extend((0..=255u8).rev());
    let mut b = MessageBuilder::request(&Method::Message, "sip:bob@example.com");
    b.header("Via", "SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKbin")
        .header("From", "<sip:alice@example.com>;tag=1")
        .header("To", "<sip:bob@example.com>")
        .header("Call-ID", "bin-body")
        .header("CSeq", "7 MESSAGE")
        .header("Max-Forwards", 70);
    let mut raw = b
        .finish_with_body("application/octet-stream", &body)
        .to_vec();
    // trailing datagram noise past Content-Length is not part of the body
    raw.extend_from_slice(b"\r\n\r\nJUNK");
    let m = round_trip(Bytes::from(raw));
    m.sanity_check().unwrap();
    assert_eq!(&m.body()[..], &body[..]);
    assert_eq!(
        m.header(&HeaderName::ContentLength),
        Some(body.len().to_string().as_str())
    );
}

#[test]
fn message_without_content_length_takes_the_rest_of_the_datagram() {
    let raw = "MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nhello\r\n\r\nworld";
    let m = round_trip(Bytes::from_static(raw.as_bytes()));
    assert_eq!(&m.body()[..], b"hello\r\n\r\nworld");
}

#[test]
fn uris_of_every_scheme() {
    for (s, scheme, host) in [
        (
            "sip:alice@[2001:db8::1]:5060;transport=tcp",
            Scheme::Sip,
            Host::V6("2001:db8::1".parse().unwrap()),
        ),
        ("sips:[::1]", Scheme::Sips, Host::V6("::1".parse().unwrap())),
        (
            "SIP:bob@EXAMPLE.com",
            Scheme::Sip,
            Host::Domain("EXAMPLE.com"),
        ),
        (
            "sip:192.0.2.7:5080;lr",
            Scheme::Sip,
            Host::V4([192, 0, 2, 7].into()),
        ),
    ] {
        let u = Uri::parse(s).unwrap();
        assert_eq!((u.scheme, u.host), (scheme, host), "{s}");
        assert_eq!(u.to_string(), s);
    }
    let t = Uri::parse("tel:+358-555-1234567;postd=pp22").unwrap();
    assert_eq!(t.scheme, Scheme::Tel);
    assert_eq!(t.aor(), "tel:+358-555-1234567");
}
