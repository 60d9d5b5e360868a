//! The message: start line, header index, body; datagram parsing (stream framing is in
//! `frame.rs`).

use std::borrow::Cow;

use bytes::Bytes;

use crate::cursor::{is_token, split_commas};
use crate::frame::{find_lf, parse_content_length, trim_ws};
#[cfg(test)]
use crate::frame::{frame_stream, Framed};
use crate::header::HeaderName;
use crate::{CSeq, ContactList, Credentials, Error, NameAddr, Result, Uri, Via};

/// Largest header section accepted (start line + headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// SIP request methods; methods are case-sensitive (RFC 3261 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Publish,
    Message,
    Refer,
    Other(Box<str>),
}

impl Method {
    pub fn from_token(t: &str) -> Self {
        match t {
            "INVITE" => Self::Invite,
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "REGISTER" => Self::Register,
            "OPTIONS" => Self::Options,
            "INFO" => Self::Info,
            "UPDATE" => Self::Update,
            "PRACK" => Self::Prack,
            "SUBSCRIBE" => Self::Subscribe,
            "NOTIFY" => Self::Notify,
            "PUBLISH" => Self::Publish,
            "MESSAGE" => Self::Message,
            "REFER" => Self::Refer,
            other => Self::Other(other.into()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Register => "REGISTER",
            Self::Options => "OPTIONS",
            Self::Info => "INFO",
            Self::Update => "UPDATE",
            Self::Prack => "PRACK",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Publish => "PUBLISH",
            Self::Message => "MESSAGE",
            Self::Refer => "REFER",
            Self::Other(s) => s,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request {
        method: Method,
        /// The Request-URI as written (validated lazily by [`Message::request_uri`]).
        uri: Bytes,
        /// `(major, minor)` of the SIP version; [`crate::Message::sanity_check`] wants 2.0.
        version: (u16, u16),
    },
    Response {
        code: u16,
        reason: Bytes,
        version: (u16, u16),
    },
}

/// One header line: a name and its (unfolded, trimmed) value, sharing the message buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    value: Bytes,
}

impl Header {
    pub fn new(name: HeaderName, value: impl Into<Bytes>) -> Self {
        Self {
            name,
            value: value.into(),
        }
    }

    /// The value as text ("" if it is not UTF-8, which parsing already refused).
    pub fn value(&self) -> &str {
        std::str::from_utf8(&self.value).unwrap_or("")
    }

    pub fn value_bytes(&self) -> &Bytes {
        &self.value
    }
}

/// A parsed SIP request or response.
///
/// Equality compares the start line, the headers and the body, not how the message came to be.
#[derive(Debug, Clone)]
pub struct Message {
    start: StartLine,
    headers: Vec<Header>,
    body: Bytes,
    /// Exactly what [`Message::to_bytes`] prints, when that is known without printing: set by
    /// [`crate::MessageBuilder::finish_request`] for a message it built in canonical form.
    pub(crate) printed: Option<Bytes>,
    /// Tags and branch, parsed once (`facts.rs`).
    pub(crate) facts: crate::facts::Facts,
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.start == other.start && self.headers == other.headers && self.body == other.body
    }
}

impl Eq for Message {}

/// `SIP/major.minor`, each number 1 to 4 digits (RFC 3261 §25.1; "SIP" case-insensitive).
fn parse_version(v: &[u8]) -> Result<(u16, u16)> {
    const BAD: Error = Error::StartLine("bad SIP version");
    fn num(s: &[u8]) -> Result<u16> {
        if s.is_empty() || s.len() > 4 || !s.iter().all(u8::is_ascii_digit) {
            return Err(BAD);
        }
        Ok(s.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0')))
    }
    if v.len() < 4 || !v[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(BAD);
    }
    let rest = &v[4..];
    let dot = rest.iter().position(|&b| b == b'.').ok_or(BAD)?;
    Ok((num(&rest[..dot])?, num(&rest[dot + 1..])?))
}

fn is_scheme_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

impl Message {
    /// Parses one message from a datagram (or a frame cut by [`frame_stream`]). Leading CRLFs
    /// are skipped; bytes beyond `Content-Length` are ignored (RFC 3261 §18.3); without
    /// `Content-Length` the body is the rest of the datagram.
    pub fn parse(buf: Bytes) -> Result<Self> {
        let skip = buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let buf = buf.slice(skip..);
        let raw: &[u8] = &buf;
        const NO_END: Error = Error::StartLine("no end of header section");

        // One pass over the lines of the head; the blank line ends it. A head that ends with
        // the datagram (last line terminated, no blank line) is accepted too.
        let mut lines = LineIter { buf: raw, pos: 0 };
        let Some((s0, s1, terminated)) = lines.next() else {
            return Err(Error::StartLine("empty message"));
        };
        if !terminated {
            return Err(NO_END);
        }
        let start = parse_start_line(buf.slice(s0..s1))?;

        let mut headers: Vec<Header> = Vec::with_capacity(20);
        let mut folded: Option<(HeaderName, String)> = None;
        let mut line_no = 1;
        let mut pending: Option<(HeaderName, usize, usize)> = None;
        // (when no blank line follows: the head ends at the datagram's final LF)
        let mut head_end = raw.len() - 1;
        let mut body_start = raw.len();
        while let Some((a, b, terminated)) = lines.next() {
            line_no += 1;
            if a > MAX_HEAD + 1 {
                return Err(Error::TooLong { max: MAX_HEAD });
            }
            if !terminated {
                return Err(NO_END);
            }
            let line = &raw[a..b];
            if line.is_empty() {
                // the blank line
                head_end = a - 1;
                body_start = lines.pos;
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                // continuation (folding): join with a single SP
                let cont = std::str::from_utf8(trim_ws(line)).map_err(|_| Error::NotUtf8)?;
                match (&mut folded, pending.take()) {
                    (Some((_, s)), None) => {
                        if !cont.is_empty() {
                            if !s.is_empty() {
                                s.push(' ');
                            }
                            s.push_str(cont);
                        }
                    }
                    (None, Some((name, va, vb))) => {
                        let first =
                            std::str::from_utf8(&raw[va..vb]).map_err(|_| Error::NotUtf8)?;
                        let mut s = String::with_capacity(first.len() + 1 + cont.len());
                        s.push_str(first);
                        if !cont.is_empty() {
                            if !s.is_empty() {
                                s.push(' ');
                            }
                            s.push_str(cont);
                        }
                        folded = Some((name, s));
                    }
                    _ => {
                        return Err(Error::HeaderLine {
                            line: line_no,
                            reason: "continuation without a header",
                        })
                    }
                }
                continue;
            }
            flush_header(&mut headers, &buf, &mut pending, &mut folded);
            // field-name HCOLON: a token, optional SP/HTAB, the colon
            let name_len = line
                .iter()
                .position(|&b| !is_token(b))
                .unwrap_or(line.len());
            let colon = name_len
                + line[name_len..]
                    .iter()
                    .position(|&b| b != b' ' && b != b'\t')
                    .unwrap_or(line.len() - name_len);
            if line.get(colon) != Some(&b':') || name_len == 0 {
                let reason = if line.contains(&b':') {
                    "bad header name"
                } else {
                    "no colon"
                };
                return Err(Error::HeaderLine {
                    line: line_no,
                    reason,
                });
            }
            let name = HeaderName::from_shared(&buf, a..a + name_len);
            let v = trim_ws(&line[colon + 1..]);
            let va = if v.is_empty() {
                a + colon + 1
            } else {
                v.as_ptr() as usize - raw.as_ptr() as usize
            };
            pending = Some((name, va, va + v.len()));
        }
        if head_end > MAX_HEAD {
            return Err(Error::TooLong { max: MAX_HEAD });
        }
        // names and values are slices of the head: it must be text (folded values already are)
        if std::str::from_utf8(&raw[..head_end]).is_err() {
            return Err(Error::NotUtf8);
        }
        flush_header(&mut headers, &buf, &mut pending, &mut folded);

        let available = buf.len() - body_start;
        let mut declared = None;
        for h in headers
            .iter()
            .filter(|h| h.name == HeaderName::ContentLength)
        {
            let v = parse_content_length(&h.value)?;
            if declared.is_some_and(|d| d != v) {
                return Err(Error::header("Content-Length", "conflicting values"));
            }
            declared = Some(v);
        }
        let body = match declared {
            Some(d) if d > available => {
                return Err(Error::BodyTooShort {
                    declared: d,
                    available,
                })
            }
            Some(d) => buf.slice(body_start..body_start + d),
            None => buf.slice(body_start..),
        };
        Ok(Self {
            start,
            headers,
            body,
            printed: None,
            facts: Default::default(),
        })
    }

    /// Builds a message from parts (used by tests and by code that rewrites messages).
    pub fn from_parts(start: StartLine, headers: Vec<Header>, body: Bytes) -> Self {
        Self {
            start,
            headers,
            body,
            printed: None,
            facts: Default::default(),
        }
    }

    pub fn start_line(&self) -> &StartLine {
        &self.start
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, `None` for responses.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, `None` for requests.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => std::str::from_utf8(reason).ok(),
            StartLine::Request { .. } => None,
        }
    }

    /// The Request-URI text, `None` for responses.
    pub fn request_uri_str(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => std::str::from_utf8(uri).ok(),
            StartLine::Response { .. } => None,
        }
    }

    /// The typed Request-URI (sip, sips or tel).
    pub fn request_uri(&self) -> Result<Uri<'_>> {
        Uri::parse(
            self.request_uri_str()
                .ok_or(Error::StartLine("not a request"))?,
        )
    }

    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The first value of a header.
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| &h.name == name)
            .map(Header::value)
    }

    /// Every line of a header, in order.
    pub fn header_values<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |h| &h.name == name)
            .map(Header::value)
    }

    /// Every element of a list header across all its lines.
    pub fn header_list<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s str> + 's {
        self.header_values(name).flat_map(split_commas)
    }

    /// Whether a list header (`Supported`, `Require`, ...) contains an option tag.
    pub fn has_option_tag(&self, name: &HeaderName, tag: &str) -> bool {
        self.header_list(name).any(|t| t.eq_ignore_ascii_case(tag))
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header(&HeaderName::CallId)
    }

    pub fn cseq(&self) -> Result<CSeq> {
        CSeq::parse(
            self.header(&HeaderName::CSeq)
                .ok_or(Error::Missing("CSeq"))?,
        )
    }

    pub fn from_header(&self) -> Result<NameAddr<'_>> {
        NameAddr::parse(
            self.header(&HeaderName::From)
                .ok_or(Error::Missing("From"))?,
            "From",
        )
    }

    pub fn to_header(&self) -> Result<NameAddr<'_>> {
        NameAddr::parse(
            self.header(&HeaderName::To).ok_or(Error::Missing("To"))?,
            "To",
        )
    }

    /// Every Via entry, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>>> + '_ {
        self.header_values(&HeaderName::Via)
            .flat_map(Via::parse_list)
    }

    pub fn top_via(&self) -> Result<Via<'_>> {
        self.vias().next().unwrap_or(Err(Error::Missing("Via")))
    }

    /// All Contact headers merged; `None` when there is none. `*` must stand alone.
    pub fn contacts(&self) -> Result<Option<ContactList<'_>>> {
        let mut out: Option<ContactList<'_>> = None;
        for v in self.header_values(&HeaderName::Contact) {
            let list = ContactList::parse(v)?;
            out = Some(match (out, list) {
                (None, l) => l,
                (Some(ContactList::Contacts(mut a)), ContactList::Contacts(b)) => {
                    a.extend(b);
                    ContactList::Contacts(a)
                }
                _ => return Err(Error::header("Contact", "* must be the only contact")),
            });
        }
        Ok(out)
    }

    /// The `Expires` header as delta-seconds.
    pub fn expires(&self) -> Result<Option<u32>> {
        self.header(&HeaderName::Expires)
            .map(|v| parse_u32(v, "Expires"))
            .transpose()
    }

    /// `Max-Forwards` (0–255).
    pub fn max_forwards(&self) -> Result<Option<u8>> {
        self.header(&HeaderName::MaxForwards)
            .map(|v| {
                let n = parse_u32(v, "Max-Forwards")?;
                u8::try_from(n).map_err(|_| Error::header("Max-Forwards", "above 255"))
            })
            .transpose()
    }

    pub fn authorization(&self) -> Option<Result<Credentials<'_>>> {
        self.header(&HeaderName::Authorization)
            .map(Credentials::parse)
    }

    pub fn proxy_authorization(&self) -> Option<Result<Credentials<'_>>> {
        self.header(&HeaderName::ProxyAuthorization)
            .map(Credentials::parse)
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header(&HeaderName::ContentType)
    }

    /// `Event` package name without parameters.
    pub fn event(&self) -> Option<&str> {
        self.header(&HeaderName::Event)
            .map(|v| v.split(';').next().unwrap_or("").trim())
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.header(&HeaderName::UserAgent)
    }

    /// Display form of the From URI user, e.g. for logs.
    pub fn from_user(&self) -> Option<Cow<'_, str>> {
        self.from_header()
            .ok()
            .and_then(|f| f.uri.user.map(Cow::Borrowed))
    }
}

/// Ends the header being read: a plain one as a slice of the buffer, a folded one as the
/// joined text.
fn flush_header(
    headers: &mut Vec<Header>,
    buf: &Bytes,
    pending: &mut Option<(HeaderName, usize, usize)>,
    folded: &mut Option<(HeaderName, String)>,
) {
    if let Some((name, a, b)) = pending.take() {
        headers.push(Header {
            name,
            value: buf.slice(a..b),
        });
    }
    if let Some((name, s)) = folded.take() {
        headers.push(Header {
            name,
            value: Bytes::from(s),
        });
    }
}

pub(crate) fn parse_u32(v: &str, header: &'static str) -> Result<u32> {
    let v = v.trim();
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::header(header, "not a number"));
    }
    v.parse::<u32>()
        .map_err(|_| Error::header(header, "out of range"))
}

/// Lines of a buffer: `(start, end without the CR, whether a LF ended it)`.
struct LineIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Iterator for LineIter<'_> {
    type Item = (usize, usize, bool);
    fn next(&mut self) -> Option<(usize, usize, bool)> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let (end, terminated) = match find_lf(&self.buf[start..]) {
            Some(o) => (start + o, true),
            None => (self.buf.len(), false),
        };
        self.pos = end + 1;
        let e = if end > start && self.buf[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        Some((start, e, terminated))
    }
}

pub(crate) fn parse_start_line(line: Bytes) -> Result<StartLine> {
    let l: &[u8] = &line;
    let space = |s: &[u8]| s.iter().position(|&b| b == b' ');
    if l.len() >= 4 && l[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let Some(sp) = space(l) else {
            return Err(Error::StartLine("status line too short"));
        };
        let version = parse_version(&l[..sp])?;
        let rest = &l[sp + 1..];
        let code = &rest[..space(rest).unwrap_or(rest.len())];
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return Err(Error::StartLine("status code is not 3 digits"));
        }
        let code = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&code) {
            return Err(Error::StartLine("status code out of range"));
        }
        let reason_start = (sp + 1 + 3 + 1).min(l.len());
        Ok(StartLine::Response {
            code,
            reason: line.slice(reason_start..),
            version,
        })
    } else {
        // Request-Line = Method SP Request-URI SP SIP-Version (exactly one SP each)
        const PARTS: Error =
            Error::StartLine("request line needs exactly three single-space separated parts");
        let (Some(sp1), Some(sp2)) = (space(l), l.iter().rposition(|&b| b == b' ')) else {
            return Err(PARTS);
        };
        if sp2 <= sp1 || space(&l[sp1 + 1..sp2]).is_some() {
            return Err(PARTS);
        }
        let (method, uri, version) = (&l[..sp1], &l[sp1 + 1..sp2], &l[sp2 + 1..]);
        if method.is_empty() || !method.iter().all(|&b| is_token(b)) {
            return Err(Error::StartLine("bad method"));
        }
        let method = std::str::from_utf8(method).map_err(|_| Error::NotUtf8)?;
        let Some(colon) = uri.iter().position(|&b| b == b':') else {
            return Err(Error::StartLine("Request-URI has no scheme"));
        };
        if colon == 0
            || !uri[0].is_ascii_alphabetic()
            || !uri[..colon].iter().all(|&b| is_scheme_char(b))
            || uri.len() == colon + 1
            || uri
                .iter()
                .any(|&b| b <= b' ' || b == b'<' || b == b'>' || b == b'"')
        {
            return Err(Error::StartLine("bad Request-URI"));
        }
        let version = parse_version(version)?;
        Ok(StartLine::Request {
            method: Method::from_token(method),
            uri: line.slice(sp1 + 1..sp2),
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &str = "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKnashds7;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: Bob <sip:bob@example.com>;tag=456248\r\n\
i: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
m: <sip:bob@192.0.2.4>\r\n\
Expires: 7200\r\n\
l: 0\r\n\r\n";

    #[test]
    fn parses_register() {
        let m = Message::parse(Bytes::from_static(REG.as_bytes())).unwrap();
        assert_eq!(m.method(), Some(&Method::Register));
        assert_eq!(
            m.request_uri().unwrap().host,
            crate::Host::Domain("example.com")
        );
        assert_eq!(m.call_id(), Some("843817637684230@998sdasdh09"));
        assert_eq!(
            m.cseq().unwrap(),
            CSeq {
                seq: 1826,
                method: Method::Register
            }
        );
        assert_eq!(m.from_header().unwrap().tag(), Some("456248"));
        assert_eq!(m.expires().unwrap(), Some(7200));
        assert_eq!(m.max_forwards().unwrap(), Some(70));
        assert!(matches!(m.contacts().unwrap(), Some(ContactList::Contacts(c)) if c.len() == 1));
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bKnashds7"));
        assert!(m.body().is_empty());
    }

    #[test]
    fn find_lf_matches_a_plain_search() {
        let mut buf = vec![b'a'; 70];
        assert_eq!(find_lf(&buf), None);
        for i in 0..buf.len() {
            buf[i] = b'\n';
            for start in 0..=i {
                assert_eq!(
                    find_lf(&buf[start..]),
                    Some(i - start),
                    "lf at {i}, from {start}"
                );
            }
            buf[i] = [0x0b, 0x8a, 0xff, 0x00][i % 4];
        }
        // bytes next to 0x0a and a later LF must not cause false hits
        let tricky = [0x0b, 0x09, 0x8a, 0x0a, 0x0b, 0x0a];
        assert_eq!(find_lf(&tricky), Some(3));
        assert_eq!(find_lf(&[0x0b; 9]), None);
    }

    #[test]
    fn head_cut_short_is_refused() {
        for raw in [
            "OPTIONS sip:a@b SIP/2.0",
            "OPTIONS sip:a@b SIP/2.0\r",
            "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1",
            "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\n\r",
            "\r\n\r\n",
            "",
        ] {
            assert!(
                Message::parse(Bytes::from_static(raw.as_bytes())).is_err(),
                "{raw:?}"
            );
        }
        // a head ended by the datagram itself is whole
        let m = Message::parse(Bytes::from_static(
            b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\n",
        ))
        .unwrap();
        assert_eq!(m.call_id(), Some("1"));
        assert!(m.body().is_empty());
    }

    #[test]
    fn folding_is_joined() {
        let raw = "OPTIONS sip:x@y SIP/2.0\r\nSubject: a\r\n  b\r\n\tc\r\nCall-ID: 1\r\n\r\n";
        let m = Message::parse(Bytes::from_static(raw.as_bytes())).unwrap();
        assert_eq!(m.header(&HeaderName::Subject), Some("a b c"));
        assert_eq!(m.call_id(), Some("1"));
    }

    #[test]
    fn stream_framing() {
        let raw = REG.replace("l: 0", "l: 4");
        let mut buf = raw.as_bytes().to_vec();
        assert_eq!(frame_stream(&buf), Err(Error::Incomplete));
        buf.extend_from_slice(b"body");
        assert_eq!(frame_stream(&buf), Ok(Framed::Message(buf.len())));
        buf.extend_from_slice(b"REGISTER");
        assert_eq!(frame_stream(&buf), Ok(Framed::Message(buf.len() - 8)));
        assert_eq!(frame_stream(b"\r\n\r\nREG"), Ok(Framed::Ping(4)));
        assert_eq!(frame_stream(b"\r\nREG"), Ok(Framed::Pong(2)));
        assert_eq!(
            frame_stream(b"REGISTER sip:x SIP/2.0\r\n"),
            Err(Error::Incomplete)
        );
    }

    #[test]
    fn body_bytes_kept_binary() {
        let mut raw = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 4\r\n\r\n".to_vec();
        raw.extend_from_slice(&[0, 0xff, 0x0d, 0x0a]);
        raw.extend_from_slice(b"trailing");
        let m = Message::parse(Bytes::from(raw)).unwrap();
        assert_eq!(&m.body()[..], &[0, 0xff, 0x0d, 0x0a]);
    }

    #[test]
    fn content_length_checks() {
        let short = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nabc";
        assert!(matches!(
            Message::parse(Bytes::from_static(short.as_bytes())),
            Err(Error::BodyTooShort { .. })
        ));
        let neg = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n";
        assert!(Message::parse(Bytes::from_static(neg.as_bytes())).is_err());
    }
}
