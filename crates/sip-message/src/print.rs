//! Printing: [`MessageBuilder`] for new messages, [`Message::to_bytes`] for parsed ones.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::header::HeaderName;
use crate::message::{Message, Method, StartLine};

/// Writes a request or response straight into one buffer.
///
/// ```
/// use sip_message::{MessageBuilder, Method};
/// let mut b = MessageBuilder::request(&Method::Options, "sip:bob@example.com");
/// b.header("Call-ID", "abc").header("CSeq", "1 OPTIONS");
/// let bytes = b.finish();
/// assert!(bytes.starts_with(b"OPTIONS sip:bob@example.com SIP/2.0\r\n"));
/// ```
#[must_use]
#[derive(Debug)]
pub struct MessageBuilder {
    buf: BytesMut,
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
        Self { buf }
    }

    pub fn response(code: u16, reason: &str) -> Self {
        let mut buf = BytesMut::with_capacity(512);
        buf.put_slice(b"SIP/2.0 ");
        buf.put_slice(decimal(u32::from(code)).as_ref());
        buf.put_u8(b' ');
        buf.put_slice(reason.as_bytes());
        buf.put_slice(b"\r\n");
        Self { buf }
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
        let mut b = Self::response(code, reason_phrase(code));
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
                Some(tag) if !req.to_header().is_ok_and(|t| t.tag().is_some()) => {
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
        self.buf.put_slice(name.as_bytes());
        self.buf.put_slice(b": ");
        for p in parts {
            self.buf.put_slice(p.as_bytes());
        }
        self.buf.put_slice(b"\r\n");
    }

    pub fn header(&mut self, name: impl AsRef<str>, value: impl fmt::Display) -> &mut Self {
        self.buf.put_slice(name.as_ref().as_bytes());
        self.buf.put_slice(b": ");
        let _ = write!(W(&mut self.buf), "{value}");
        self.buf.put_slice(b"\r\n");
        self
    }

    /// Ends the head with `Content-Length: 0`.
    pub fn finish(mut self) -> Bytes {
        self.buf.put_slice(b"Content-Length: 0\r\n\r\n");
        self.buf.freeze()
    }

    /// Ends the head with `Content-Type` and `Content-Length`, then appends the body.
    pub fn finish_with_body(mut self, content_type: &str, body: &[u8]) -> Bytes {
        let _ = write!(
            W(&mut self.buf),
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.buf.put_slice(body);
        self.buf.freeze()
    }
}

impl AsRef<str> for HeaderName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Message {
    /// Prints the message: canonical header names, one line per header as indexed, the body.
    pub fn to_bytes(&self) -> Bytes {
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
