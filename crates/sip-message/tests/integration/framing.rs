//! Stream framing (TCP/TLS): `Incomplete` until a whole message or keep-alive has arrived,
//! pipelined messages, RFC 5626 CRLF keep-alives.

use bytes::{Buf, Bytes, BytesMut};
use sip_message::{frame_stream, Error, Framed, Message, Method, StreamFramer};

const REG: &str = "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP 192.0.2.4:50000;branch=z9hG4bKnashds7;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:bob@example.com>\r\n\
From: <sip:bob@example.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:bob@192.0.2.4:50000;transport=tcp>\r\n\
Expires: 7200\r\n\
Content-Length: 0\r\n\r\n";

fn invite_with_body() -> Vec<u8> {
    let mut body = b"v=0\r\n\r\n".to_vec();
    body.extend_from_slice(&[0, 1, 2, b'\n', b'\n']);
    let mut m = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.4;branch=z9hG4bK1\r\n\
         Call-ID: inv1\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
         Content-Type: application/octet-stream\r\nl :  {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    m.extend_from_slice(&body);
    m
}

/// What a connection reader sees: feeds `stream` in chunks of `chunk` bytes and drains every
/// frame as soon as it is whole.
fn read_stream(stream: &[u8], chunk: usize) -> Vec<Result<Framed, Error>> {
    read_stream_with(stream, chunk, frame_stream)
}

/// Like [`read_stream`] through one resumable [`StreamFramer`] kept across reads.
fn read_stream_resumable(stream: &[u8], chunk: usize) -> Vec<Result<Framed, Error>> {
    let mut framer = StreamFramer::new();
    read_stream_with(stream, chunk, move |buf| framer.next(buf))
}

fn read_stream_with(
    stream: &[u8],
    chunk: usize,
    mut frame: impl FnMut(&[u8]) -> Result<Framed, Error>,
) -> Vec<Result<Framed, Error>> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut frames = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match frame(&buf) {
                Ok(f) => {
                    let n = match f {
                        Framed::Ping(n) | Framed::Pong(n) | Framed::Message(n) => n,
                    };
                    assert!(n > 0 && n <= buf.len());
                    if let Framed::Message(_) = f {
                        frames.push(Message::parse(buf.split_to(n).freeze()).unwrap());
                    } else {
                        buf.advance(n);
                    }
                    out.push(Ok(f));
                }
                Err(Error::Incomplete) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    assert!(
        buf.is_empty(),
        "left over: {:?}",
        String::from_utf8_lossy(&buf)
    );
    assert_eq!(
        frames.len(),
        out.iter()
            .filter(|f| matches!(f, Ok(Framed::Message(_))))
            .count()
    );
    out
}

#[test]
fn one_byte_at_a_time_is_incomplete_until_whole() {
    let raw = REG.as_bytes();
    for k in 0..raw.len() {
        assert_eq!(
            frame_stream(&raw[..k]),
            Err(Error::Incomplete),
            "prefix of {k} bytes"
        );
    }
    assert_eq!(frame_stream(raw), Ok(Framed::Message(raw.len())));

    let inv = invite_with_body();
    for k in 0..inv.len() {
        assert_eq!(
            frame_stream(&inv[..k]),
            Err(Error::Incomplete),
            "prefix of {k} bytes"
        );
    }
    assert_eq!(frame_stream(&inv), Ok(Framed::Message(inv.len())));
    let m = Message::parse(Bytes::from(inv.clone())).unwrap();
    assert_eq!(m.body().len(), 12);
}

#[test]
fn pipelined_messages_and_keepalives_in_any_chunking() {
    let mut stream = Vec::new();
    stream.extend_from_slice(b"\r\n\r\n");
    stream.extend_from_slice(REG.as_bytes());
    stream.extend_from_slice(&invite_with_body());
    stream.extend_from_slice(b"\r\n\r\n\r\n\r\n");
    stream.extend_from_slice(REG.as_bytes());
    stream.extend_from_slice(b"\r\n");
    stream.extend_from_slice(REG.as_bytes());
    let expected = vec![
        Ok(Framed::Ping(4)),
        Ok(Framed::Message(REG.len())),
        Ok(Framed::Message(invite_with_body().len())),
        Ok(Framed::Ping(4)),
        Ok(Framed::Ping(4)),
        Ok(Framed::Message(REG.len())),
        Ok(Framed::Pong(2)),
        Ok(Framed::Message(REG.len())),
    ];
    for chunk in [1, 2, 3, 7, 64, 1000, stream.len()] {
        assert_eq!(read_stream(&stream, chunk), expected, "chunk size {chunk}");
    }
}

#[test]
fn two_pipelined_messages_in_one_read() {
    let mut stream = REG.as_bytes().to_vec();
    stream.extend_from_slice(&invite_with_body());
    let Ok(Framed::Message(n)) = frame_stream(&stream) else {
        panic!()
    };
    assert_eq!(n, REG.len());
    let first = Message::parse(Bytes::copy_from_slice(&stream[..n])).unwrap();
    assert_eq!(first.method(), Some(&Method::Register));
    let Ok(Framed::Message(k)) = frame_stream(&stream[n..]) else {
        panic!()
    };
    let second = Message::parse(Bytes::copy_from_slice(&stream[n..n + k])).unwrap();
    assert_eq!(second.method(), Some(&Method::Invite));
    assert_eq!(n + k, stream.len());
}

#[test]
fn keepalive_split_across_reads_is_still_a_ping() {
    assert_eq!(frame_stream(b""), Err(Error::Incomplete));
    assert_eq!(frame_stream(b"\r"), Err(Error::Incomplete));
    assert_eq!(frame_stream(b"\r\n"), Err(Error::Incomplete));
    assert_eq!(frame_stream(b"\r\n\r"), Err(Error::Incomplete));
    assert_eq!(frame_stream(b"\r\n\r\n"), Ok(Framed::Ping(4)));
    // a lone CRLF followed by anything else is a pong
    assert_eq!(frame_stream(b"\r\nR"), Ok(Framed::Pong(2)));
    assert_eq!(frame_stream(b"\r\n\rX"), Ok(Framed::Pong(2)));
}

#[test]
fn bad_streams_are_errors_not_incomplete() {
    for raw in [
        "INVITE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n",
        "INVITE sip:a@b SIP/2.0\r\nContent-Length: five\r\n\r\n",
        "INVITE sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab",
        "INVITE sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n",
    ] {
        let e = frame_stream(raw.as_bytes()).unwrap_err();
        assert_ne!(e, Error::Incomplete, "{raw:?}");
    }
    // a head that never ends is refused once it is too long
    let mut endless = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    while endless.len() <= sip_message::MAX_HEAD {
        endless.extend_from_slice(b"X-Pad: 0123456789012345678901234567890123456789\r\n");
    }
    assert_eq!(
        frame_stream(&endless),
        Err(Error::TooLong {
            max: sip_message::MAX_HEAD
        })
    );
}

#[test]
fn folded_content_length_frames_like_parse() {
    let raw = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length:\r\n 3\r\n\r\nabcNEXT";
    assert_eq!(frame_stream(raw), Ok(Framed::Message(raw.len() - 4)));
    let m = Message::parse(Bytes::from_static(raw)).unwrap();
    assert_eq!(&m.body()[..], b"abc");
}

/// The resumable framer gives exactly what `frame_stream` gives, whatever the read sizes,
/// for pipelined messages with bodies, keep-alives and bad streams alike.
#[test]
fn resumable_framer_agrees_with_frame_stream() {
    let mut stream = b"\r\n\r\n".to_vec();
    stream.extend_from_slice(REG.as_bytes());
    stream.extend_from_slice(&invite_with_body());
    stream.extend_from_slice(b"\r\n");
    stream.extend_from_slice(REG.as_bytes());
    let mut bad = REG.as_bytes().to_vec();
    bad.extend_from_slice(b"INVITE sip:x SIP/2.0\r\nContent-Length: x\r\n\r\n");
    for s in [&stream, &bad] {
        for chunk in [1, 2, 3, 7, 64, s.len()] {
            assert_eq!(
                read_stream_resumable(s, chunk),
                read_stream(s, chunk),
                "chunk {chunk}"
            );
        }
    }
}
