//! Inputs that once broke the parser or disagreed with another part of it, each kept as a
//! test. (Fuzzing `parse_roundtrip` and `frame_stream` has found no crash so far; these came
//! from the torture tests and from review while hardening.)

use bytes::Bytes;
use sip_message::{frame_stream, Error, Framed, Message, NameAddr};

/// A CRLFCRLF ping split across two reads was taken as two pongs and never answered.
#[test]
fn ping_split_across_reads() {
    assert_eq!(frame_stream(b"\r\n"), Err(Error::Incomplete));
    assert_eq!(frame_stream(b"\r\n\r"), Err(Error::Incomplete));
    assert_eq!(frame_stream(b"\r\n\r\n"), Ok(Framed::Ping(4)));
}

/// A folded `Content-Length` made framing fail ("not a number") where parsing succeeds.
#[test]
fn folded_content_length_on_a_stream() {
    let raw = b"MESSAGE sip:a@b SIP/2.0\r\nl:\r\n\t2\r\n\r\nhi";
    assert_eq!(frame_stream(raw), Ok(Framed::Message(raw.len())));
    assert_eq!(
        &Message::parse(Bytes::from_static(raw)).unwrap().body()[..],
        b"hi"
    );
}

/// A head ending in a lone CR after the last header must be refused, not read past its end.
#[test]
fn lone_cr_after_the_last_header() {
    for raw in [
        &b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\n\r"[..],
        b"OPTIONS sip:a@b SIP/2.0\r",
    ] {
        assert!(Message::parse(Bytes::from_static(raw)).is_err());
    }
}

/// An addr-spec (no `<>`) whose quoted parameter holds `<` was taken for a display name.
#[test]
fn angle_bracket_inside_a_quoted_parameter() {
    let n = NameAddr::parse("sip:a@example.com;tag=9;x=\"<>\"", "From").unwrap();
    assert_eq!(n.tag(), Some("9"));
    assert_eq!(n.uri.user, Some("a"));
}

/// Header names are `token HCOLON`: a CR before the colon is not whitespace.
#[test]
fn cr_inside_a_header_name() {
    let raw = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID\r: 1\r\n\r\n";
    assert!(Message::parse(Bytes::from_static(raw)).is_err());
    let raw = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID \t: 1\r\n\r\n";
    assert_eq!(
        Message::parse(Bytes::from_static(raw)).unwrap().call_id(),
        Some("1")
    );
}
