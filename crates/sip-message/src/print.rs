//! Printing: [`MessageBuilder`] for new messages, [`Message::to_bytes`] for parsed ones.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::frame::trim_ws;
use crate::header::HeaderName;
use crate::message::{Message, Method, StartLine};

/// What we put in `Server` and `User-Agent`: the product and its version.
pub const PRODUCT: &str = concat!("ferroswitch/", env!("CARGO_PKG_VERSION"));

/// Writes a request or response straight into one buffer.
///
/// ```
/// use sip_message::{MessageBuilder, Method};
/// let mut b = MessageBuilder::request(&Method::Options, "sip:bob@example.com");
/// b.header("Call-ID", "abc").header("CSeq", "1 OPTIONS");
/// let bytes = b.finish();
/// assert!(bytes.starts_with(b"OPTIONS sip:bob@example.com SIP/2.0\r\n"));
/// ```
///
/// A request that is sent on a client transaction is finished with
/// [`Self::finish_request`] instead: the [`Message`] comes out indexed as it is written, and it
/// keeps the printed bytes, so neither the sender nor the transaction layer parses or prints
/// it again.
#[must_use]
#[derive(Debug)]
pub struct MessageBuilder {
    buf: BytesMut,
    /// Requests only: where each header line went, for [`Self::finish_request`].
    index: Option<Index>,
}

/// The headers written so far, as offsets into the buffer.
#[derive(Debug, Default)]
struct Index {
    start_line_end: usize,
    lines: Vec<Line>,
    /// A header that [`Message::parse`] would read otherwise than it was written (a name that
    /// is no token, a line break in a value, a Content-Length of the caller's own): such a
    /// request is finished by parsing it.
    odd: bool,
    /// Whether [`Message::to_bytes`] prints exactly what was written: full canonical names,
    /// values without surrounding whitespace.
    canonical: bool,
}

#[derive(Debug)]
struct Line {
    known: Option<HeaderName>,
    name: (usize, usize),
    value: (usize, usize),
}

struct W<'a>(&'a mut BytesMut);
impl fmt::Write for W<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

impl MessageBuilder {
    pub fn request(method: &Method, uri: &str) -> Self {
        let mut buf = BytesMut::with_capacity(512);
        buf.put_slice(method.as_str().as_bytes());
        buf.put_u8(b' ');
        buf.put_slice(uri.as_bytes());
        buf.put_slice(b" SIP/2.0\r\n");
        let index = Index {
            start_line_end: buf.len() - 2,
            lines: Vec::with_capacity(16),
            odd: false,
            canonical: true,
        };
        Self {
            buf,
            index: Some(index),
        }
    }

    pub fn response(code: u16, reason: &str) -> Self {
        let mut buf = BytesMut::with_capacity(512);
        buf.put_slice(b"SIP/2.0 ");
        buf.put_slice(decimal(u32::from(code)).as_ref());
        buf.put_u8(b' ');
        buf.put_slice(reason.as_bytes());
        buf.put_slice(b"\r\n");
        Self { buf, index: None }
    }

    /// A response to `req`: copies Via (all), From, To, Call-ID and CSeq (RFC 3261 §8.2.6).
    /// `to_tag` is added to To when it has none. With `source`, the top Via gets
    /// `received` and, if the client asked for it, `rport` (RFC 3581).
    pub fn response_to(
        req: &Message,
        code: u16,
        to_tag: Option<&str>,
        source: Option<SocketAddr>,
    ) -> Self {
        Self::response_to_with_reason(req, code, reason_phrase(code), to_tag, source)
    }

    /// [`Self::response_to`] with a reason phrase of our own (`402 Insufficient Balance`).
    pub fn response_to_with_reason(
        req: &Message,
        code: u16,
        reason: &str,
        to_tag: Option<&str>,
        source: Option<SocketAddr>,
    ) -> Self {
        let mut b = Self::response(code, reason);
        let mut first = true;
        for v in req.header_list(&HeaderName::Via) {
            match (first, source, crate::Via::parse(v)) {
                (true, Some(src), Ok(via)) => {
                    b.put_header("Via", &[&via.print_with_received(src.ip(), src.port())]);
                }
                _ => b.put_header("Via", &[v]),
            }
            first = false;
        }
        if let Some(v) = req.header(&HeaderName::From) {
            b.put_header("From", &[v]);
        }
        if let Some(v) = req.header(&HeaderName::To) {
            match to_tag {
                Some(tag) if req.to_tag().is_none() => {
                    b.put_header("To", &[v, ";tag=", tag]);
                }
                _ => b.put_header("To", &[v]),
            }
        }
        if let Some(v) = req.call_id() {
            b.put_header("Call-ID", &[v]);
        }
        if let Some(v) = req.header(&HeaderName::CSeq) {
            b.put_header("CSeq", &[v]);
        }
        b
    }

    /// `name: parts...CRLF` without the formatting machinery.
    fn put_header(&mut self, name: &str, parts: &[&str]) {
        let n0 = self.buf.len();
        self.buf.put_slice(name.as_bytes());
        self.buf.put_slice(b": ");
        for p in parts {
            self.buf.put_slice(p.as_bytes());
        }
        self.note(n0, name.len());
        self.buf.put_slice(b"\r\n");
    }

    pub fn header(&mut self, name: impl AsRef<str>, value: impl fmt::Display) -> &mut Self {
        let name = name.as_ref();
        let n0 = self.buf.len();
        self.buf.put_slice(name.as_bytes());
        self.buf.put_slice(b": ");
        let _ = write!(W(&mut self.buf), "{value}");
        self.note(n0, name.len());
        self.buf.put_slice(b"\r\n");
        self
    }

    /// `Server: ferroswitch/VERSION` ([`PRODUCT`]), on our responses.
    pub fn server(&mut self) -> &mut Self {
        self.put_header("Server", &[PRODUCT]);
        self
    }

    /// `User-Agent: ferroswitch/VERSION` ([`PRODUCT`]), on the requests we originate.
    pub fn user_agent(&mut self) -> &mut Self {
        self.put_header("User-Agent", &[PRODUCT]);
        self
    }

    /// `Warning: 399 ferroswitch "text"` (RFC 3261 §20.43: code 399, our agent name, the
    /// text): what a refusal says a person may read. A `"` in the text becomes `'`.
    pub fn warning(&mut self, text: impl fmt::Display) -> &mut Self {
        let n0 = self.buf.len();
        self.buf.put_slice(b"Warning: 399 ferroswitch \"");
        let t0 = self.buf.len();
        let _ = write!(W(&mut self.buf), "{text}");
        for b in &mut self.buf[t0..] {
            if *b == b'"' {
                *b = b'\'';
            }
        }
        self.buf.put_u8(b'"');
        self.note(n0, "Warning".len());
        self.buf.put_slice(b"\r\n");
        self
    }

    /// Indexes the header line just written (`name_len` bytes of name at `n0`, then `": "`,
    /// then the value up to the end of the buffer), the way [`Message::parse`] would read it.
    fn note(&mut self, n0: usize, name_len: usize) {
        let Some(index) = &mut self.index else {
            return;
        };
        let name = &self.buf[n0..n0 + name_len];
        let raw_value = &self.buf[n0 + name_len + 2..];
        let known = HeaderName::known(name);
        if name.is_empty()
            || !name.iter().all(|&b| crate::cursor::is_token(b))
            || raw_value.iter().any(|&b| b == b'\r' || b == b'\n')
            || known == Some(HeaderName::ContentLength)
        {
            index.odd = true;
            return;
        }
        let value = trim_ws(raw_value);
        let v0 = if value.is_empty() {
            n0 + name_len + 2
        } else {
            value.as_ptr() as usize - self.buf.as_ptr() as usize
        };
        if value.len() != raw_value.len()
            || known
                .as_ref()
                .is_some_and(|k| k.as_str().as_bytes() != name)
        {
            index.canonical = false;
        }
        index.lines.push(Line {
            known,
            name: (n0, n0 + name_len),
            value: (v0, v0 + value.len()),
        });
    }

    /// Ends the head with `Content-Length: 0`.
    pub fn finish(mut self) -> Bytes {
        self.buf.put_slice(b"Content-Length: 0\r\n\r\n");
        self.buf.freeze()
    }

    /// Ends the head with `Content-Type` and `Content-Length`, then appends the body.
    pub fn finish_with_body(mut self, content_type: &str, body: &[u8]) -> Bytes {
        self.end_head(Some(content_type), body.len());
        self.buf.put_slice(body);
        self.buf.freeze()
    }

    /// Writes the closing `Content-Type` (when there is a body) and `Content-Length` lines and
    /// the blank line.
    fn end_head(&mut self, content_type: Option<&str>, len: usize) {
        if let Some(ct) = content_type {
            self.header("Content-Type", ct);
        }
        let n0 = self.buf.len();
        self.buf.put_slice(b"Content-Length: ");
        let v0 = self.buf.len();
        self.buf
            .put_slice(decimal(u32::try_from(len).unwrap_or(u32::MAX)).as_ref());
        let v1 = self.buf.len();
        self.buf.put_slice(b"\r\n\r\n");
        if let Some(index) = &mut self.index {
            index.lines.push(Line {
                known: Some(HeaderName::ContentLength),
                name: (n0, n0 + "Content-Length".len()),
                value: (v0, v1),
            });
        }
    }

    /// Ends a request made with [`Self::request`] (`Content-Length: 0`) as a [`Message`]: the
    /// same message as `Message::parse(self.finish())`, without parsing, and one that
    /// [`Message::to_bytes`] gives back as written, without printing.
    pub fn finish_request(self) -> crate::Result<Message> {
        self.finish_request_body(None, &[])
    }

    /// [`Self::finish_request`] with a body, as [`Self::finish_with_body`] writes it.
    pub fn finish_request_with_body(
        self,
        content_type: &str,
        body: &[u8],
    ) -> crate::Result<Message> {
        self.finish_request_body(Some(content_type), body)
    }

    fn finish_request_body(
        mut self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> crate::Result<Message> {
        self.end_head(content_type, body.len());
        let body_start = self.buf.len();
        self.buf.put_slice(body);
        let raw = self.buf.freeze();
        let index = match self.index {
            Some(index) if !index.odd && body_start - 3 <= crate::MAX_HEAD => index,
            // a response, or a head that parsing would read otherwise: parse it
            _ => return Message::parse(raw),
        };
        let start = crate::message::parse_start_line(raw.slice(..index.start_line_end))?;
        let headers = index
            .lines
            .into_iter()
            .map(|l| {
                let name = match l.known {
                    Some(k) => k,
                    None => HeaderName::Other(raw.slice(l.name.0..l.name.1)),
                };
                crate::Header::new(name, raw.slice(l.value.0..l.value.1))
            })
            .collect();
        let mut msg = Message::from_parts(start, headers, raw.slice(body_start..));
        if index.canonical {
            msg.printed = Some(raw);
        }
        Ok(msg)
    }
}

impl AsRef<str> for HeaderName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Message {
    /// Prints the message: canonical header names, one line per header as indexed, the body.
    /// A request from [`MessageBuilder::finish_request`] already is in that form: its bytes
    /// are returned as they are.
    pub fn to_bytes(&self) -> Bytes {
        if let Some(printed) = &self.printed {
            return printed.clone();
        }
        let mut buf = BytesMut::with_capacity(512 + self.body().len());
        match self.start_line() {
            StartLine::Request {
                method,
                uri,
                version,
            } => {
                buf.put_slice(method.as_str().as_bytes());
                buf.put_u8(b' ');
                buf.put_slice(uri);
                let _ = write!(W(&mut buf), " SIP/{}.{}\r\n", version.0, version.1);
            }
            StartLine::Response {
                code,
                reason,
                version,
            } => {
                let _ = write!(W(&mut buf), "SIP/{}.{} {code} ", version.0, version.1);
                buf.put_slice(reason);
                buf.put_slice(b"\r\n");
            }
        }
        for h in self.headers() {
            buf.put_slice(h.name.as_str().as_bytes());
            buf.put_slice(b": ");
            buf.put_slice(h.value_bytes());
            buf.put_slice(b"\r\n");
        }
        buf.put_slice(b"\r\n");
        buf.put_slice(self.body());
        buf.freeze()
    }
}

/// The decimal digits of `n`, without allocating.
pub(crate) fn decimal(mut n: u32) -> impl AsRef<[u8]> {
    struct Digits([u8; 10], usize);
    impl AsRef<[u8]> for Digits {
        fn as_ref(&self) -> &[u8] {
            &self.0[self.1..]
        }
    }
    let mut d = Digits([0; 10], 10);
    loop {
        d.1 -= 1;
        d.0[d.1] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return d;
        }
    }
}

/// Appends an IP address as in Via `received` (IPv6 without brackets).
pub(crate) fn push_ip(s: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                s.push_str(std::str::from_utf8(decimal(u32::from(o)).as_ref()).unwrap_or("0"));
            }
        }
        std::net::IpAddr::V6(v6) => {
            let _ = write!(s, "{v6}");
        }
    }
}

/// The RFC 3261 reason phrase for a status code.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match code / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_digits() {
        for n in [0u32, 7, 10, 99, 100, 255, 65_535, 4_294_967_295] {
            assert_eq!(decimal(n).as_ref(), n.to_string().as_bytes());
        }
    }

    #[test]
    fn ip_addresses_print_as_display_does() {
        for ip in [
            "0.0.0.0",
            "192.0.2.255",
            "10.20.30.4",
            "2001:db8::1",
            "::ffff:192.0.2.1",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
    }

    /// A body: its type and bytes.
    type Body = Option<(&'static str, &'static [u8])>;

    /// Requests as the B2BUA, dialogs and the messaging core write them, and a few odd ones.
    fn requests() -> Vec<(MessageBuilder, Body)> {
        let mut out = Vec::new();
        let mut b =
            MessageBuilder::request(&Method::Invite, "sip:bob@192.0.2.9:5070;transport=udp");
        b.header("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport")
            .header("Max-Forwards", 70)
            .header("From", "\"Al\" <sip:al@h>;tag=1")
            .header("To", "<sip:bob@h>")
            .header(HeaderName::CallId.as_str(), "c1@h")
            .header("CSeq", "1 INVITE")
            .header("X-Thing", "  padded  ")
            .header("Subject", "");
        out.push((
            b,
            Some(("application/sdp", &b"v=0\r\no=- 1 1 IN IP4 h\r\n"[..])),
        ));
        let mut b = MessageBuilder::request(&Method::Bye, "sip:bob@h");
        b.header("Via", "SIP/2.0/TCP h;branch=z9hG4bK1")
            .header("Route", "<sip:p;lr>")
            .header("Route", "<sip:q;lr>")
            .header("call-id", "lower")
            .header("i", "compact")
            .header("CSeq", "2 BYE");
        out.push((b, None));
        let mut b = MessageBuilder::request(&Method::Message, "sip:bob@h");
        b.header("Via", "SIP/2.0/UDP h;branch=z9hG4bK2")
            .header("CSeq", "3 MESSAGE");
        out.push((b, Some(("text/plain", &b"hello"[..]))));
        // odd: parsing reads these otherwise than they were written
        let mut b = MessageBuilder::request(&Method::Options, "sip:h");
        b.header("Via", "SIP/2.0/UDP h;branch=z9hG4bK3")
            .header("Subject", "a\r\n b")
            .header("Content-Length", 0);
        out.push((b, None));
        let mut b = MessageBuilder::request(&Method::Options, "sip:h");
        b.header("Bad Name", "x");
        out.push((b, None));
        let b = MessageBuilder::request(&Method::Options, "no-scheme");
        out.push((b, None));
        out
    }

    #[test]
    fn finished_requests_equal_their_parsed_print() {
        for (i, ((b1, body), (b2, _))) in requests().into_iter().zip(requests()).enumerate() {
            let (built, printed) = match body {
                Some((ct, body)) => (
                    b1.finish_request_with_body(ct, body),
                    b2.finish_with_body(ct, body),
                ),
                None => (b1.finish_request(), b2.finish()),
            };
            let parsed = Message::parse(printed.clone());
            match (&built, &parsed) {
                (Ok(built), Ok(parsed)) => {
                    assert_eq!(built, parsed, "request {i}");
                    assert_eq!(built.to_bytes(), parsed.to_bytes(), "request {i}");
                    assert_eq!(built.body(), parsed.body(), "request {i}");
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "request {i}"),
                _ => panic!("request {i}: {built:?} against {parsed:?}"),
            }
        }
    }

    #[test]
    fn canonical_requests_keep_their_bytes() {
        let mut b = MessageBuilder::request(&Method::Bye, "sip:bob@h");
        b.header("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")
            .header("CSeq", "2 BYE");
        let printed = b.finish_request().unwrap().to_bytes();
        let mut b = MessageBuilder::request(&Method::Bye, "sip:bob@h");
        b.header("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")
            .header("CSeq", "2 BYE");
        assert_eq!(printed, b.finish());
        // printed once: the bytes are those of the message, not a copy
        let m = {
            let mut b = MessageBuilder::request(&Method::Bye, "sip:bob@h");
            b.header("CSeq", "2 BYE");
            b.finish_request().unwrap()
        };
        assert_eq!(m.to_bytes().as_ptr(), m.to_bytes().as_ptr());
    }

    #[test]
    fn responses_print_their_status_line() {
        for code in [100u16, 180, 200, 401, 699] {
            let b = MessageBuilder::response(code, reason_phrase(code)).finish();
            let m = Message::parse(b).unwrap();
            assert_eq!(m.status(), Some(code));
            assert_eq!(m.reason(), Some(reason_phrase(code)));
        }
    }
}
