//! Raw-socket checks: malformed input, OPTIONS, 405, keep-alives, SHA-256 digest.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use bytes::Bytes;
use sip_message::digest::{self, Algorithm, ResponseParams};
use sip_message::{Challenge, HeaderName, Message};

use crate::harness::Site;

pub(crate) fn udp_exchange(sock: &UdpSocket, msg: &str) -> Message {
    sock.send(msg.as_bytes()).unwrap();
    let mut buf = [0u8; 65_536];
    let n = sock.recv(&mut buf).expect("no answer within the timeout");
    Message::parse(Bytes::copy_from_slice(&buf[..n])).expect("parsable answer")
}

pub(crate) fn client(server: std::net::SocketAddr) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(server).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

pub(crate) fn request(
    method: &str,
    user: &str,
    branch: &str,
    extra: &str,
    local: std::net::SocketAddr,
) -> String {
    format!(
        "{method} sip:ferroswitch.test SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\nFrom: <sip:{user}@ferroswitch.test>;tag=t{branch}\r\nTo: <sip:{user}@ferroswitch.test>\r\nCall-ID: {branch}@test\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn options_answered_and_unknown_methods_get_405() {
    let site = Site::new();
    let server = site.start();
    let c = client(server.udp);
    let local = c.local_addr().unwrap();
    let r = udp_exchange(&c, &request("OPTIONS", "x", "opt1", "", local));
    assert_eq!(r.status(), Some(200));
    assert!(r.header(&HeaderName::Allow).unwrap().contains("REGISTER"));
    let via = r.top_via().unwrap();
    assert_eq!(via.received(), Some("127.0.0.1"));
    assert_eq!(via.rport(), Some(Some(local.port().to_string().as_str())));
    let r = udp_exchange(&c, &request("FETCHSTATE", "x", "unk1", "", local));
    assert_eq!(r.status(), Some(405));
    let allow = r.header(&HeaderName::Allow).unwrap();
    for m in ["INVITE", "BYE", "SUBSCRIBE", "PUBLISH", "MESSAGE", "NOTIFY"] {
        assert!(allow.contains(m), "{m} missing from {allow}");
    }
    assert!(!allow.contains("FETCHSTATE"), "{allow}");
}

#[test]
fn malformed_request_gets_400_and_server_keeps_serving() {
    let site = Site::new();
    let server = site.start();
    let c = client(server.udp);
    let local = c.local_addr().unwrap();
    // CSeq method does not match the request method (RFC 4475 mismatch01)
    let bad =
        request("OPTIONS", "x", "bad1", "", local).replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    let r = udp_exchange(&c, &bad);
    assert_eq!(r.status(), Some(400));
    // garbage is dropped, not answered, and does not kill anything
    c.send(b"\x16\x03\x01garbage that is not SIP\r\n\r\n")
        .unwrap();
    c.send(b"INVITE sip:x SIP/2.0\r\nVia: broken\r\n\r\n")
        .unwrap();
    let r = udp_exchange(&c, &request("OPTIONS", "x", "good1", "", local));
    assert_eq!(r.status(), Some(200));
    if let Err(log) = server.wait_log(5, |l| {
        l.contains("refusing malformed request") && l.contains("CSeq")
    }) {
        panic!("the 400 must be logged with its reason: {log:#?}");
    }
    // over TCP too: a bad Content-Length closes nothing but that frame's transaction
    let mut t = TcpStream::connect(server.tcp).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    t.write_all(b"\r\n\r\n").unwrap();
    let mut pong = [0u8; 2];
    t.read_exact(&mut pong).unwrap();
    assert_eq!(
        &pong, b"\r\n",
        "CRLFCRLF keep-alive must be answered with CRLF (RFC 5626)"
    );
}

/// Registers `user` with `expires` over `c` (challenge, then credentials with `alg`); returns
/// the final answer and the Authorization header used.
pub(crate) fn register(
    c: &UdpSocket,
    user: &str,
    password: &str,
    expires: u32,
    alg: Algorithm,
    tag: &str,
) -> (Message, String) {
    let local = c.local_addr().unwrap();
    let contact = format!("Contact: <sip:{user}@{local}>\r\nExpires: {expires}\r\n");
    let r = udp_exchange(
        c,
        &request("REGISTER", user, &format!("{tag}a"), &contact, local),
    );
    assert_eq!(r.status(), Some(401));
    let ch = r
        .header_values(&HeaderName::WwwAuthenticate)
        .map(|v| Challenge::parse(v).unwrap())
        .find(|ch| ch.algorithm.as_deref() == Some(alg.name()))
        .expect("a challenge for the algorithm");
    let auth = authorization(user, password, &ch, alg);
    let req = request(
        "REGISTER",
        user,
        &format!("{tag}b"),
        &format!("{contact}{auth}"),
        local,
    )
    .replace("CSeq: 1 ", "CSeq: 2 ");
    (udp_exchange(c, &req), auth)
}

/// An `Authorization` header line (with CRLF) answering `ch` for a REGISTER to
/// `sip:ferroswitch.test` as `user` with `password`, nonce count 1.
pub(crate) fn authorization(
    user: &str,
    password: &str,
    ch: &Challenge<'_>,
    alg: Algorithm,
) -> String {
    let ha1 = alg.ha1(user, &ch.realm, password);
    let uri = "sip:ferroswitch.test";
    let resp = digest::response(
        alg,
        &ha1,
        &ResponseParams {
            method: "REGISTER",
            uri,
            nonce: &ch.nonce,
            qop_auth: Some(("00000001", "abcdef")),
        },
    );
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{resp}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"abcdef\"\r\n",
        ch.realm,
        ch.nonce,
        alg.name()
    )
}

#[test]
fn expired_bindings_are_purged_from_memory_and_database() {
    let site = Site::with_registrar(
        "algorithms = [\"MD5\"]\nmin_expires = 1\ndefault_expires = 60\npurge_interval = 1\n",
    );
    site.add_account("judy", "pw");
    let server = site.start();
    let c = client(server.udp);
    let (r, _) = register(&c, "judy", "pw", 2, Algorithm::Md5, "exp");
    assert_eq!(r.status(), Some(200));
    assert!(
        r.header(&HeaderName::Contact)
            .unwrap()
            .contains("expires=2"),
        "{r:?}"
    );
    site.wait_bindings("write-through: the binding is stored", |b| b.len() == 1);
    // expires after 2 s, purged within the 1 s purge interval after that
    std::thread::sleep(Duration::from_millis(2000));
    site.wait_bindings("the expired binding is purged from the database", |b| {
        b.is_empty()
    });
    // and the in-memory table agrees: the 200 lists no Contact
    let (r, _) = register(&c, "judy", "pw", 0, Algorithm::Md5, "exq");
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.header(&HeaderName::Contact), None, "{r:?}");
}

#[test]
fn sha256_digest_registration() {
    let site = Site::with_registrar("algorithms = [\"SHA-256\"]\n");
    site.add_account("grace", "hopper");
    let server = site.start();
    let c = client(server.udp);
    let local = c.local_addr().unwrap();
    let (r, auth) = register(&c, "grace", "hopper", 600, Algorithm::Sha256, "sha");
    assert_eq!(r.status(), Some(200), "{r:?}");
    assert!(r
        .header(&HeaderName::Contact)
        .unwrap()
        .contains(&format!("sip:grace@{local}")));
    let contact = format!("Contact: <sip:grace@{local}>\r\nExpires: 600\r\n");
    // the same nonce count again is a replay: stale challenge
    let replay = request(
        "REGISTER",
        "grace",
        "sha3",
        &format!("{contact}{auth}"),
        local,
    )
    .replace("CSeq: 1 ", "CSeq: 3 ");
    let r = udp_exchange(&c, &replay);
    assert_eq!(r.status(), Some(401));
    assert!(r
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .contains("stale=true"));
}

#[test]
fn bindings_that_expired_while_down_are_purged_at_start() {
    let site = Site::with_registrar(
        "algorithms = [\"MD5\"]\nmin_expires = 1\ndefault_expires = 60\npurge_interval = 3600\n",
    );
    site.add_account("ivan", "pw");
    let server = site.start();
    let c = client(server.udp);
    let (r, _) = register(&c, "ivan", "pw", 1, Algorithm::Md5, "down");
    assert_eq!(r.status(), Some(200));
    site.wait_bindings("ivan's binding is stored", |b| b.len() == 1);
    server.stop();
    std::thread::sleep(Duration::from_millis(1500));
    let _server = site.start();
    site.wait_bindings("the binding that expired while down is gone", |b| {
        b.is_empty()
    });
}

/// IPv6 end to end: a listener on [::1], a registration whose Via, Contact and source are
/// IPv6, `received`/`rport` filled in with the IPv6 source, the binding stored with it.
#[test]
fn ipv6_registration() {
    // a second UDP listener, on [::1]; the harness then reports it as the UDP address
    let site = Site::with_registrar(
        "algorithms = [\"MD5\"]\n\n[[listener]]\ntransport = \"udp\"\naddress = \"[::1]:0\"\n",
    );
    site.add_account("v6user", "pw");
    let server = site.start();
    assert!(server.udp.is_ipv6(), "{}", server.udp);
    let c = UdpSocket::bind("[::1]:0").unwrap();
    c.connect(server.udp).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = c.local_addr().unwrap();
    let (r, _) = register(&c, "v6user", "pw", 600, Algorithm::Md5, "v6");
    assert_eq!(r.status(), Some(200), "{r:?}");
    let via = r.top_via().unwrap();
    assert_eq!(via.received(), Some("::1"));
    assert_eq!(via.rport(), Some(Some(local.port().to_string().as_str())));
    assert!(
        r.header(&HeaderName::Contact)
            .unwrap()
            .contains(&format!("sip:v6user@{local}")),
        "{r:?}"
    );
    let b = site.wait_bindings("the IPv6 binding", |b| b.len() == 1);
    assert_eq!(b[0].received, local.to_string());
    assert_eq!(b[0].contact, format!("sip:v6user@{local}"));
}

/// RFC 4475 bext01: an option tag the server does not implement in `Require` gets 420 with
/// `Unsupported` naming it (RFC 3261 §8.2.2.3); supported ones pass. RFC 4475 regaut01: an
/// Authorization of an unknown scheme gets a fresh challenge, not 400.
#[test]
fn unknown_require_gets_420_and_unknown_auth_scheme_a_challenge() {
    let site = Site::new();
    let server = site.start();
    let c = client(server.udp);
    let local = c.local_addr().unwrap();
    let extra = "Require: nothingSupportsThis, outbound, nothingSupportsThisEither\r\n";
    let r = udp_exchange(&c, &request("OPTIONS", "x", "bext1", extra, local));
    assert_eq!(r.status(), Some(420), "{r:?}");
    assert_eq!(
        r.header(&HeaderName::Unsupported),
        Some("nothingSupportsThis, nothingSupportsThisEither")
    );
    let extra = "Require: 100rel, gruu\r\n";
    let mut r = udp_exchange(&c, &request("INVITE", "x", "bext2", extra, local));
    if r.status() == Some(100) {
        let mut buf = [0u8; 65_536];
        let n = c.recv(&mut buf).expect("a final answer");
        r = Message::parse(Bytes::copy_from_slice(&buf[..n])).unwrap();
    }
    assert_eq!(r.status(), Some(420), "{r:?}");
    // 100rel (RFC 3262) is implemented now; gruu is not
    assert_eq!(r.header(&HeaderName::Unsupported), Some("gruu"));
    let extra = "Require: path, eventlist\r\n";
    let r = udp_exchange(&c, &request("OPTIONS", "x", "bext3", extra, local));
    assert_eq!(r.status(), Some(200), "{r:?}");

    let extra =
        "Contact: <sip:x@127.0.0.1>\r\nAuthorization: NoOneKnowsThisScheme opaque-data=here\r\n";
    let r = udp_exchange(&c, &request("REGISTER", "x", "rega1", extra, local));
    assert_eq!(r.status(), Some(401), "{r:?}");
    assert!(r.header(&HeaderName::WwwAuthenticate).is_some());
    let extra = "Proxy-Authorization: NoOneKnowsThisScheme opaque-data=here\r\n";
    let r = udp_exchange(&c, &request("MESSAGE", "x", "rega2", extra, local));
    assert_eq!(r.status(), Some(407), "{r:?}");
    assert!(r.header(&HeaderName::ProxyAuthenticate).is_some());
}
