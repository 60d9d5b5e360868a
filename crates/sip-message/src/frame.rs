//! Stream framing (TCP/TLS): where one message ends in a byte stream (the head's
//! `Content-Length`), RFC 5626 keep-alive pings and pongs, and the fast line search the
//! parser shares.

use crate::message::{MAX_BODY, MAX_HEAD};
use crate::{Error, Result};

/// What [`frame_stream`] found at the front of a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framed {
    /// A double-CRLF keep-alive ping (RFC 5626 §3.5.1) of this many bytes: answer with CRLF.
    Ping(usize),
    /// A single CRLF (a pong, or stray line ending) of this many bytes: skip it.
    Pong(usize),
    /// A whole message of this many bytes.
    Message(usize),
}

/// Position of the first `\n` in `s`, eight bytes per step (SWAR). Line splitting is most of
/// the cost of parsing, and a plain byte loop does not vectorise.
pub(crate) fn find_lf(s: &[u8]) -> Option<usize> {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    const LF: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut chunks = s.chunks_exact(8);
    let mut off = 0;
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ LF;
        // the lowest byte flagged here is the first zero byte of `w` (higher flags may be false)
        let zero = w.wrapping_sub(LO) & !w & HI;
        if zero != 0 {
            return Some(off + (zero.trailing_zeros() / 8) as usize);
        }
        off += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| off + p)
}

/// `(end of the head without the blank line, start of the body)`.
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = find_lf(&buf[i..]) {
        let nl = i + off;
        let after = nl + 1;
        match buf.get(after) {
            Some(b'\n') => return Some((nl, after + 1)),
            Some(b'\r') if buf.get(after + 1) == Some(&b'\n') => return Some((nl, after + 2)),
            _ => {}
        }
        i = after;
    }
    None
}

/// Finds the `Content-Length` value in a raw head (for stream framing), without building the
/// header index. Folded values are joined as [`Message::parse`] joins them, so both agree on
/// where the body ends.
fn content_length_in(head: &[u8]) -> Result<Option<usize>> {
    fn check(found: &mut Option<usize>, value: &[u8]) -> Result<()> {
        let v = parse_content_length(value)?;
        if found.is_some_and(|f| f != v) {
            return Err(Error::header("Content-Length", "conflicting values"));
        }
        *found = Some(v);
        Ok(())
    }
    let mut found = None;
    // the Content-Length value being collected, over continuation lines
    let mut value: Option<Vec<u8>> = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        if let [b' ' | b'\t', ..] = line {
            if let Some(v) = value.as_mut() {
                v.push(b' ');
                v.extend_from_slice(trim_ws(line));
            }
            continue;
        }
        if let Some(v) = value.take() {
            check(&mut found, &v)?;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim_ws(&line[..colon]);
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            value = Some(trim_ws(&line[colon + 1..]).to_vec());
        }
    }
    if let Some(v) = value {
        check(&mut found, &v)?;
    }
    Ok(found)
}

pub(crate) fn parse_content_length(v: &[u8]) -> Result<usize> {
    let v = trim_ws(v);
    if v.is_empty() || v.len() > 9 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Error::header("Content-Length", "not a number"));
    }
    let n = v
        .iter()
        .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0'));
    if n > MAX_BODY {
        return Err(Error::header("Content-Length", "body too large"));
    }
    Ok(n)
}

pub(crate) fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

/// Splits a TCP/TLS byte stream: tells how many bytes the next keep-alive or message takes.
/// `Err(Error::Incomplete)` means read more; any other error means the stream is unusable.
///
/// A CRLF at the very end of `buf` (`\r\n` or `\r\n\r`) is `Incomplete`: it may be the first
/// half of a CRLFCRLF ping split across reads, which must still be answered.
pub fn frame_stream(buf: &[u8]) -> Result<Framed> {
    StreamFramer::default().next(buf)
}

/// [`frame_stream`] made resumable, one per connection: it remembers how far the buffer has
/// been searched for the end of the head and, once the head is whole, the frame's length. A
/// peer that trickles a message a byte at a time then costs linear work, not a rescan of the
/// whole buffer per byte. Call [`Self::next`] with the connection's buffer after every read;
/// after an `Ok`, remove that many bytes from the front of the buffer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamFramer {
    /// Bytes at the front of the buffer known to hold no end of head.
    searched: usize,
    /// The whole frame's length, once its head has been read.
    frame_len: Option<usize>,
}

impl StreamFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// What the front of `buf` holds; `Err(Error::Incomplete)` means read more.
    pub fn next(&mut self, buf: &[u8]) -> Result<Framed> {
        if let Some(total) = self.frame_len {
            if buf.len() < total {
                return Err(Error::Incomplete);
            }
            *self = Self::default();
            return Ok(Framed::Message(total));
        }
        if self.searched == 0 {
            // keep-alives only stand between messages
            match buf {
                [b'\r', b'\n', b'\r', b'\n', ..] => return Ok(Framed::Ping(4)),
                [] | [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => {
                    return Err(Error::Incomplete)
                }
                [b'\r', b'\n', ..] => return Ok(Framed::Pong(2)),
                [b'\n', ..] => return Ok(Framed::Pong(1)),
                _ => {}
            }
        }
        // an end of head may straddle the previous search's last bytes
        let from = self.searched.saturating_sub(3).min(buf.len());
        let Some((head_end, body_start)) =
            find_head_end(&buf[from..]).map(|(h, b)| (h + from, b + from))
        else {
            if buf.len() > MAX_HEAD {
                return Err(Error::TooLong { max: MAX_HEAD });
            }
            self.searched = buf.len();
            return Err(Error::Incomplete);
        };
        if head_end > MAX_HEAD {
            return Err(Error::TooLong { max: MAX_HEAD });
        }
        // RFC 3261 §18.3: on a stream a missing Content-Length means an empty body.
        let len = content_length_in(&buf[..head_end])?.unwrap_or(0);
        let total = body_start + len;
        if buf.len() < total {
            self.frame_len = Some(total);
            return Err(Error::Incomplete);
        }
        *self = Self::default();
        Ok(Framed::Message(total))
    }
}
