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
        let _ = write!(W(&mut buf), "SIP/2.0 {code} {reason}\r\n");
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
                    b.header("Via", via.print_with_received(src.ip(), src.port()));
                }
                _ => {
                    b.header("Via", v);
                }
            }
            first = false;
        }
        if let Some(v) = req.header(&HeaderName::From) {
            b.header("From", v);
        }
        if let Some(v) = req.header(&HeaderName::To) {
            match to_tag {
                Some(tag) if !req.to_header().is_ok_and(|t| t.tag().is_some()) => {
                    b.header("To", format_args!("{v};tag={tag}"));
                }
                _ => {
                    b.header("To", v);
                }
            }
        }
        if let Some(v) = req.call_id() {
            b.header("Call-ID", v);
        }
        if let Some(v) = req.header(&HeaderName::CSeq) {
            b.header("CSeq", v);
        }
        b
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
