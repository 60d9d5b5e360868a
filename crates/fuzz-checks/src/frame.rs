//! The `frame_stream` target: the TCP/TLS stream framer.

use bytes::Bytes;
use sip_message::{Error, Framed, Message, StreamFramer};

/// `frame_stream` on arbitrary bytes (a TCP stream): a frame's proper prefixes are
/// `Incomplete`, a framed message never lacks body bytes, and chunked reads give the same frames
/// as one read, with `frame_stream` and with the resumable `StreamFramer`.
pub fn frame_stream(data: &[u8]) {
    let whole = read_all(data, data.len().max(1));
    // a chunk size taken from the input itself, so the fuzzer explores them too; small chunks
    // only on small inputs (each read rescans the buffer)
    let first = usize::from(data.first().copied().unwrap_or(1));
    let chunk = if data.len() <= 512 {
        first % 17 + 1
    } else {
        data.len() / (first % 7 + 2) + 1
    };
    assert_eq!(
        read_all(data, chunk),
        whole,
        "chunked read (by {chunk}) differs"
    );
    assert_eq!(
        read_all_resumable(data, chunk),
        whole,
        "the resumable framer (reads of {chunk}) differs from frame_stream"
    );

    if let Ok(f) = sip_message::frame_stream(data) {
        let n = match f {
            Framed::Ping(n) => {
                assert_eq!(n, 4);
                n
            }
            Framed::Pong(n) => {
                assert!(n == 1 || n == 2);
                n
            }
            Framed::Message(n) => n,
        };
        assert!(n > 0 && n <= data.len());
        // (a pong alone is `Incomplete` by design: it may be half of a ping)
        if !matches!(f, Framed::Pong(_)) {
            assert_eq!(
                sip_message::frame_stream(&data[..n]),
                Ok(f),
                "a frame alone frames differently"
            );
        }
        // proper prefixes are incomplete (probe them all on small inputs)
        let probes: Vec<usize> = if n <= 256 {
            (0..n).collect()
        } else {
            vec![0, 1, n / 2, n - 2, n - 1]
        };
        for k in probes {
            assert_eq!(
                sip_message::frame_stream(&data[..k]),
                Err(Error::Incomplete),
                "prefix {k} of a {n}-byte frame"
            );
        }
        if let Framed::Message(n) = f {
            match Message::parse(Bytes::copy_from_slice(&data[..n])) {
                Ok(m) => {
                    assert!(m.body().len() < n);
                    assert_eq!(
                        &data[n - m.body().len()..n],
                        &m.body()[..],
                        "body is not the frame's tail"
                    );
                }
                Err(e) => assert!(
                    !matches!(e, Error::BodyTooShort { .. }),
                    "frame lacks its body: {e}"
                ),
            }
        }
    }
}

/// The frames a reader draining `data` in `chunk`-byte reads sees, ending with the first
/// error or the `Incomplete` left at the end.
fn read_all(data: &[u8], chunk: usize) -> Vec<Result<Framed, Error>> {
    read_all_with(data, chunk, sip_message::frame_stream)
}

/// [`read_all`] through one [`StreamFramer`] kept across reads, as a connection uses it.
fn read_all_resumable(data: &[u8], chunk: usize) -> Vec<Result<Framed, Error>> {
    let mut framer = StreamFramer::new();
    read_all_with(data, chunk, move |buf| framer.next(buf))
}

fn read_all_with(
    data: &[u8],
    chunk: usize,
    mut frame: impl FnMut(&[u8]) -> Result<Framed, Error>,
) -> Vec<Result<Framed, Error>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut end = 0;
    while end < data.len() {
        end = (end + chunk).min(data.len());
        loop {
            match frame(&data[start..end]) {
                Ok(f) => {
                    let (Framed::Ping(n) | Framed::Pong(n) | Framed::Message(n)) = f;
                    start += n;
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
    out.push(Err(Error::Incomplete));
    out
}
