//! RFC 4475 §3.1 parser torture tests. The messages are in `tests/torture/{valid,invalid}/`
//! byte for byte as on the wire (CRLF line ends, the RFC's `<hex>` and `<allOneLine>` notation
//! expanded). Every valid message must parse and pass [`Message::sanity_check`]; every invalid
//! one must be refused by one of the two, with the status code the RFC asks for.

use std::borrow::Cow;

use bytes::Bytes;
use sip_message::{
    frame_stream, ContactList, Error, Framed, HeaderName, Host, Message, Method, NameAddr,
    StartLine,
};

pub(crate) const VALID: &[&str] = &[
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
];

/// The invalid messages and the status a server answers them with (RFC 4475 §3.1.2).
const INVALID: &[(&str, u16)] = &[
    ("badinv01", 400),
    ("clerr", 400),
    ("ncl", 400),
    ("scalar02", 400),
    ("scalarlg", 400),
    ("quotbal", 400),
    ("ltgtruri", 400),
    ("lwsruri", 400),
    ("lwsstart", 400),
    ("trws", 400),
    ("escruri", 400),
    ("baddate", 400),
    ("regbadct", 400),
    ("badaspec", 400),
    ("baddn", 400),
    ("badvers", 505),
    ("mismatch01", 400),
    ("mismatch02", 400),
    ("bigcode", 400),
];

pub(crate) fn load(kind: &str, name: &str) -> Bytes {
    let path = format!(
        "{}/tests/torture/{kind}/{name}.sip",
        env!("CARGO_MANIFEST_DIR")
    );
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

pub(crate) fn valid(name: &str) -> Message {
    let m = Message::parse(load("valid", name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    m.sanity_check()
        .unwrap_or_else(|e| panic!("{name}: sanity: {e}"));
    m
}

fn other(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes())
}

fn user_unescaped(n: &NameAddr<'_>) -> Vec<u8> {
    n.uri.user_unescaped().expect("user part").into_owned()
}

/// An SDP body of exactly the size the RFC messages declare.
fn sdp(ip: &str) -> String {
    format!(
        "v=0\r\no=mhandley 29739 7272939 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"
    )
}

#[test]
fn files_are_crlf_as_on_the_wire() {
    for (kind, name) in VALID
        .iter()
        .map(|n| ("valid", *n))
        .chain(INVALID.iter().map(|(n, _)| ("invalid", *n)))
    {
        let raw = load(kind, name);
        let head_end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("blank line");
        let head = &raw[..head_end];
        for (i, &b) in head.iter().enumerate() {
            if b == b'\n' {
                assert_eq!(head[i - 1], b'\r', "{name}: bare LF at {i}");
            }
        }
    }
}

#[test]
fn every_valid_message_parses_and_passes_sanity() {
    for name in VALID {
        valid(name);
    }
}

#[test]
fn every_invalid_message_is_refused_with_its_status() {
    for &(name, status) in INVALID {
        let res = Message::parse(load("invalid", name)).and_then(|m| m.sanity_check());
        let err = res.expect_err(name);
        assert_eq!(err.status_code(), status, "{name}: {err}");
    }
}

#[test]
fn wsinv_short_tortuous_invite() {
    let m = valid("wsinv");
    assert_eq!(m.method(), Some(&Method::Invite));
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.user, Some("vivekg"));
    assert_eq!(ruri.host, Host::Domain("chair-dnrc.example.com"));
    assert_eq!(ruri.param("unknownparam"), Some(None));

    let to = m.to_header().unwrap();
    assert_eq!(to.display, None);
    assert_eq!(to.uri.user, Some("vivekg"));
    assert_eq!(to.tag(), Some("1918181833n"));
    let from = m.from_header().unwrap();
    assert_eq!(from.display_name().unwrap(), "J Rosenberg \\\"");
    assert_eq!(from.uri.user, Some("jdrosen"));
    assert_eq!(from.tag(), Some("98asjd8"));

    assert_eq!(m.max_forwards().unwrap(), Some(68));
    assert_eq!(m.call_id(), Some("wsinv.ndaksdj@192.0.2.1"));
    let cseq = m.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));

    // one `Via` line and one `v:` line holding two comma-separated values
    let lines: Vec<&str> = m.header_values(&HeaderName::Via).collect();
    assert_eq!(lines.len(), 2);
    let vias: Vec<_> = m.vias().collect::<Result<_, _>>().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(
        (vias[0].transport, vias[0].host),
        ("UDP", Host::V4([192, 0, 2, 2].into()))
    );
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    let compact: Vec<_> = sip_message::Via::parse_list(lines[1])
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(compact.len(), 2);
    assert_eq!(
        (compact[0].transport, compact[0].host),
        ("TCP", Host::Domain("spindle.example.com"))
    );
    assert_eq!(compact[0].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(
        (compact[1].transport, compact[1].host),
        ("UDP", Host::V4([192, 168, 255, 111].into()))
    );
    assert_eq!(compact[1].branch(), Some("z9hG4bK30239"));

    assert_eq!(m.header(&HeaderName::Subject), Some(""));
    assert_eq!(
        m.header(&other("NewFangledHeader")),
        Some("newfangled value continued newfangled value")
    );
    assert!(other("newfangledheader").matches("NEWFANGLEDHEADER"));
    assert_eq!(
        m.header(&other("UnknownHeaderWithUnusualValue")),
        Some(";;,,;;,;")
    );
    let route = NameAddr::parse(m.header(&HeaderName::Route).unwrap(), "Route").unwrap();
    assert_eq!(route.uri.param("lr"), Some(None));
    assert_eq!(route.uri.param("unknownwith"), Some(Some("value")));
    assert_eq!(route.uri.param("unknown-no-value"), Some(None));

    let Some(ContactList::Contacts(cs)) = m.contacts().unwrap() else {
        panic!("no contacts")
    };
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].0.display_name().unwrap(), "Quoted string \"\"");
    assert_eq!(cs[0].0.uri.user, Some("jdrosen"));
    assert_eq!(cs[0].0.params.get("newparam"), Some(Some("newvalue")));
    assert_eq!(cs[0].0.params.get("secondparam"), Some(None));
    assert_eq!(cs[0].q_milli(), Ok(Some(330)));

    assert_eq!(m.content_type(), Some("application/sdp"));
    assert_eq!(
        &m.body()[..],
        sdp("192.0.2.3")
            .replace("c=IN IP4 192.0.2.3", "c=IN IP4 192.0.2.4")
            .as_bytes()
    );
}

#[test]
fn intmeth_wide_range_of_valid_characters() {
    const METHOD: &str = "!interesting-Method0123456789_*+`.%indeed'~";
    let m = valid("intmeth");
    assert_eq!(m.method(), Some(&Method::Other(METHOD.into())));
    assert_ne!(Method::from_token("IN%56ITE"), Method::Invite);
    let ruri = m.request_uri().unwrap();
    assert_eq!(
        ruri.user,
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        ruri.password,
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(ruri.host, Host::Domain("example.com"));

    let v = m.top_via().unwrap();
    assert_eq!(v.transport, "TCP");
    assert_eq!(v.branch(), Some("z9hG4bK-.!%66*_+`'~"));

    let to = m.to_header().unwrap();
    assert_eq!(to.display_name().unwrap(), "BEL:\u{7} NUL:\0 DEL:\u{7f}");
    assert_eq!(
        to.uri.user,
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );

    let from = m.from_header().unwrap();
    assert_eq!(from.display, Some("token1~` token2'+_ token3*%!.-"));
    assert_eq!(
        from.params.get("fromParam''~+*_!.-%"),
        Some(Some("\"работающий\""))
    );
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));

    assert_eq!(
        m.call_id(),
        Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    );
    let cseq = m.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method.as_str()), (139_122_385, METHOD));
    assert_eq!(m.max_forwards().unwrap(), Some(255));
    assert_eq!(
        m.header(&other("extensionHeader-!.%*+_`'~")),
        Some("\u{feff}大停電")
    );
    assert!(m.body().is_empty());
}

#[test]
fn esc01_percent_escapes() {
    let m = valid("esc01");
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.user, Some("sips%3Auser%40example.com"));
    assert_eq!(
        ruri.user_unescaped().unwrap(),
        &b"sips:user@example.com"[..]
    );
    assert_eq!(ruri.host, Host::Domain("example.net"));
    let to = m.to_header().unwrap();
    assert_eq!(to.uri.user, Some("%75se%72"));
    assert_eq!(user_unescaped(&to), b"user");
    let from = m.from_header().unwrap();
    assert_eq!(user_unescaped(&from), b"I have spaces");
    assert_eq!(from.tag(), Some("938"));
    assert_eq!(m.call_id(), Some("esc01.239409asdfakjkn23onasd0-3234"));
    assert_eq!(m.content_type(), Some("application/sdp"));
    let Some(ContactList::Contacts(cs)) = m.contacts().unwrap() else {
        panic!("no contacts")
    };
    let c = &cs[0].0.uri;
    assert_eq!(c.user_unescaped().unwrap(), &b"caller"[..]);
    // unescaping is never recursive: "v%61lue%25%34%31" is "value%41", not "valueA"
    assert_eq!(c.param("%6C%72"), Some(None));
    assert_eq!(c.param("n%61me"), Some(Some("v%61lue%25%34%31")));
    assert_eq!(
        sip_message::percent_decode("v%61lue%25%34%31"),
        Cow::<[u8]>::Owned(b"value%41".to_vec())
    );
    assert_eq!(m.body().len(), 150);
}

#[test]
fn escnull_escaped_nulls_in_uris() {
    let m = valid("escnull");
    assert_eq!(m.method(), Some(&Method::Register));
    let to = m.to_header().unwrap();
    assert_eq!(to.uri.user, Some("null-%00-null"));
    assert_eq!(user_unescaped(&to), b"null-\0-null");
    let from = m.from_header().unwrap();
    assert_eq!(user_unescaped(&from), b"null-\0-null");
    assert_eq!(from.tag(), Some("839923423"));
    let Some(ContactList::Contacts(cs)) = m.contacts().unwrap() else {
        panic!("no contacts")
    };
    let users: Vec<Vec<u8>> = cs.iter().map(|c| user_unescaped(&c.0)).collect();
    assert_eq!(users, [vec![0u8], vec![0u8, 0]], "two distinct contacts");
    assert_eq!(m.header(&HeaderName::ContentLength), Some("0"));
}

#[test]
fn esc02_percent_that_is_not_an_escape() {
    let m = valid("esc02");
    assert_eq!(m.method(), Some(&Method::Other("RE%47IST%45R".into())));
    assert_ne!(m.method(), Some(&Method::Register));
    assert_eq!(
        m.cseq().unwrap().method,
        Method::Other("RE%47IST%45R".into())
    );
    assert_eq!(m.to_header().unwrap().display_name().unwrap(), "%Z%45");
    assert_eq!(m.from_header().unwrap().display_name().unwrap(), "%Z%45");
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK209%fzsnel234"));
    let Some(ContactList::Contacts(cs)) = m.contacts().unwrap() else {
        panic!("no contacts")
    };
    let users: Vec<_> = cs.iter().map(|c| c.0.uri.user.unwrap()).collect();
    assert_eq!(users, ["alias1", "alias3"]);
    assert_eq!(
        m.header(&other("C%6Fntact")),
        Some("<sip:alias2@host2.example.com>")
    );
}

#[test]
fn lwsdisp_no_lws_before_angle() {
    let m = valid("lwsdisp");
    let from = m.from_header().unwrap();
    assert_eq!(from.display, Some("caller"));
    assert_eq!(from.uri.user, Some("caller"));
    assert_eq!(from.tag(), Some("323"));
}

#[test]
fn longreq_long_values() {
    let m = valid("longreq");
    let to = m.to_header().unwrap();
    assert_eq!(
        to.display_name().unwrap(),
        format!("I have a user name of {} proportion", "extreme".repeat(10))
    );
    assert_eq!(to.uri.port, Some(6000));
    assert_eq!(to.uri.params.len(), 3);
    assert_eq!(
        to.uri.param(&format!("longparam{}", "name".repeat(25))),
        Some(Some("shortvalue"))
    );
    assert_eq!(
        to.uri.param(&format!(
            "very{}ParameterNameWithNoValue",
            "long".repeat(25)
        )),
        Some(None)
    );
    let from = m.from_header().unwrap();
    assert_eq!(
        from.tag(),
        Some(format!("12{}424", "982".repeat(50)).as_str())
    );
    assert_eq!(from.params.len(), 3);
    assert_eq!(
        m.call_id(),
        Some(format!("longreq.one{}longcallid", "really".repeat(20)).as_str())
    );
    let vias: Vec<_> = m.vias().collect::<Result<_, _>>().unwrap();
    assert_eq!(vias.len(), 34);
    for (i, v) in vias.iter().take(33).enumerate() {
        assert_eq!(v.host, Host::Domain(&format!("sip{}.example.com", 33 - i)));
    }
    assert_eq!(vias[33].received(), Some("192.0.2.5"));
    assert_eq!(
        vias[33].branch(),
        Some(format!("very{}branchvalue", "long".repeat(50)).as_str())
    );
    let name = format!("Unknown-{}-Name", "Long".repeat(20));
    assert!(m
        .header(&other(&name))
        .unwrap()
        .ends_with("-parameter-value"));
    assert_eq!(m.body().len(), 150);
}

#[test]
fn dblreq_only_the_first_message_counts() {
    let raw = load("valid", "dblreq");
    let m = valid("dblreq");
    assert_eq!(m.method(), Some(&Method::Register));
    assert!(m.body().is_empty());
    assert_eq!(m.call_id(), Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412"));
    assert_eq!(m.headers().len(), 8);
    assert_eq!(m.content_type(), None);
    assert_eq!(m.to_header().unwrap().uri.user, Some("j.user"));
    // the trailing octets are an INVITE, and they are not part of this message
    assert!(raw.windows(6).any(|w| w == b"INVITE"));
    assert!(!m.to_bytes().windows(6).any(|w| w == b"INVITE"));
}

#[test]
fn semiuri_semicolon_in_user_part() {
    let m = valid("semiuri");
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.user, Some("user;par=u%40example.net"));
    assert_eq!(
        ruri.user_unescaped().unwrap(),
        &b"user;par=u@example.net"[..]
    );
    assert_eq!(ruri.host, Host::Domain("example.com"));
    assert!(ruri.params.is_empty());
    let accept: Vec<_> = m.header_list(&HeaderName::Accept).collect();
    assert_eq!(
        accept,
        [
            "application/sdp",
            "application/pkcs7-mime",
            "multipart/mixed",
            "multipart/signed",
            "message/sip",
            "message/sipfrag"
        ]
    );
}

#[test]
fn transports_every_via_transport() {
    let m = valid("transports");
    assert_eq!(m.call_id(), Some("transports.kijh4akdnaqjkwendsasfdj"));
    let vias: Vec<_> = m.vias().collect::<Result<_, _>>().unwrap();
    let t: Vec<_> = vias.iter().map(|v| v.transport).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    let hosts: Vec<_> = vias.iter().map(|v| v.host.to_string()).collect();
    assert_eq!(
        hosts,
        [
            "t1.example.com",
            "t2.example.com",
            "t3.example.com",
            "t4.example.com",
            "t5.example.com"
        ]
    );
}

/// The DER-encoded PKCS #7 part of mpart01 (RFC 4475 §3.1.1.11, from its `<hex>` block).
const MPART01_DER: &str = "3082015206092a864886f70d010702a08201433082013f02010131093007\
    06052b0e03021a300b06092a864886f70d010701318201203082011c020101307c3070310b3009060355040613\
    025553311330110603550408130a43616c69666f726e69613111300f0603550407130853616e204a6f7365310e\
    300c060355040a1305736970697431293027060355040b132053697069742054657374204365727469666963\
    61746520417574686f7269747902080195007102330113300706052b0e03021a300d06092a864886f70d0101\
    0105000481808ef466f948f0522dd2e5978e9d95aae9f2fe15a06659716292e8da2aa8d8350a68ceffae3cbd2b\
    ff1675ddd5648e593dd64728f26220f7e941749e330d9a15edabdb93d10c42102e7b7289d29cc0c9ae2efbc7c0\
    cff9172f3b027e4fc027e1546de4b6aa3abb3e66cccb5dd6c64b8383149cb8e6ff182d944fe57b65bc99d005";

fn unhex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    s.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

#[test]
fn mpart01_multipart_body_with_binary_part() {
    let m = valid("mpart01");
    let der = unhex(MPART01_DER);
    assert_eq!(der.len(), 342);
    let mut body = b"--7a9cbec02ceef655\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\n\
Hello\r\n--7a9cbec02ceef655\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    body.extend_from_slice(&der);
    body.extend_from_slice(b"\r\n--7a9cbec02ceef655--\r\n");
    assert_eq!(body.len(), 553);
    assert_eq!(&m.body()[..], &body[..]);
    assert!(m.body().contains(&0));
    assert_eq!(
        m.content_type(),
        Some("multipart/mixed;boundary=7a9cbec02ceef655")
    );
    assert_eq!(m.method(), Some(&Method::Message));
    assert_eq!(m.top_via().unwrap().rport(), Some(None));
    assert_eq!(m.top_via().unwrap().port, Some(5070));
    assert_eq!(
        m.header(&HeaderName::Date),
        Some("Sat, 15 Oct 2005 04:44:56 GMT")
    );
    assert_eq!(m.user_agent(), Some("SIPimp.org/0.2.5 (curses)"));
}

#[test]
fn unreason_utf8_reason_phrase() {
    let m = valid("unreason");
    assert_eq!(m.status(), Some(200));
    assert_eq!(
        m.reason(),
        Some("= 2**3 * 5**2 но сто девяносто девять - простое")
    );
    assert_eq!(m.body().len(), 154);
    assert_eq!(m.to_header().unwrap().tag(), Some("2229"));
}

#[test]
fn noreason_empty_reason_phrase() {
    let m = valid("noreason");
    assert_eq!(m.status(), Some(100));
    assert_eq!(m.reason(), Some(""));
    assert!(matches!(
        m.start_line(),
        StartLine::Response {
            version: (2, 0),
            ..
        }
    ));
}

#[test]
fn invalid_messages_fail_for_the_right_reason() {
    let why = |name: &str| {
        Message::parse(load("invalid", name))
            .and_then(|m| m.sanity_check())
            .unwrap_err()
    };
    assert!(matches!(
        why("clerr"),
        Error::BodyTooShort { declared: 9999, .. }
    ));
    assert!(matches!(
        why("ncl"),
        Error::Header {
            header: "Content-Length",
            ..
        }
    ));
    assert!(matches!(
        why("scalar02"),
        Error::Header { header: "CSeq", .. }
    ));
    assert!(matches!(why("quotbal"), Error::Header { header: "To", .. }));
    for name in ["ltgtruri", "lwsruri", "lwsstart", "trws"] {
        assert!(matches!(why(name), Error::StartLine(_)), "{name}");
    }
    assert!(matches!(
        why("baddate"),
        Error::Header { header: "Date", .. }
    ));
    assert!(matches!(
        why("regbadct"),
        Error::Header {
            header: "Contact",
            ..
        }
    ));
    assert!(matches!(
        why("badaspec"),
        Error::Header { header: "To", .. }
    ));
    assert!(matches!(why("baddn"), Error::Header { header: "From", .. }));
    assert_eq!(why("badvers"), Error::Version);
    assert!(matches!(why("mismatch01"), Error::CSeqMismatch { .. }));
    assert!(matches!(why("mismatch02"), Error::CSeqMismatch { .. }));
    assert!(matches!(why("bigcode"), Error::StartLine(_)));

    // scalar02's other out-of-range values are each refused on their own
    let m = Message::parse(load("invalid", "scalar02")).unwrap();
    assert!(m.max_forwards().is_err());
    assert!(m.expires().is_err());
    let Some(ContactList::Contacts(cs)) = m.contacts().unwrap() else {
        panic!("no contacts")
    };
    assert!(cs[0].expires().is_err());
}

#[test]
fn torture_messages_on_a_stream() {
    // clerr on TCP: wait for the 9999 body bytes that never come
    assert_eq!(
        frame_stream(&load("invalid", "clerr")),
        Err(Error::Incomplete)
    );
    // ncl on TCP: an unrecoverable framing error, the connection is closed
    let e = frame_stream(&load("invalid", "ncl")).unwrap_err();
    assert_ne!(e, Error::Incomplete);
    // dblreq on TCP: two messages, framed one after the other
    let raw = load("valid", "dblreq");
    let Ok(Framed::Message(n)) = frame_stream(&raw) else {
        panic!("not framed")
    };
    let first = Message::parse(raw.slice(..n)).unwrap();
    assert_eq!(first.method(), Some(&Method::Register));
    let rest = raw.slice(n..);
    let Ok(Framed::Message(k)) = frame_stream(&rest) else {
        panic!("second not framed")
    };
    let second = Message::parse(rest.slice(..k)).unwrap();
    assert_eq!(second.method(), Some(&Method::Invite));
    assert_eq!(second.body().len(), 150);
}
